//! Framing: partial input, body splitting, and the faults RabbitMQ 3.10.8 closes the
//! connection for (texts as it sent them to a raw-socket client).
#![allow(clippy::unwrap_used)]

use bytes::{BufMut, Bytes, BytesMut};
use warren_wire::reply_code::*;
use warren_wire::*;

fn frame(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out.push(0xCE);
    out
}

fn method_payload(class_id: u16, method_id: u16, args: &[u8]) -> Vec<u8> {
    let mut out = class_id.to_be_bytes().to_vec();
    out.extend_from_slice(&method_id.to_be_bytes());
    out.extend_from_slice(args);
    out
}

fn decode_err(bytes: &[u8], frame_max: u32) -> FrameDecodeError {
    decode_frame(&mut BytesMut::from(bytes), frame_max).unwrap_err()
}

fn basic_ack(tag: u64) -> Vec<u8> {
    let mut args = tag.to_be_bytes().to_vec();
    args.push(0);
    method_payload(60, 80, &args)
}

fn sample_stream() -> Vec<u8> {
    let mut out = BytesMut::new();
    let header = ContentHeader {
        class_id: 60,
        body_size: 3,
        properties: BasicProperties {
            message_id: Some("m".into()),
            ..Default::default()
        },
        received: None,
    };
    let publish = Method::from(BasicPublish {
        exchange: "x".into(),
        routing_key: "k".into(),
        mandatory: true,
        ..Default::default()
    });
    encode_method_with_content(
        3,
        &publish,
        &header,
        &Bytes::from_static(b"abc"),
        4096,
        &mut out,
    );
    Frame::Heartbeat { channel: 0 }.encode(&mut out);
    out.to_vec()
}

#[test]
fn every_prefix_is_incomplete_and_consumes_nothing() {
    let stream = sample_stream();
    let mut start = 0;
    let mut frames = Vec::new();
    while start < stream.len() {
        let rest = &stream[start..];
        let mut cut = 0;
        loop {
            let mut buf = BytesMut::from(&rest[..cut]);
            match decode_frame(&mut buf, 4096).unwrap() {
                None => {
                    assert_eq!(&buf[..], &rest[..cut]);
                    cut += 1;
                }
                Some(frame) => {
                    assert!(buf.is_empty());
                    frames.push(frame);
                    break;
                }
            }
        }
        start += cut;
    }
    assert_eq!(frames.len(), 4);
    assert!(matches!(frames[0], Frame::Method { channel: 3, .. }));
    assert!(matches!(frames[1], Frame::Header { channel: 3, .. }));
    assert_eq!(
        frames[2],
        Frame::Body {
            channel: 3,
            payload: Bytes::from_static(b"abc")
        }
    );
    assert_eq!(frames[3], Frame::Heartbeat { channel: 0 });
}

#[test]
fn frames_are_cut_one_at_a_time_from_a_stream() {
    let stream = sample_stream();
    let mut buf = BytesMut::from(&stream[..]);
    buf.put_slice(&stream[..5]);
    let mut count = 0;
    while decode_frame(&mut buf, 4096).unwrap().is_some() {
        count += 1;
    }
    assert_eq!(count, 4);
    assert_eq!(&buf[..], &stream[..5]);
}

#[test]
fn body_is_a_view_of_the_received_buffer() {
    let bytes = frame(3, 1, b"payload");
    let mut buf = BytesMut::from(&bytes[..]);
    let base = buf.as_ptr() as usize;
    let Some(Frame::Body { payload, .. }) = decode_frame(&mut buf, 0).unwrap() else {
        panic!("no body");
    };
    assert_eq!(payload.as_ptr() as usize, base + 7);
}

#[test]
fn bad_frame_end() {
    let mut bytes = frame(1, 1, &basic_ack(1));
    *bytes.last_mut().unwrap() = 0;
    let err = decode_err(&bytes, 131072);
    assert_eq!(err.reply_code, FRAME_ERROR);
    assert_eq!(
        err.text,
        "type 1, all octets = <<0,60,0,80,0,0,0,0,0,0,0,1,0>>: {invalid_frame_end_marker,\n\
         \x20                                                      0}"
    );
    assert_eq!(
        (err.channel, err.class_id, err.method_id, err.abrupt),
        (1, 0, 0, false)
    );
}

#[test]
fn unknown_frame_type() {
    let err = decode_err(&frame(9, 1, b"abc"), 131072);
    assert_eq!(err.reply_code, FRAME_ERROR);
    assert_eq!(err.text, "type 9, all octets = <<\"abc\">>: unknown_frame");
}

#[test]
fn oversized_frame_fails_on_its_header_alone() {
    let mut header = vec![3, 0, 1];
    header.extend_from_slice(&131073u32.to_be_bytes());
    let err = decode_err(&header, 131072);
    assert_eq!(err.reply_code, FRAME_ERROR);
    assert_eq!(
        err.text,
        "type 3, all octets = <<>>: {frame_too_large,131073,131064}"
    );
    assert_eq!(err.channel, 1);
}

#[test]
fn payload_of_exactly_frame_max_is_accepted_like_rabbitmq() {
    let bytes = frame(3, 1, &[7; 4096]);
    let mut buf = BytesMut::from(&bytes[..]);
    assert!(decode_frame(&mut buf, 4096).unwrap().is_some());
}

#[test]
fn frame_max_zero_means_no_limit() {
    let bytes = frame(3, 1, &[7; 100_000]);
    assert!(decode_frame(&mut BytesMut::from(&bytes[..]), 0)
        .unwrap()
        .is_some());
}

#[test]
fn method_payload_shorter_than_its_ids() {
    let err = decode_err(&frame(1, 1, &[0, 60, 0]), 0);
    assert_eq!(err.reply_code, FRAME_ERROR);
    assert_eq!(err.text, "type 1, all octets = <<0,60,0>>: unknown_frame");
}

#[test]
fn header_payload_shorter_than_its_fixed_fields() {
    let err = decode_err(&frame(2, 1, &[0, 60, 0]), 0);
    assert_eq!(err.text, "type 2, all octets = <<0,60,0>>: unknown_frame");
}

#[test]
fn heartbeat_with_payload() {
    let err = decode_err(&frame(8, 0, b"x"), 0);
    assert_eq!(err.text, "type 8, all octets = <<\"x\">>: unknown_frame");
}

#[test]
fn heartbeat_on_a_channel_is_left_to_the_caller() {
    let mut buf = BytesMut::from(&frame(8, 1, b"")[..]);
    assert_eq!(
        decode_frame(&mut buf, 0).unwrap(),
        Some(Frame::Heartbeat { channel: 1 })
    );
}

#[test]
fn truncated_method_arguments() {
    let err = decode_err(&frame(1, 1, &method_payload(60, 80, &[0, 0, 0])), 0);
    assert_eq!(err.reply_code, FRAME_ERROR);
    assert_eq!(err.text, "cannot decode <<0,0,0>>");
    assert_eq!((err.channel, err.class_id, err.method_id), (1, 60, 80));
    assert_eq!(
        err.to_string(),
        "FRAME_ERROR - cannot decode <<0,0,0>>",
        "as RabbitMQ's reply text"
    );
}

#[test]
fn trailing_method_arguments() {
    let mut payload = basic_ack(1);
    payload.push(0);
    let err = decode_err(&frame(1, 1, &payload), 0);
    assert_eq!(err.text, "cannot decode <<0,0,0,0,0,0,0,1,0,0>>");
}

#[test]
fn long_cannot_decode_text_is_cut_like_rabbitmq() {
    let mut payload = basic_ack(1);
    payload.extend_from_slice(&[0; 200]);
    let err = decode_err(&frame(1, 1, &payload), 0);
    let text = reply_code::reply_text(err.reply_code, &err.text);
    assert_eq!(text.len(), 255);
    assert!(text.starts_with(b"FRAME_ERROR - cannot decode <<0,0,0,0,0,0,0,1,0,0,"));
    assert!(text.as_bytes().ends_with(b"0,0,..."));
}

#[test]
fn unknown_class_and_method_drop_the_connection() {
    for (class_id, method_id) in [(99, 10), (60, 99), (10, 99)] {
        let err = decode_err(&frame(1, 0, &method_payload(class_id, method_id, &[])), 0);
        assert_eq!(err.reply_code, NOT_IMPLEMENTED);
        assert_eq!((err.class_id, err.method_id), (class_id, method_id));
        assert!(err.abrupt);
    }
}

fn queue_declare(arguments: &[u8]) -> Vec<u8> {
    let mut args = vec![0, 0, 2, b'w', b'q', 0];
    args.extend_from_slice(&(arguments.len() as u32).to_be_bytes());
    args.extend_from_slice(arguments);
    method_payload(50, 10, &args)
}

#[test]
fn unknown_field_type_drops_the_connection() {
    let err = decode_err(&frame(1, 1, &queue_declare(&[1, b'k', b'Z', 0])), 0);
    assert_eq!(err.reply_code, SYNTAX_ERROR);
    assert_eq!(err.text, "unknown field type 'Z'");
    assert_eq!((err.class_id, err.method_id, err.abrupt), (50, 10, true));
}

#[test]
fn value_cut_short_inside_a_table_drops_the_connection() {
    let err = decode_err(&frame(1, 1, &queue_declare(&[1, b'k', b'I', 0])), 0);
    assert_eq!(err.reply_code, SYNTAX_ERROR);
    assert!(err.abrupt);
}

#[test]
fn malformed_arguments_are_reported_before_a_bad_table_like_rabbitmq() {
    let mut payload = queue_declare(&[1, b'k', b'Z']);
    payload.push(0);
    let err = decode_err(&frame(1, 1, &payload), 0);
    assert_eq!(err.reply_code, FRAME_ERROR);
    assert!(!err.abrupt);
}

fn nested_tables(depth: usize) -> Vec<u8> {
    let mut table = Vec::new();
    for _ in 1..depth {
        let mut outer = vec![1, b'k', b'F'];
        outer.extend_from_slice(&(table.len() as u32).to_be_bytes());
        outer.extend_from_slice(&table);
        table = outer;
    }
    table
}

#[test]
fn nesting_is_bounded() {
    let ok = frame(1, 1, &queue_declare(&nested_tables(MAX_FIELD_NESTING)));
    assert!(decode_frame(&mut BytesMut::from(&ok[..]), 0).is_ok());
    let deep = frame(1, 1, &queue_declare(&nested_tables(MAX_FIELD_NESTING + 1)));
    let err = decode_err(&deep, 0);
    assert_eq!(err.reply_code, SYNTAX_ERROR);
    assert!(!err.abrupt);
    let very_deep = frame(1, 1, &queue_declare(&nested_tables(10_000)));
    assert_eq!(decode_err(&very_deep, 0).reply_code, SYNTAX_ERROR);
}

#[test]
fn bad_properties_are_a_bare_internal_error() {
    // content-type flag set, then a short string longer than what follows.
    let mut payload = vec![0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x80, 0x00];
    payload.extend_from_slice(&[5, b'a', b'b']);
    let err = decode_err(&frame(2, 1, &payload), 0);
    assert_eq!(err.reply_code, INTERNAL_ERROR);
    assert_eq!(err.to_string(), "INTERNAL_ERROR");
}

#[test]
fn encode_content_splits_bodies_at_frame_max() {
    let header = ContentHeader {
        class_id: 60,
        body_size: 10_000,
        properties: BasicProperties::default(),
        received: None,
    };
    let body = Bytes::from(vec![1u8; 10_000]);
    let mut out = BytesMut::new();
    encode_content(5, &header, &body, 4096, &mut out);
    let mut sizes = Vec::new();
    while let Some(frame) = decode_frame(&mut out, 4096).unwrap() {
        match frame {
            Frame::Header {
                channel: 5,
                header: h,
            } => assert_eq!(h, header),
            Frame::Body {
                channel: 5,
                payload,
            } => {
                assert!(payload.len() + FRAME_OVERHEAD <= 4096);
                sizes.push(payload.len());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(sizes, [4088, 4088, 1824]);
}

#[test]
fn empty_body_is_a_header_alone() {
    let header = ContentHeader {
        class_id: 60,
        body_size: 0,
        properties: BasicProperties::default(),
        received: None,
    };
    let mut out = BytesMut::new();
    encode_content(1, &header, &Bytes::new(), 4096, &mut out);
    let mut expected = BytesMut::new();
    Frame::Header { channel: 1, header }.encode(&mut expected);
    assert_eq!(out, expected);
}

#[test]
fn no_frame_max_means_one_body_frame() {
    let header = ContentHeader {
        class_id: 60,
        body_size: 10_000,
        properties: BasicProperties::default(),
        received: None,
    };
    let mut out = BytesMut::new();
    encode_content(1, &header, &Bytes::from(vec![0u8; 10_000]), 0, &mut out);
    decode_frame(&mut out, 0).unwrap();
    let Some(Frame::Body { payload, .. }) = decode_frame(&mut out, 0).unwrap() else {
        panic!("no body");
    };
    assert_eq!(payload.len(), 10_000);
    assert!(out.is_empty());
}

#[test]
fn protocol_header() {
    assert_eq!(PROTOCOL_HEADER, b"AMQP\x00\x00\x09\x01");
    assert_eq!(FRAME_MIN_SIZE, 4096);
}

/// A body frame that the buffer does not hold whole, as it would be read: its start in the
/// read buffer after some other frame, the rest read later.
fn large_body_stream(payload: &[u8], frame_max: u32) -> (BytesMut, LargeBody, Vec<u8>) {
    let mut stream = frame(1, 1, &basic_ack(7));
    let whole = frame(3, 2, payload);
    let at = stream.len() + 100;
    stream.extend_from_slice(&whole);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    buf.extend_from_slice(&stream[..at]);
    assert!(matches!(
        decode_frame(&mut buf, frame_max),
        Ok(Some(Frame::Method { .. }))
    ));
    assert!(matches!(decode_frame(&mut buf, frame_max), Ok(None)));
    let large = LargeBody::take(&mut buf, 4096).expect("a large body not whole yet");
    (buf, large, stream[at..].to_vec())
}

#[test]
fn a_large_body_is_read_into_an_allocation_of_its_size() {
    let payload: Vec<u8> = (0..65_536u32).map(|i| i as u8).collect();
    let (mut buf, mut large, rest) = large_body_stream(&payload, 131_072);
    assert!(buf.is_empty(), "what the buffer had of it was taken");
    let (rest_of_payload, after) = rest.split_at(rest.len() - 1);
    assert_eq!(
        large.payload_mut().capacity() - large.payload_mut().len(),
        rest_of_payload.len(),
        "room for exactly what is missing"
    );
    large.payload_mut().put_slice(rest_of_payload);
    assert!(large.is_complete());
    let large = large
        .finish(&mut buf)
        .unwrap()
        .expect_err("no frame end yet");
    buf.put_slice(after);
    buf.put_slice(&frame(8, 0, &[]));
    let Frame::Body {
        channel,
        payload: got,
    } = large.finish(&mut buf).unwrap().unwrap()
    else {
        panic!("a body frame");
    };
    assert_eq!((channel, &got[..]), (2, &payload[..]));
    let own = got.try_into_mut().expect("nothing else holds it");
    assert_eq!(own.capacity(), 65_536);
    assert_eq!(
        decode_frame(&mut buf, 131_072).unwrap(),
        Some(Frame::Heartbeat { channel: 0 }),
        "the frames after it are read as usual"
    );
}

#[test]
fn a_large_body_with_a_bad_frame_end_fails_as_decode_frame_does() {
    let payload = vec![7u8; 5000];
    let (mut buf, mut large, rest) = large_body_stream(&payload, 131_072);
    large.payload_mut().put_slice(&rest[..rest.len() - 1]);
    buf.put_u8(0);
    let err = large.finish(&mut buf).unwrap_err();
    let mut whole = frame(3, 2, &payload);
    *whole.last_mut().unwrap() = 0;
    assert_eq!(err, decode_err(&whole, 131_072));
}

#[test]
fn small_or_whole_bodies_and_other_frames_stay_in_the_buffer() {
    let small = frame(3, 1, &[1; 4095]);
    let whole_large = frame(3, 1, &[1; 5000]);
    let method = frame(1, 1, &[0; 5000]);
    for (bytes, cut) in [
        (&small, small.len() - 1),
        (&whole_large, whole_large.len()),
        (&method, method.len() - 1),
        (&small, 5),
    ] {
        let mut buf = BytesMut::from(&bytes[..cut]);
        assert!(LargeBody::take(&mut buf, 4096).is_none());
        assert_eq!(buf.len(), cut, "nothing taken");
    }
}

/// A message written from borrowed bytes (`encode_message`, with a `BasicHeader`) is the one
/// the table's structs and a decoded header write.
#[test]
fn content_methods_encode_as_the_table() {
    let properties = BasicProperties {
        content_type: Some("application/json".into()),
        priority: Some(3),
        ..Default::default()
    };
    let header = ContentHeader::new(60, 5, properties);
    let encoded = EncodedHeader::from(&header);
    let kept = BasicHeader {
        body_size: 5,
        property_bytes: encoded.property_bytes(),
    };
    assert_eq!(kept.properties(), header.properties);
    let (exchange, routing_key) = (&b"xivo"[..], &b"calls.call.created"[..]);
    let cases = [
        (
            ContentMethod::Deliver {
                consumer_tag: b"ctag",
                delivery_tag: 7,
                redelivered: true,
                exchange,
                routing_key,
            },
            Method::from(BasicDeliver {
                consumer_tag: "ctag".into(),
                delivery_tag: 7,
                redelivered: true,
                exchange: "xivo".into(),
                routing_key: "calls.call.created".into(),
            }),
        ),
        (
            ContentMethod::GetOk {
                delivery_tag: 8,
                redelivered: false,
                exchange,
                routing_key,
                message_count: 41,
            },
            Method::from(BasicGetOk {
                delivery_tag: 8,
                redelivered: false,
                exchange: "xivo".into(),
                routing_key: "calls.call.created".into(),
                message_count: 41,
            }),
        ),
        (
            ContentMethod::Return {
                reply_code: 312,
                reply_text: b"NO_ROUTE",
                exchange,
                routing_key,
            },
            Method::from(BasicReturn {
                reply_code: 312,
                reply_text: "NO_ROUTE".into(),
                exchange: "xivo".into(),
                routing_key: "calls.call.created".into(),
            }),
        ),
    ];
    for (borrowed, method) in cases {
        let (mut ours, mut table) = (BytesMut::new(), BytesMut::new());
        encode_message(2, &borrowed, &kept, b"hello", 4096, &mut ours);
        encode_method_with_content(2, &method, &header, b"hello", 4096, &mut table);
        assert_eq!(ours, table, "{}", method.name());
    }
}
