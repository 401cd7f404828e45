//! The broker driven without a socket: frames in, frames out, as the server drives it. These
//! tests pin behaviour that no client library makes easy to observe.

use bytes::{Bytes, BytesMut};
use warren_broker::{Broker, BrokerConfig, Connection, Phase};
use warren_wire::{
    decode_frame, BasicConsume, BasicPublish, BasicQos, ChannelOpen, ConnectionOpen,
    ConnectionStartOk, ConnectionTuneOk, ContentHeader, FieldTable, FieldValue, Frame, Method,
    QueueDeclare,
};

/// A connection through the handshake, announcing the given client capabilities.
fn open(broker: &std::sync::Arc<Broker>, capabilities: &[&'static str]) -> Connection {
    let mut caps = FieldTable::new();
    for &capability in capabilities {
        caps.insert(capability, FieldValue::Bool(true));
    }
    let mut client_properties = FieldTable::new();
    client_properties.insert("capabilities", FieldValue::Table(caps));
    let mut connection = Connection::new(broker.clone());
    let start_ok = ConnectionStartOk {
        client_properties,
        mechanism: "PLAIN".into(),
        response: Bytes::from_static(b"\0guest\0guest"),
        locale: "en_US".into(),
    };
    connection.handle_frame(method(0, start_ok.into()));
    connection.handle_frame(method(
        0,
        ConnectionTuneOk {
            channel_max: 2047,
            frame_max: 131_072,
            heartbeat: 0,
        }
        .into(),
    ));
    connection.handle_frame(method(
        0,
        ConnectionOpen {
            virtual_host: "/".into(),
        }
        .into(),
    ));
    assert_eq!(connection.phase(), Phase::Open);
    connection.handle_frame(method(1, ChannelOpen::default().into()));
    sent(&mut connection);
    connection
}

fn method(channel: u16, method: Method) -> Frame {
    Frame::Method { channel, method }
}

/// The frames the connection produced since the last call.
fn sent(connection: &mut Connection) -> Vec<Frame> {
    let mut output: BytesMut = connection.output().split();
    let mut frames = Vec::new();
    while let Some(frame) = decode_frame(&mut output, 0).expect("the broker writes valid frames") {
        frames.push(frame);
    }
    frames
}

fn methods(connection: &mut Connection) -> Vec<Method> {
    sent(connection)
        .into_iter()
        .filter_map(|f| match f {
            Frame::Method { method, .. } => Some(method),
            _ => None,
        })
        .collect()
}

fn publish(connection: &mut Connection, routing_key: &'static str, body: &'static [u8]) {
    let publish = BasicPublish {
        exchange: "".into(),
        routing_key: routing_key.into(),
        ..Default::default()
    };
    connection.handle_frame(method(1, publish.into()));
    let header = ContentHeader::new(60, body.len() as u64, Default::default());
    connection.handle_frame(Frame::Header { channel: 1, header });
    connection.handle_frame(Frame::Body {
        channel: 1,
        payload: Bytes::from_static(body),
    });
}

#[test]
fn blocked_notices_go_only_to_clients_that_asked_once_per_change() {
    let broker = Broker::new(BrokerConfig::default());
    let mut aware = open(&broker, &["connection.blocked"]);
    let mut unaware = open(&broker, &[]);

    assert!(aware.set_blocked(true, "low on memory"));
    assert!(
        !aware.set_blocked(true, "low on memory"),
        "no second notice while blocked"
    );
    assert!(unaware.set_blocked(true, "low on memory"));
    match methods(&mut aware).as_slice() {
        [Method::ConnectionBlocked(blocked)] => assert_eq!(blocked.reason, "low on memory"),
        other => panic!("expected one connection.blocked, got {other:?}"),
    }
    assert!(methods(&mut unaware).is_empty());

    assert!(aware.set_blocked(false, ""));
    assert!(matches!(
        methods(&mut aware).as_slice(),
        [Method::ConnectionUnblocked(_)]
    ));
}

#[test]
fn a_delivery_crosses_from_one_connection_to_another_through_the_outbox() {
    let broker = Broker::new(BrokerConfig::default());
    let mut consumer = open(&broker, &[]);
    let mut publisher = open(&broker, &[]);
    let declare = QueueDeclare {
        queue: "work".into(),
        ..Default::default()
    };
    consumer.handle_frame(method(1, declare.into()));
    consumer.handle_frame(method(
        1,
        BasicQos {
            prefetch_count: 1,
            ..Default::default()
        }
        .into(),
    ));
    let consume = BasicConsume {
        queue: "work".into(),
        consumer_tag: "c".into(),
        ..Default::default()
    };
    consumer.handle_frame(method(1, consume.into()));
    sent(&mut consumer);

    publish(&mut publisher, "work", b"one");
    publish(&mut publisher, "work", b"two");
    consumer.drain_outbox();
    let frames = sent(&mut consumer);
    let delivered: Vec<_> = frames
        .iter()
        .filter_map(|f| match f {
            Frame::Body { payload, .. } => Some(payload.clone()),
            _ => None,
        })
        .collect();
    // Prefetch 1: the second message waits for the first to be acked.
    assert_eq!(delivered, vec![Bytes::from_static(b"one")]);
    let Some(Frame::Method {
        method: Method::BasicDeliver(deliver),
        ..
    }) = frames.first()
    else {
        panic!("expected basic.deliver first, got {frames:?}");
    };
    assert_eq!((deliver.delivery_tag, deliver.redelivered), (1, false));
}
