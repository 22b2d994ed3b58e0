//! Arbitrary bytes as a cluster stream message (what a node reads from the
//! `kite_messages` JetStream stream), then each MQTT message in it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kite_server::check_stream_message(data));
