//! Property tests: decoding never panics whatever the bytes, and values round-trip.
#![allow(clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use warren_wire::*;

fn decode_all(bytes: &[u8], frame_max: u32) {
    let mut buf = BytesMut::from(bytes);
    loop {
        let before = buf.len();
        match decode_frame(&mut buf, frame_max) {
            Ok(Some(_)) => assert!(buf.len() < before),
            Ok(None) => {
                assert_eq!(buf.len(), before);
                break;
            }
            Err(_) => break,
        }
    }
}

/// A stream of valid frames for the mutation test.
fn valid_stream() -> Vec<u8> {
    let mut headers = FieldTable::new();
    headers.insert(
        "a",
        FieldValue::Array(vec![FieldValue::I32(1), FieldValue::Void]),
    );
    headers.insert("t", FieldValue::Table(FieldTable::new()));
    let mut out = BytesMut::new();
    let method = Method::from(BasicDeliver {
        consumer_tag: "ctag".into(),
        delivery_tag: 7,
        redelivered: true,
        exchange: "ex".into(),
        routing_key: "rk".into(),
    });
    let header = ContentHeader {
        class_id: 60,
        body_size: 3,
        properties: BasicProperties {
            headers: Some(headers.clone()),
            content_type: Some("t".into()),
            ..Default::default()
        },
        received: None,
    };
    encode_method_with_content(
        1,
        &method,
        &header,
        &Bytes::from_static(b"abc"),
        4096,
        &mut out,
    );
    encode_method_frame(
        1,
        &QueueDeclare {
            queue: "q".into(),
            arguments: headers,
            ..Default::default()
        }
        .into(),
        &mut out,
    );
    out.to_vec()
}

fn short_str() -> impl Strategy<Value = ShortStr> {
    vec(any::<u8>(), 0..12).prop_map(|v| ShortStr::try_from_bytes(Bytes::from(v)).unwrap())
}

fn field_value() -> impl Strategy<Value = FieldValue> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(FieldValue::Bool),
        any::<i8>().prop_map(FieldValue::I8),
        any::<u8>().prop_map(FieldValue::U8),
        any::<i16>().prop_map(FieldValue::I16),
        any::<u16>().prop_map(FieldValue::U16),
        any::<i32>().prop_map(FieldValue::I32),
        any::<u32>().prop_map(FieldValue::U32),
        any::<i64>().prop_map(FieldValue::I64),
        any::<i16>().prop_map(|v| FieldValue::F32(f32::from(v) / 4.0)),
        any::<i32>().prop_map(|v| FieldValue::F64(f64::from(v) / 8.0)),
        (any::<u8>(), any::<u32>()).prop_map(|(scale, value)| FieldValue::Decimal { scale, value }),
        vec(any::<u8>(), 0..20).prop_map(|v| FieldValue::LongStr(Bytes::from(v))),
        any::<u64>().prop_map(FieldValue::Timestamp),
        Just(FieldValue::Void),
        vec(any::<u8>(), 0..20).prop_map(|v| FieldValue::Bytes(Bytes::from(v))),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(FieldValue::Array),
            vec((short_str(), inner), 0..6).prop_map(|e| FieldValue::Table(FieldTable(e))),
        ]
    })
}

fn field_table() -> impl Strategy<Value = FieldTable> {
    vec((short_str(), field_value()), 0..8).prop_map(FieldTable)
}

fn properties() -> impl Strategy<Value = BasicProperties> {
    let strs = vec(proptest::option::of(short_str()), 11);
    (
        strs,
        proptest::option::of(field_table()),
        any::<[Option<u8>; 2]>(),
        any::<Option<u64>>(),
    )
        .prop_map(|(s, headers, [delivery_mode, priority], timestamp)| {
            let mut s = s.into_iter();
            let mut next = || s.next().flatten();
            BasicProperties {
                content_type: next(),
                content_encoding: next(),
                headers,
                delivery_mode,
                priority,
                correlation_id: next(),
                reply_to: next(),
                expiration: next(),
                message_id: next(),
                timestamp,
                kind: next(),
                user_id: next(),
                app_id: next(),
                cluster_id: next(),
            }
        })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in vec(any::<u8>(), 0..300),
        frame_max in prop_oneof![Just(0u32), Just(4096), any::<u32>()],
    ) {
        decode_all(&bytes, frame_max);
        let bytes = Bytes::from(bytes);
        let _ = Method::decode(&bytes);
        let _ = ContentHeader::decode(&bytes);
        let _ = FieldTable::decode(&bytes);
    }

    #[test]
    fn mutated_frames_never_panic(edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut stream = valid_stream();
        for (at, byte) in edits {
            let i = at.index(stream.len());
            stream[i] = byte;
        }
        decode_all(&stream, 4096);
    }

    #[test]
    fn method_arguments_with_random_tails_never_panic(
        class_id in prop::sample::select(vec![10u16, 20, 40, 50, 60, 85, 90]),
        method_id in 0u16..130,
        args in vec(any::<u8>(), 0..64),
    ) {
        let mut payload = class_id.to_be_bytes().to_vec();
        payload.extend_from_slice(&method_id.to_be_bytes());
        payload.extend_from_slice(&args);
        let _ = Method::decode(&Bytes::from(payload));
    }

    #[test]
    fn field_tables_round_trip(table in field_table()) {
        let mut out = BytesMut::new();
        table.encode(&mut out);
        prop_assert_eq!(FieldTable::decode(&out.freeze()).unwrap(), table);
    }

    #[test]
    fn content_headers_round_trip(properties in properties(), body_size in any::<u64>()) {
        let header = ContentHeader { class_id: 60, body_size, properties, received: None };
        let frame = Frame::Header { channel: 9, header };
        let mut out = BytesMut::new();
        frame.encode(&mut out);
        prop_assert_eq!(decode_frame(&mut out, 0).unwrap(), Some(frame));
    }

    #[test]
    fn bodies_split_and_reassemble(len in 0usize..20_000, frame_max in 4096u32..9000) {
        let body = Bytes::from((0..len).map(|i| i as u8).collect::<Vec<u8>>());
        let header = ContentHeader {
            class_id: 60,
            body_size: len as u64,
            properties: BasicProperties::default(),
            received: None,
        };
        let mut out = BytesMut::new();
        encode_content(1, &header, &body, frame_max, &mut out);
        let mut joined = Vec::new();
        let mut frames = 0;
        while let Some(frame) = decode_frame(&mut out, frame_max).unwrap() {
            frames += 1;
            if let Frame::Body { payload, .. } = frame {
                joined.extend_from_slice(&payload);
            }
        }
        prop_assert_eq!(joined, body.to_vec());
        let per_frame = frame_max as usize - FRAME_OVERHEAD;
        prop_assert_eq!(frames, 1 + len.div_ceil(per_frame));
    }
}
