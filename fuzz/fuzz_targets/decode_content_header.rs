//! cargo-fuzz target: the body is `decode_content_header` in `fuzz/harness/wire.rs`, shared with
//! the corpus replay test `crates/wire/tests/fuzz_corpus.rs`.
#![no_main]

#[path = "../harness/wire.rs"]
#[allow(dead_code)]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::decode_content_header(data));
