//! Arbitrary bytes into the frame decoder, as a connection would feed it: frames are cut off
//! the buffer until it runs dry or a fault is reported. It must never panic, loop or allocate
//! more than the input allows, and a decoded frame must encode to bytes that decode and encode
//! to the same bytes again (compared as bytes: a NaN float is not equal to itself).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use warren_wire::{decode_frame, FRAME_MIN_SIZE};

fuzz_target!(|data: &[u8]| {
    let mut input = BytesMut::from(data);
    while let Ok(Some(frame)) = decode_frame(&mut input, FRAME_MIN_SIZE * 32) {
        let mut encoded = BytesMut::new();
        frame.encode(&mut encoded);
        let mut copy = encoded.clone();
        let again = decode_frame(&mut copy, u32::MAX)
            .expect("a re-encoded frame decodes")
            .expect("a re-encoded frame is whole");
        let mut encoded_again = BytesMut::new();
        again.encode(&mut encoded_again);
        assert_eq!(encoded, encoded_again);
    }
});
