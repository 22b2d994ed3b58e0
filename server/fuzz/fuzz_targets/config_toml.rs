//! Arbitrary text as the configuration file (`--config FILE`, TOML).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kite_server_fuzz::config_toml(data));
