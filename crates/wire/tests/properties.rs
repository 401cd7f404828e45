//! Content headers: property flags and values.
#![allow(clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};
use warren_wire::reply_code::INTERNAL_ERROR;
use warren_wire::{BasicProperties, ContentHeader, EncodedHeader, FieldTable, FieldValue};

fn all_set() -> BasicProperties {
    let mut headers = FieldTable::new();
    headers.insert("x-death", FieldValue::Array(vec![FieldValue::I32(3)]));
    BasicProperties {
        content_type: Some("application/json".into()),
        content_encoding: Some("utf-8".into()),
        headers: Some(headers),
        delivery_mode: Some(2),
        priority: Some(9),
        correlation_id: Some("corr".into()),
        reply_to: Some("amq.rabbitmq.reply-to".into()),
        expiration: Some("60000".into()),
        message_id: Some("id-1".into()),
        timestamp: Some(1_700_000_000),
        kind: Some("order.created".into()),
        user_id: Some("guest".into()),
        app_id: Some("warren".into()),
        cluster_id: Some("c1".into()),
    }
}

fn encoded(header: &ContentHeader) -> Bytes {
    let mut out = BytesMut::new();
    header.encode(&mut out);
    out.freeze()
}

fn header(properties: BasicProperties) -> ContentHeader {
    ContentHeader {
        class_id: 60,
        body_size: 1234,
        properties,
        received: None,
    }
}

#[test]
fn all_fourteen_properties_round_trip() {
    let h = header(all_set());
    let bytes = encoded(&h);
    assert_eq!(&bytes[12..14], &[0xFF, 0xFC]);
    assert_eq!(ContentHeader::decode(&bytes).unwrap(), h);
}

#[test]
fn no_properties() {
    let h = header(BasicProperties::default());
    let bytes = encoded(&h);
    assert_eq!(
        &bytes[..],
        b"\x00\x3c\x00\x00\x00\x00\x00\x00\x00\x00\x04\xd2\x00\x00"
    );
    assert_eq!(ContentHeader::decode(&bytes).unwrap(), h);
}

#[test]
fn each_property_alone_has_its_own_flag() {
    let all = all_set();
    let singles: [BasicProperties; 14] = [
        BasicProperties {
            content_type: all.content_type.clone(),
            ..Default::default()
        },
        BasicProperties {
            content_encoding: all.content_encoding.clone(),
            ..Default::default()
        },
        BasicProperties {
            headers: all.headers.clone(),
            ..Default::default()
        },
        BasicProperties {
            delivery_mode: all.delivery_mode,
            ..Default::default()
        },
        BasicProperties {
            priority: all.priority,
            ..Default::default()
        },
        BasicProperties {
            correlation_id: all.correlation_id.clone(),
            ..Default::default()
        },
        BasicProperties {
            reply_to: all.reply_to.clone(),
            ..Default::default()
        },
        BasicProperties {
            expiration: all.expiration.clone(),
            ..Default::default()
        },
        BasicProperties {
            message_id: all.message_id.clone(),
            ..Default::default()
        },
        BasicProperties {
            timestamp: all.timestamp,
            ..Default::default()
        },
        BasicProperties {
            kind: all.kind.clone(),
            ..Default::default()
        },
        BasicProperties {
            user_id: all.user_id.clone(),
            ..Default::default()
        },
        BasicProperties {
            app_id: all.app_id.clone(),
            ..Default::default()
        },
        BasicProperties {
            cluster_id: all.cluster_id.clone(),
            ..Default::default()
        },
    ];
    for (i, props) in singles.into_iter().enumerate() {
        let h = header(props);
        let bytes = encoded(&h);
        let flags = u16::from_be_bytes([bytes[12], bytes[13]]);
        assert_eq!(flags, 0x8000 >> i);
        assert_eq!(ContentHeader::decode(&bytes).unwrap(), h);
    }
}

fn raw(flags: &[u16], values: &[u8]) -> Bytes {
    let mut out = b"\x00\x3c\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05".to_vec();
    for f in flags {
        out.extend_from_slice(&f.to_be_bytes());
    }
    out.extend_from_slice(values);
    Bytes::from(out)
}

#[test]
fn continuation_flag_words_are_read_and_their_unknown_properties_skipped() {
    // content-type | continuation; a second word naming an unknown property, whose value
    // (of a type we cannot know) follows the known ones.
    let bytes = raw(&[0x8001, 0x8000], b"\x04text\xde\xad");
    let h = ContentHeader::decode(&bytes).unwrap();
    assert_eq!(h.properties.content_type.unwrap(), "text");
    assert_eq!(h.body_size, 5);

    let three_words = raw(&[0x1001, 0x0001, 0x0000], b"\x02");
    let h = ContentHeader::decode(&three_words).unwrap();
    assert_eq!(h.properties.delivery_mode, Some(2));
}

#[test]
fn the_fifteenth_flag_names_an_unknown_property() {
    let bytes = raw(&[0x0002], b"\x01\x02\x03");
    assert_eq!(
        ContentHeader::decode(&bytes).unwrap().properties,
        BasicProperties::default()
    );
}

#[test]
fn trailing_bytes_are_an_internal_error_like_rabbitmq() {
    let err = ContentHeader::decode(&raw(&[0x1000], b"\x02\x00")).unwrap_err();
    assert_eq!(err.reply_code, INTERNAL_ERROR);
    assert_eq!(err.text, "");
    let err = ContentHeader::decode(&raw(&[0x0000, 0x0000], b"")).unwrap_err();
    assert_eq!(
        err.reply_code, INTERNAL_ERROR,
        "a second word without continuation"
    );
}

#[test]
fn bad_headers_table_is_an_internal_error() {
    let err = ContentHeader::decode(&raw(&[0x2000], b"\x00\x00\x00\x02\x01k")).unwrap_err();
    assert_eq!(err.reply_code, INTERNAL_ERROR);
    assert!(!err.abrupt);
}

/// py-amqp writes 64-bit integers as `L`, which we read as `l`; a received header must reach
/// consumers with the publisher's very bytes, as RabbitMQ passes them through.
#[test]
fn a_received_header_is_re_sent_verbatim() {
    let mut payload = vec![0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0x00];
    let entry = [&[1, b'k', b'L'][..], &42u64.to_be_bytes()].concat();
    payload.extend_from_slice(&(entry.len() as u32).to_be_bytes());
    payload.extend_from_slice(&entry);
    let payload = Bytes::from(payload);
    let mut header = ContentHeader::decode(&payload).expect("valid header");
    let mut out = BytesMut::new();
    header.encode(&mut out);
    assert_eq!(out, payload, "verbatim while unchanged");

    header.received = None;
    let mut out = BytesMut::new();
    header.encode(&mut out);
    assert_eq!(
        out[payload.len() - 9],
        b'l',
        "re-encoded from the decoded value"
    );
}

#[test]
fn an_encoded_header_keeps_the_received_bytes_and_decodes_again() {
    let built = header(all_set());
    let from_built = EncodedHeader::from(&built);
    assert_eq!(from_built.as_bytes(), &encoded(&built)[..]);
    assert_eq!(from_built.body_size(), 1234);
    assert_eq!(from_built.properties(), all_set());

    // py-amqp's `L` for a header integer: the received bytes are kept, not re-encoded.
    let mut received = encoded(&header(BasicProperties::default())).to_vec();
    received[12] = 0x20; // headers present
    received.extend_from_slice(b"\x00\x00\x00\x0b\x01nL\x00\x00\x00\x00\x00\x00\x00\x07");
    let decoded = ContentHeader::decode(&Bytes::from(received.clone())).unwrap();
    let kept = EncodedHeader::from(&decoded);
    assert_eq!(kept.as_bytes(), &received[..]);
    assert_eq!(kept.properties(), decoded.properties);
}
