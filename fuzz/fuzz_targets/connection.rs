//! cargo-fuzz target: two connections on one broker driven by arbitrary bytes after a valid
//! handshake. The body and the input format are in `fuzz/harness/connection.rs`, shared with
//! the corpus replay test `crates/broker/tests/fuzz_corpus.rs`.
#![no_main]

#[path = "../harness/connection.rs"]
#[allow(dead_code)]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
