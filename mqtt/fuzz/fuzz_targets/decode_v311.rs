//! Arbitrary bytes as a stream received on a V311 connection.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mqtt::Protocol;

fuzz_target!(|data: &[u8]| kite_mqtt_fuzz::decode_stream(data, Protocol::V311));
