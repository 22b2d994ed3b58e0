//! Arbitrary text as an ACL file (`--acl-file`), then its rules for a few clients.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kite_server_fuzz::acl_file(data));
