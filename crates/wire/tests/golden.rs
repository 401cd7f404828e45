//! Byte-exact checks against frames from the spec and from RabbitMQ 3.10.8 itself
//! (`testdata/rabbitmq_frames.tsv`, captured by `testdata/capture_rabbitmq_frames.py`).
#![allow(clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};
use warren_wire::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn captured(label: &str) -> Vec<u8> {
    include_str!("../testdata/rabbitmq_frames.tsv")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .find(|(name, _)| *name == label)
        .map(|(_, h)| hex(h))
        .unwrap_or_else(|| panic!("no frame {label}"))
}

fn decode_one(bytes: &[u8]) -> Frame {
    let mut buf = BytesMut::from(bytes);
    let frame = decode_frame(&mut buf, 0).unwrap().unwrap();
    assert!(buf.is_empty());
    frame
}

fn encoded(frame: &Frame) -> Vec<u8> {
    let mut out = BytesMut::new();
    frame.encode(&mut out);
    out.to_vec()
}

#[test]
fn every_captured_frame_reencodes_byte_exact() {
    let all = include_str!("../testdata/rabbitmq_frames.tsv");
    let mut count = 0;
    for (label, h) in all
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
    {
        let bytes = hex(h);
        assert_eq!(encoded(&decode_one(&bytes)), bytes, "{label}");
        count += 1;
    }
    assert_eq!(count, 23);
}

#[test]
fn heartbeat() {
    let bytes = [0x08, 0, 0, 0, 0, 0, 0, 0xCE];
    assert_eq!(decode_one(&bytes), Frame::Heartbeat { channel: 0 });
    assert_eq!(encoded(&Frame::Heartbeat { channel: 0 }), bytes);
}

#[test]
fn connection_tune_as_rabbitmq_sends_it() {
    let frame = Frame::Method {
        channel: 0,
        method: ConnectionTune {
            channel_max: 2047,
            frame_max: 131072,
            heartbeat: 60,
        }
        .into(),
    };
    assert_eq!(encoded(&frame), captured("connection.tune"));
}

#[test]
fn connection_start_server_properties() {
    let Frame::Method {
        method: Method::ConnectionStart(start),
        ..
    } = decode_one(&captured("connection.start"))
    else {
        panic!("not connection.start");
    };
    assert_eq!((start.version_major, start.version_minor), (0, 9));
    assert_eq!(start.mechanisms, Bytes::from_static(b"AMQPLAIN PLAIN"));
    assert_eq!(start.locales, Bytes::from_static(b"en_US"));
    let props = &start.server_properties;
    assert_eq!(
        props.get(b"product").unwrap().as_bytes(),
        Some(&b"RabbitMQ"[..])
    );
    let Some(FieldValue::Table(caps)) = props.get(b"capabilities") else {
        panic!("no capabilities");
    };
    assert_eq!(caps.get(b"basic.nack"), Some(&FieldValue::Bool(true)));
}

#[test]
fn basic_publish_with_content_as_the_spec_lays_it_out() {
    let expected = hex(concat!(
        // basic.publish(exchange "", routing-key "q"): reserved short, two shortstrs, bits.
        "01 0001 0000000a  003c 0028  0000 00 0171 00  ce",
        // Header: class 60, weight 0, size 5, flags content-type|delivery-mode, values.
        "02 0001 0000001a  003c 0000 0000000000000005 9000 0a746578742f706c61696e 02  ce",
        "03 0001 00000005  68656c6c6f  ce",
    ));
    let method = Method::from(BasicPublish {
        routing_key: "q".into(),
        ..Default::default()
    });
    let content = ContentHeader {
        class_id: 60,
        body_size: 5,
        properties: BasicProperties {
            content_type: Some("text/plain".into()),
            delivery_mode: Some(2),
            ..Default::default()
        },
        received: None,
    };
    let mut out = BytesMut::new();
    encode_method_with_content(
        1,
        &method,
        &content,
        &Bytes::from_static(b"hello"),
        4096,
        &mut out,
    );
    assert_eq!(out.to_vec(), expected);

    let mut buf = BytesMut::from(&expected[..]);
    assert_eq!(
        decode_frame(&mut buf, 4096).unwrap(),
        Some(Frame::Method { channel: 1, method })
    );
    assert_eq!(
        decode_frame(&mut buf, 4096).unwrap(),
        Some(Frame::Header {
            channel: 1,
            header: content
        })
    );
    assert_eq!(
        decode_frame(&mut buf, 4096).unwrap(),
        Some(Frame::Body {
            channel: 1,
            payload: Bytes::from_static(b"hello")
        })
    );
    assert!(buf.is_empty());
}

/// RabbitMQ's basic.get-ok, header and two body frames at frame_max 4096: decoding them and
/// encoding the message again with `encode_method_with_content` gives the same bytes.
#[test]
fn basic_get_ok_message_as_rabbitmq_sends_it() {
    let parts: Vec<Vec<u8>> = (0..4)
        .map(|i| captured(&format!("basic.get-ok#{i}")))
        .collect();
    let Frame::Method { channel: 1, method } = decode_one(&parts[0]) else {
        panic!("no method frame");
    };
    let Method::BasicGetOk(get_ok) = &method else {
        panic!("not get-ok");
    };
    assert_eq!(get_ok.delivery_tag, 1);
    assert_eq!(get_ok.routing_key, "golden");
    let Frame::Header { header, .. } = decode_one(&parts[1]) else {
        panic!("no header frame");
    };
    assert_eq!(header.body_size, 4100);
    let p = &header.properties;
    assert_eq!(p.content_type.as_ref().unwrap(), "text/plain");
    assert_eq!(p.content_encoding.as_ref().unwrap(), "gzip");
    assert_eq!((p.delivery_mode, p.priority), (Some(2), Some(5)));
    assert_eq!(p.timestamp, Some(1_700_000_001));
    assert_eq!(p.kind.as_ref().unwrap(), "type");
    assert_eq!(p.cluster_id.as_ref().unwrap(), "cluster");
    let headers = p.headers.as_ref().unwrap();
    assert_eq!(headers.len(), 17);
    assert_eq!(headers.get(b"i64"), Some(&FieldValue::I64(-2)));
    assert_eq!(
        headers.get(b"dec"),
        Some(&FieldValue::Decimal {
            scale: 2,
            value: 12345
        })
    );
    let body: Vec<u8> = parts[2..]
        .iter()
        .flat_map(|p| match decode_one(p) {
            Frame::Body { payload, .. } => payload.to_vec(),
            other => panic!("not a body: {other:?}"),
        })
        .collect();
    assert_eq!(body, vec![b'x'; 4100]);

    let mut out = BytesMut::new();
    encode_method_with_content(1, &method, &header, &Bytes::from(body), 4096, &mut out);
    assert_eq!(out.to_vec(), parts.concat());
}

#[test]
fn channel_close_reply_text() {
    let Frame::Method {
        method: Method::ChannelClose(close),
        ..
    } = decode_one(&captured("channel.close"))
    else {
        panic!("not channel.close");
    };
    assert_eq!(close.reply_code, reply_code::NOT_FOUND);
    assert_eq!(
        close.reply_text,
        reply_code::reply_text(close.reply_code, "no queue 'amq.nope' in vhost '/'")
    );
    assert_eq!((close.class_id, close.method_id), (50, 10));
}

#[test]
fn basic_return_no_route() {
    let Frame::Method {
        method: Method::BasicReturn(ret),
        ..
    } = decode_one(&captured("basic.return#0"))
    else {
        panic!("not basic.return");
    };
    assert_eq!(ret.reply_code, reply_code::NO_ROUTE);
    assert_eq!(ret.reply_text, "NO_ROUTE");
    assert_eq!(ret.routing_key, "nowhere");
}
