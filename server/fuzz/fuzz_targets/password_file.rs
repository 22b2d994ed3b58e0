//! Arbitrary text as a password file (`--password-file`), and `kite-server passwd` editing it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kite_server_fuzz::password_file(data));
