//! Topic names and filters: validation, matching and `$share` parsing.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kite_mqtt_fuzz::topic(data));
