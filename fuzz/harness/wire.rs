//! The bodies of the codec fuzz targets, one function per target. The cargo-fuzz targets in
//! `fuzz/fuzz_targets/` and the corpus replay test `crates/wire/tests/fuzz_corpus.rs` both
//! include this file with `#[path]`, so that the committed corpus runs through the very same
//! checks on stable Rust in CI. Each function takes arbitrary bytes and panics only on a bug:
//! a decoder must never panic, loop or allocate beyond what the input allows, and whatever it
//! accepts must re-encode to bytes that decode and re-encode to the same bytes (compared as
//! bytes: a NaN float in a table is not equal to itself).

use bytes::{Bytes, BytesMut};
use warren_wire::{decode_frame, ContentHeader, FieldTable, Method, FRAME_MIN_SIZE};

/// `decode_frame`: frames are cut off the buffer until it runs dry or a fault is reported, as
/// a connection cuts them off its read buffer, with the broker's default `frame_max`.
pub fn decode_frames(data: &[u8]) {
    let mut input = BytesMut::from(data);
    loop {
        let before = input.len();
        match decode_frame(&mut input, FRAME_MIN_SIZE * 32) {
            Ok(Some(frame)) => {
                assert!(input.len() < before, "a decoded frame consumes its bytes");
                let mut encoded = BytesMut::new();
                frame.encode(&mut encoded);
                let mut copy = encoded.clone();
                let again = decode_frame(&mut copy, 0)
                    .expect("a re-encoded frame decodes")
                    .expect("a re-encoded frame is whole");
                assert!(copy.is_empty(), "a re-encoded frame is one frame");
                let mut encoded_again = BytesMut::new();
                again.encode(&mut encoded_again);
                assert_eq!(encoded, encoded_again);
            }
            Ok(None) => {
                assert_eq!(input.len(), before, "a partial frame is left in the buffer");
                return;
            }
            Err(error) => {
                // The server turns the fault into connection.close: its text must be sayable.
                let _ = error.to_string();
                return;
            }
        }
    }
}

/// `Method::decode` on a method frame payload (class id, method id, arguments).
pub fn decode_method(data: &[u8]) {
    let payload = Bytes::copy_from_slice(data);
    let method = match Method::decode(&payload) {
        Ok(method) => method,
        Err(error) => {
            let _ = error.to_string();
            return;
        }
    };
    let _ = (method.name(), method.has_content());
    let mut encoded = BytesMut::new();
    method.encode(&mut encoded);
    let again = Method::decode(&encoded.clone().freeze()).expect("a re-encoded method decodes");
    assert_eq!(again.name(), method.name());
    let mut encoded_again = BytesMut::new();
    again.encode(&mut encoded_again);
    assert_eq!(encoded, encoded_again);
}

/// `FieldTable::decode` on a table with its `long` byte count.
pub fn decode_field_table(data: &[u8]) {
    let bytes = Bytes::copy_from_slice(data);
    let table = match FieldTable::decode(&bytes) {
        Ok(table) => table,
        Err(error) => {
            let _ = error.to_string();
            return;
        }
    };
    // What the broker does with tables it keeps (queue arguments, bindings).
    let _ = table.detached();
    let mut encoded = BytesMut::new();
    table.encode(&mut encoded);
    let again = FieldTable::decode(&encoded.clone().freeze()).expect("a re-encoded table decodes");
    assert_eq!(again.len(), table.len());
    let mut encoded_again = BytesMut::new();
    again.encode(&mut encoded_again);
    assert_eq!(encoded, encoded_again);
}

/// `ContentHeader::decode` on a header frame payload. A decoded header is re-sent verbatim, so
/// the check re-encodes its properties from scratch (`received: None`).
pub fn decode_content_header(data: &[u8]) {
    let payload = Bytes::copy_from_slice(data);
    let header = match ContentHeader::decode(&payload) {
        Ok(header) => header,
        Err(error) => {
            let _ = error.to_string();
            return;
        }
    };
    let mut verbatim = BytesMut::new();
    header.encode(&mut verbatim);
    assert_eq!(verbatim, payload, "a received header is re-sent verbatim");
    let fresh = ContentHeader::new(header.class_id, header.body_size, header.properties);
    let mut encoded = BytesMut::new();
    fresh.encode(&mut encoded);
    let mut again =
        ContentHeader::decode(&encoded.clone().freeze()).expect("a re-encoded header decodes");
    again.received = None;
    let mut encoded_again = BytesMut::new();
    again.encode(&mut encoded_again);
    assert_eq!(encoded, encoded_again);
}
