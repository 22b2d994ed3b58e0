//! Arbitrary bytes as an alarm rule published to `$kite/alarms/rules/<id>`
//! (and as an `--alarm-rules` file); after a 0xFF byte, a device id whose
//! readings the rule then judges.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kite_server_fuzz::alarm_rule(data));
