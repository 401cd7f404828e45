//! The `connection` fuzz target on stable Rust: its committed corpus (`fuzz/corpus/connection`)
//! and its seed sessions replayed through the target's own body, `fuzz/harness/connection.rs`,
//! so that CI fails when a change makes the broker panic on an input the fuzzer once explored.
//! The fuzzing itself needs cargo-fuzz (docs/reliability.md).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Instant;

#[path = "../../../fuzz/harness/connection.rs"]
mod harness;
#[path = "fuzz_corpus/seeds.rs"]
mod seeds;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of a committed corpus, sorted.
fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join("corpus").join(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the committed corpus {} is missing: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn connection_corpus_replays() {
    let files = corpus("connection");
    assert!(files.len() >= 20, "the corpus has {} files", files.len());
    let started = Instant::now();
    for file in &files {
        let input = std::fs::read(file).unwrap();
        eprintln!("{}", file.display());
        harness::run(&input);
    }
    eprintln!("{} inputs in {:?}", files.len(), started.elapsed());
}

#[test]
fn seed_sessions_replay() {
    for (name, script) in seeds::scenarios() {
        eprintln!("{name}");
        harness::run(&script.input);
    }
}

/// Writes the seed inputs of every fuzz target into `fuzz/corpus/<target>/`, named
/// `seed-<session>-<n>`; `cargo fuzz cmin` then keeps what adds coverage. Run with
/// `cargo test -p warren-broker --test fuzz_corpus -- --ignored write_seed_corpus`.
#[test]
#[ignore = "writes files; run by hand to reseed the fuzz corpora"]
fn write_seed_corpus() {
    use bytes::BytesMut;
    use warren_wire::{encode_method_frame, FRAME_OVERHEAD};

    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = fuzz_dir().join("corpus").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
    };
    // Payloads are what lies between the 7-octet frame header and the frame-end octet.
    let payload = |frame: &BytesMut| frame[7..frame.len() - 1].to_vec();
    let mut methods = Vec::new();
    let mut headers = Vec::new();
    let mut tables = Vec::new();
    for (name, script) in seeds::scenarios() {
        write("connection", name, &script.input);
        write("decode_frame", name, &script.frames.concat());
        for frame in &script.frames {
            match frame[0] {
                1 => methods.push(payload(frame)),
                2 => headers.push(payload(frame)),
                _ => {}
            }
        }
        for table in &script.tables {
            let mut bytes = BytesMut::new();
            table.encode(&mut bytes);
            tables.push(bytes.to_vec());
        }
    }
    for method in seeds::server_methods() {
        let mut frame = BytesMut::new();
        encode_method_frame(0, &method, &mut frame);
        assert!(frame.len() > FRAME_OVERHEAD);
        methods.push(payload(&frame));
    }
    for (target, mut inputs) in [
        ("decode_method", methods),
        ("decode_content_header", headers),
        ("decode_field_table", tables),
    ] {
        inputs.sort();
        inputs.dedup();
        for (i, input) in inputs.iter().enumerate() {
            write(target, &i.to_string(), input);
        }
    }
}
