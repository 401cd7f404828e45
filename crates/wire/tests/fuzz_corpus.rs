//! The codec fuzz targets on stable Rust: each committed corpus (`fuzz/corpus/<target>`)
//! replayed through the target's own body, `fuzz/harness/wire.rs`, so that CI fails when a
//! change makes a decoder panic or break its round trip on an input the fuzzer once explored.
//! The fuzzing itself needs cargo-fuzz (docs/reliability.md).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

#[path = "../../../fuzz/harness/wire.rs"]
mod harness;

/// Runs `body` on every file of the target's committed corpus.
fn replay(target: &str, body: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the committed corpus {} is missing: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 20, "{target}: only {} inputs", files.len());
    for file in &files {
        eprintln!("{}", file.display());
        body(&std::fs::read(file).unwrap());
    }
}

#[test]
fn decode_frame_corpus_replays() {
    replay("decode_frame", harness::decode_frames);
}

#[test]
fn decode_method_corpus_replays() {
    replay("decode_method", harness::decode_method);
}

#[test]
fn decode_field_table_corpus_replays() {
    replay("decode_field_table", harness::decode_field_table);
}

#[test]
fn decode_content_header_corpus_replays() {
    replay("decode_content_header", harness::decode_content_header);
}
