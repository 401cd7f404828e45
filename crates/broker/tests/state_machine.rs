//! The broker driven without a socket: frames in, frames out, as the server drives it. These
//! tests pin behaviour that no client library makes easy to observe.

use bytes::{Bytes, BytesMut};
use warren_broker::{Broker, BrokerConfig, Connection, Phase, READ_BUFFER_SIZE};
use warren_wire::{
    decode_frame, BasicConsume, BasicPublish, BasicQos, ChannelOpen, ConnectionOpen,
    ConnectionStartOk, ConnectionTuneOk, ContentHeader, FieldTable, FieldValue, Frame, Method,
    QueueDeclare,
};

/// Clients of these tests connect as if over loopback (guest may log in only so).
const LOCALHOST: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// A connection through the handshake, announcing the given client capabilities.
fn open(broker: &std::sync::Arc<Broker>, capabilities: &[&'static str]) -> Connection {
    let mut connection = handshake(broker, capabilities, LOCALHOST, "guest", "guest", "/");
    assert_eq!(connection.phase(), Phase::Open);
    connection.handle_frame(method(1, ChannelOpen::default().into()));
    sent(&mut connection);
    connection
}

/// The handshake frames of a client at `peer` logging in as `user` to `vhost`, whatever the
/// broker answers.
fn handshake(
    broker: &std::sync::Arc<Broker>,
    capabilities: &[&'static str],
    peer: std::net::IpAddr,
    user: &str,
    password: &str,
    vhost: &str,
) -> Connection {
    let mut caps = FieldTable::new();
    for &capability in capabilities {
        caps.insert(capability, FieldValue::Bool(true));
    }
    let mut client_properties = FieldTable::new();
    client_properties.insert("capabilities", FieldValue::Table(caps));
    let local = std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), 5672);
    let mut connection = Connection::new(broker.clone(), (peer, 40000).into(), local);
    let start_ok = ConnectionStartOk {
        client_properties,
        mechanism: "PLAIN".into(),
        response: Bytes::from(format!("\0{user}\0{password}")),
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
            virtual_host: vhost.to_string().try_into().expect("short vhost name"),
        }
        .into(),
    ));
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

/// A broker with vhosts `/` and `billing`: guest may use both; `app` may use `/` only, and
/// there only exchanges and queues whose names start with `app.`.
fn secured_broker() -> std::sync::Arc<Broker> {
    let definitions = r#"{
        "users": [{"name": "guest", "password": "guest"}, {"name": "app", "password": "pw"}],
        "vhosts": [{"name": "/"}, {"name": "billing"}],
        "permissions": [
            {"user": "guest", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"},
            {"user": "guest", "vhost": "billing", "configure": ".*", "write": ".*", "read": ".*"},
            {"user": "app", "vhost": "/", "configure": "^app\\.", "write": "^app\\.", "read": "^app\\."}
        ]
    }"#;
    let loaded = warren_broker::definitions::parse(definitions).expect("valid definitions");
    Broker::new(loaded.config)
}

fn connection_close(connection: &mut Connection) -> (u16, String) {
    match methods(connection).last() {
        Some(Method::ConnectionClose(close)) => (close.reply_code, close.reply_text.to_string()),
        other => panic!("expected connection.close, got {other:?}"),
    }
}

fn channel_close(connection: &mut Connection) -> (u16, String) {
    match methods(connection).last() {
        Some(Method::ChannelClose(close)) => (close.reply_code, close.reply_text.to_string()),
        other => panic!("expected channel.close, got {other:?}"),
    }
}

const REMOTE: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));

#[test]
fn guest_may_log_in_only_over_loopback() {
    let broker = secured_broker();
    let mut remote_guest = handshake(
        &broker,
        &["authentication_failure_close"],
        REMOTE,
        "guest",
        "guest",
        "/",
    );
    assert_eq!(
        connection_close(&mut remote_guest),
        (
            403,
            "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details \
             see the broker logfile."
                .into()
        )
    );
    let remote_app = handshake(&broker, &[], REMOTE, "app", "pw", "/");
    assert_eq!(remote_app.phase(), Phase::Open);
    let mapped = "::ffff:127.0.0.1".parse().expect("ip");
    let local_guest = handshake(&broker, &[], mapped, "guest", "guest", "/");
    assert_eq!(local_guest.phase(), Phase::Open);
}

#[test]
fn vhosts_must_exist_and_be_permitted() {
    let broker = secured_broker();
    let mut unknown = handshake(&broker, &[], LOCALHOST, "guest", "guest", "nope");
    assert_eq!(
        connection_close(&mut unknown),
        (530, "NOT_ALLOWED - vhost nope not found".into())
    );
    let mut refused = handshake(&broker, &[], LOCALHOST, "app", "pw", "billing");
    assert_eq!(
        connection_close(&mut refused),
        (
            530,
            "NOT_ALLOWED - access to vhost 'billing' refused for user 'app'".into()
        )
    );
}

#[test]
fn permissions_refuse_with_rabbitmq_texts() {
    let broker = secured_broker();
    let mut app = handshake(&broker, &[], LOCALHOST, "app", "pw", "/");
    let refused = |kind: &str, name: &str| {
        (
            403,
            format!(
                "ACCESS_REFUSED - access to {kind} '{name}' in vhost '/' refused for user 'app'"
            ),
        )
    };
    let mut channel = 0;
    let mut on_new_channel = |app: &mut Connection, m: Method| {
        channel += 1;
        app.handle_frame(method(channel, ChannelOpen::default().into()));
        app.handle_frame(method(channel, m));
    };
    let declare = |name: &'static str| QueueDeclare {
        queue: name.into(),
        ..Default::default()
    };
    on_new_channel(&mut app, declare("app.q").into());
    assert!(matches!(
        methods(&mut app).last(),
        Some(Method::QueueDeclareOk(_))
    ));
    on_new_channel(&mut app, declare("other").into());
    assert_eq!(channel_close(&mut app), refused("queue", "other"));
    // Publishing through the default exchange needs write on `amq.default`.
    let publish = BasicPublish {
        exchange: "".into(),
        routing_key: "app.q".into(),
        ..Default::default()
    };
    on_new_channel(&mut app, publish.into());
    assert_eq!(channel_close(&mut app), refused("exchange", "amq.default"));
    // Binding: write on the queue first, then read on the exchange.
    let bind = warren_wire::QueueBind {
        queue: "app.q".into(),
        exchange: "amq.topic".into(),
        ..Default::default()
    };
    on_new_channel(&mut app, bind.into());
    assert_eq!(channel_close(&mut app), refused("exchange", "amq.topic"));
    let get = warren_wire::BasicGet {
        queue: "app.q".into(),
        ..Default::default()
    };
    on_new_channel(&mut app, get.into());
    assert!(matches!(
        methods(&mut app).last(),
        Some(Method::BasicGetEmpty(_))
    ));
    assert_eq!(app.phase(), Phase::Open, "refusals close channels only");
}

#[test]
fn each_vhost_has_its_own_queues() {
    let broker = secured_broker();
    let mut billing = handshake(&broker, &[], LOCALHOST, "guest", "guest", "billing");
    billing.handle_frame(method(1, ChannelOpen::default().into()));
    let declare = QueueDeclare {
        queue: "invoices".into(),
        ..Default::default()
    };
    billing.handle_frame(method(1, declare.into()));
    assert!(matches!(
        methods(&mut billing).last(),
        Some(Method::QueueDeclareOk(_))
    ));
    let mut root = open(&broker, &[]);
    let passive = QueueDeclare {
        queue: "invoices".into(),
        passive: true,
        ..Default::default()
    };
    root.handle_frame(method(1, passive.into()));
    assert_eq!(
        channel_close(&mut root),
        (404, "NOT_FOUND - no queue 'invoices' in vhost '/'".into())
    );
}

/// The body of the message published with `key`: 300 bytes, like a Wazo event.
fn event_body(key: &str) -> Bytes {
    Bytes::from(format!("{key:-<300}"))
}

/// `basic.get` with no-ack on `queue`: the body it returns.
fn get_body(connection: &mut Connection, queue: &'static str) -> Option<Bytes> {
    let get = warren_wire::BasicGet {
        queue: queue.into(),
        no_ack: true,
    };
    connection.handle_frame(method(1, get.into()));
    sent(connection).into_iter().find_map(|f| match f {
        Frame::Body { payload, .. } => Some(payload),
        _ => None,
    })
}

/// Encodes the frames of a publish to `queue` through the default exchange.
fn encode_publish(queue: &'static str, body: Bytes, out: &mut BytesMut) {
    let publish = BasicPublish {
        exchange: "".into(),
        routing_key: queue.into(),
        ..Default::default()
    };
    method(1, publish.into()).encode(out);
    let header = ContentHeader::new(60, body.len() as u64, Default::default());
    Frame::Header { channel: 1, header }.encode(out);
    Frame::Body {
        channel: 1,
        payload: body,
    }
    .encode(out);
}

/// Hands every whole frame of `read` to the connection, as the server does.
fn handle_all(connection: &mut Connection, read: &mut BytesMut) {
    while let Some(frame) = decode_frame(read, 131_072).expect("valid frames") {
        connection.handle_frame(frame);
    }
}

/// Frames are cut off the 64 KiB buffer the server reads into, and a message's routing key,
/// header and body are views into it; the buffer stays allocated while any view lives. The
/// messages consumed at once let theirs go; those that wait in a queue nobody consumes must
/// not keep it for their few hundred bytes: from their publish (`audit`), or from the moment
/// the consumer goes (`work`'s two: one was unacked and comes back, one waited for credit).
#[test]
fn waiting_messages_keep_nothing_of_the_read_buffer() {
    let broker = Broker::new(BrokerConfig::default());
    let mut publisher = open(&broker, &[]);
    let mut consumer = open(&broker, &[]);
    for queue in ["audit", "live", "work"] {
        let declare = QueueDeclare {
            queue: queue.into(),
            ..Default::default()
        };
        publisher.handle_frame(method(1, declare.into()));
    }
    // Channel 1 takes `live` without acks; channel 2 takes `work` one unacked at a time.
    consumer.handle_frame(method(2, ChannelOpen::default().into()));
    let qos = BasicQos {
        prefetch_count: 1,
        ..Default::default()
    };
    consumer.handle_frame(method(2, qos.into()));
    for (channel, queue, no_ack) in [(1, "live", true), (2, "work", false)] {
        let consume = BasicConsume {
            queue: queue.into(),
            consumer_tag: queue.into(),
            no_ack,
            ..Default::default()
        };
        consumer.handle_frame(method(channel, consume.into()));
    }
    sent(&mut publisher);
    sent(&mut consumer);

    let keys = ["live", "audit", "work", "live", "work", "live"];
    let mut read = BytesMut::with_capacity(READ_BUFFER_SIZE);
    for key in keys {
        encode_publish(key, event_body(key), &mut read);
    }
    let capacity = read.capacity();
    handle_all(&mut publisher, &mut read);
    consumer.drain_outbox();
    let delivered = sent(&mut consumer)
        .into_iter()
        .filter(|f| matches!(f, Frame::Body { .. }))
        .count();
    assert_eq!(delivered, 3 + 1, "live's three, and work's first");
    assert!(
        !read.try_reclaim(capacity),
        "the unacked delivery is a view into the buffer"
    );
    // The consumer of `work` goes away: its delivery goes back to the queue.
    consumer.handle_frame(method(2, warren_wire::ChannelClose::default().into()));
    assert!(
        read.try_reclaim(capacity),
        "a message waiting in a queue keeps its read buffer allocated"
    );

    // The buffer is the server's again, which reads other bytes into it.
    read.resize(capacity, b'#');
    assert_eq!(get_body(&mut publisher, "audit"), Some(event_body("audit")));
    for _ in 0..2 {
        assert_eq!(get_body(&mut publisher, "work"), Some(event_body("work")));
    }
    assert_eq!(get_body(&mut publisher, "work"), None);
}

/// A backlog fills its read buffers with messages that all stay: once a queue without
/// consumer has kept a read buffer's worth of a connection's messages in a row, the next ones
/// stay as they came, views into buffers full of kept messages, where a copy would take more
/// (a 1,100-byte body, 1,280 bytes).
#[test]
fn a_backlog_keeps_its_messages_as_they_came_after_a_buffer_of_them() {
    let broker = Broker::new(BrokerConfig::default());
    let mut publisher = open(&broker, &[]);
    let declare = QueueDeclare {
        queue: "backlog".into(),
        ..Default::default()
    };
    publisher.handle_frame(method(1, declare.into()));
    sent(&mut publisher);
    let body = Bytes::from(vec![b'{'; 1100]);
    // Less than a read buffer's worth, then more.
    let mut buffers = [(60, BytesMut::new()), (100, BytesMut::new())];
    for (messages, read) in &mut buffers {
        for _ in 0..*messages {
            encode_publish("backlog", body.clone(), read);
        }
    }
    let [(_, first), (_, second)] = &mut buffers;
    let (first_capacity, second_capacity) = (first.capacity(), second.capacity());
    handle_all(&mut publisher, first);
    handle_all(&mut publisher, second);
    assert!(
        first.try_reclaim(first_capacity),
        "the first ones are copied"
    );
    assert!(!second.try_reclaim(second_capacity), "then they stay views");
}
