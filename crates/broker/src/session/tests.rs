//! The session driven as the server drives it, with a clock the test moves: no sleeping, no
//! socket. Every timer, the answers to faults, coalesced confirms, and what the session tells
//! the broker's read side (counters, channels, requests from other doors).

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use warren_wire::{
    encode_content, encode_method_frame, BasicConsume, BasicPublish, BasicQos, ChannelOpen,
    ConfirmSelect, ConnectionClose, ConnectionOpen, ConnectionStartOk, ConnectionTuneOk,
    ContentHeader, EncodedHeader, FieldTable, FieldValue, Frame, Method, QueueDeclare,
};

use super::*;
use crate::BrokerConfig;

/// A client on loopback (guest may log in only so), and our port.
const ADDRESSES: (SocketAddr, SocketAddr) = (
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40000),
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5672),
);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const SECOND: Duration = Duration::from_secs(1);

/// A session and the client's side of it: what it sends, and a clock.
struct Client {
    session: Session,
    input: BytesMut,
    now: Instant,
}

impl Client {
    fn connect() -> Client {
        Client::connect_to(&Broker::new(BrokerConfig::default()))
    }

    fn connect_to(broker: &Arc<Broker>) -> Client {
        let now = Instant::now();
        let broker = Arc::clone(broker);
        let session = Session::new(broker, ADDRESSES, now, now + HANDSHAKE_TIMEOUT);
        let mut client = Client {
            session,
            input: BytesMut::new(),
            now,
        };
        client.received();
        client
    }

    /// Through `connection.open`, with `heartbeat` seconds agreed, and channel 1 open.
    fn open(heartbeat: u16) -> Client {
        Client::open_on(&Broker::new(BrokerConfig::default()), heartbeat)
    }

    fn open_on(broker: &Arc<Broker>, heartbeat: u16) -> Client {
        let mut client = Client::connect_to(broker);
        let mut capabilities = FieldTable::new();
        for capability in ["connection.blocked", "consumer_cancel_notify"] {
            capabilities.insert(capability, FieldValue::Bool(true));
        }
        let mut client_properties = FieldTable::new();
        client_properties.insert("capabilities", FieldValue::Table(capabilities));
        let start_ok = ConnectionStartOk {
            client_properties,
            mechanism: "PLAIN".into(),
            response: Bytes::from_static(b"\0guest\0guest"),
            locale: "en_US".into(),
        };
        let tune_ok = ConnectionTuneOk {
            channel_max: 2047,
            frame_max: 131_072,
            heartbeat,
        };
        client.send(0, start_ok.into());
        client.send(0, tune_ok.into());
        let open = ConnectionOpen {
            virtual_host: "/".into(),
        };
        client.send(0, open.into());
        client.send(1, ChannelOpen::default().into());
        client.deliver();
        assert!(!client.session.in_handshake());
        client.received();
        client
    }

    fn queue(&mut self, channel: u16, method: Method) {
        encode_method_frame(channel, &method, &mut self.input);
    }

    fn send(&mut self, channel: u16, method: Method) {
        self.queue(channel, method);
        self.deliver();
    }

    /// Queues a publish of `body` to the default exchange, routed to `queue`.
    fn queue_publish(&mut self, queue: &'static str, body: &'static [u8]) {
        let publish = BasicPublish {
            routing_key: queue.into(),
            ..Default::default()
        };
        self.queue(1, publish.into());
        let header = ContentHeader::new(60, body.len() as u64, Default::default());
        let body = Bytes::from_static(body);
        encode_content(1, &EncodedHeader::from(&header), &body, 0, &mut self.input);
    }

    /// Hands what the client queued to the session, at the test's clock.
    fn deliver(&mut self) {
        self.session.receive(&mut self.input, self.now);
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.session.on_timeout(self.now);
    }

    /// Runs the session's timers until `deadline`, as a pump that sleeps until each one would.
    fn sleep_until(&mut self, deadline: Instant) {
        while let Some(due) = self.session.poll_timeout().filter(|due| *due <= deadline) {
            self.now = due.max(self.now);
            self.session.on_timeout(self.now);
        }
        self.now = deadline;
    }

    /// The frames the session transmitted since the last call.
    fn received(&mut self) -> Vec<Frame> {
        let mut out = BytesMut::new();
        self.session.poll_transmit(&mut out, self.now);
        let mut frames = Vec::new();
        while let Some(frame) = decode_frame(&mut out, 0).expect("the broker writes valid frames") {
            frames.push(frame);
        }
        frames
    }

    /// The session gives up exactly `after` from now: not a second sooner.
    fn finishes_after(&mut self, after: Duration) {
        assert_eq!(self.session.poll_timeout(), Some(self.now + after));
        self.advance(after - SECOND);
        assert!(!self.session.is_finished(), "finished before {after:?}");
        self.advance(SECOND);
        assert!(self.session.is_finished(), "not finished after {after:?}");
    }

    fn methods(&mut self) -> Vec<Method> {
        let frames = self.received().into_iter();
        frames
            .filter_map(|f| match f {
                Frame::Method { method, .. } => Some(method),
                _ => None,
            })
            .collect()
    }
}

fn is_heartbeat(frames: &[Frame]) -> bool {
    matches!(frames, [Frame::Heartbeat { channel: 0 }])
}

#[test]
fn a_handshake_not_finished_in_time_closes_the_socket() {
    let mut client = Client::connect();
    client.finishes_after(HANDSHAKE_TIMEOUT);
    assert!(client.received().is_empty(), "unanswered, as RabbitMQ");
}

#[test]
fn a_heartbeat_goes_out_after_half_the_interval_of_silence() {
    let mut client = Client::open(10);
    let opened = client.now;
    assert_eq!(client.session.poll_timeout(), Some(opened + 5 * SECOND));
    client.advance(4 * SECOND);
    assert!(client.received().is_empty());
    client.advance(SECOND);
    assert!(is_heartbeat(&client.received()));
    assert_eq!(client.session.poll_timeout(), Some(opened + 10 * SECOND));
}

#[test]
fn output_on_its_way_stands_for_a_heartbeat() {
    let mut client = Client::open(10);
    client.now += 4 * SECOND;
    client.send(1, warren_wire::BasicQos::default().into());
    assert!(!client.received().is_empty(), "qos-ok");
    client.advance(SECOND);
    assert!(client.received().is_empty(), "sent a second ago");
}

#[test]
fn a_client_silent_for_two_intervals_is_dropped() {
    let mut client = Client::open(10);
    client.now += 15 * SECOND;
    client.deliver(); // a heartbeat's worth of input: nothing but the time it came
    let heard = client.now;
    client.sleep_until(heard + 20 * SECOND - SECOND);
    assert!(!client.session.is_finished());
    client.sleep_until(heard + 20 * SECOND);
    assert!(client.session.is_finished());
}

#[test]
fn a_blocked_client_is_not_dropped_for_its_silence() {
    let mut client = Client::open(10);
    client.send(1, ConfirmSelect::default().into());
    client.queue_publish("nowhere", b"one");
    client.deliver();
    client.received();
    client.session.set_memory_alarm(true);
    client.queue_publish("nowhere", b"two");
    client.deliver();
    let notices = client.methods();
    assert!(
        matches!(notices.as_slice(), [Method::ConnectionBlocked(_)]),
        "{notices:?}"
    );
    assert!(!client.session.wants_input());
    assert!(
        !client.input.is_empty(),
        "the publish waits in the input buffer"
    );
    client.sleep_until(client.now + 60 * SECOND);
    assert!(!client.session.is_finished());
    assert!(client.session.set_memory_alarm(false), "unblocked");
    client.deliver();
    let methods = client.methods();
    assert!(
        matches!(
            methods.as_slice(),
            [Method::ConnectionUnblocked(_), Method::BasicAck(ack)] if ack.delivery_tag == 2
        ),
        "{methods:?}"
    );
}

#[test]
fn a_close_unanswered_in_time_closes_the_socket() {
    let mut client = Client::open(0);
    // A method on a channel that is not open: 504, a connection error.
    client.send(7, warren_wire::BasicQos::default().into());
    assert!(matches!(
        client.methods().as_slice(),
        [Method::ConnectionClose(close)] if close.reply_code == 504
    ));
    client.finishes_after(CLOSE_OK_TIMEOUT);
}

#[test]
fn after_close_ok_the_socket_is_the_clients_to_close_for_a_while() {
    for (heartbeat, linger) in [(0, LINGER_MAX), (5, 5 * SECOND), (60, LINGER_MAX)] {
        let mut client = Client::open(heartbeat);
        client.send(0, ConnectionClose::default().into());
        assert!(matches!(
            client.methods().as_slice(),
            [Method::ConnectionCloseOk(_)]
        ));
        assert!(!client.session.is_finished());
        assert!(
            client.session.wants_input(),
            "reads on, to see the client close"
        );
        client.send(1, ChannelOpen::default().into());
        assert!(
            client.received().is_empty(),
            "what comes after close-ok is dropped"
        );
        client.finishes_after(linger);
    }
}

#[test]
fn a_close_ok_for_our_close_closes_the_socket_at_once() {
    let mut client = Client::open(0);
    client.send(7, warren_wire::BasicQos::default().into());
    client.received();
    client.send(0, warren_wire::ConnectionCloseOk::default().into());
    assert!(client.session.is_finished());
}

#[test]
fn an_undecodable_frame_closes_with_its_code_and_nothing_more_is_read() {
    let mut client = Client::open(0);
    // A method frame whose end octet is wrong.
    client
        .input
        .extend_from_slice(&[1, 0, 1, 0, 0, 0, 4, 0, 20, 0, 10, 0xAB]);
    client.deliver();
    assert!(matches!(
        client.methods().as_slice(),
        [Method::ConnectionClose(close)] if close.reply_code == 501
    ));
    assert!(!client.session.wants_input());
    assert_eq!(
        client.session.poll_timeout(),
        Some(client.now + CLOSE_OK_TIMEOUT)
    );
}

/// The one frame the session sent, a `basic.ack`, as (delivery tag, multiple).
fn sole_ack(client: &mut Client) -> (u64, bool) {
    match client.methods().as_slice() {
        [Method::BasicAck(ack)] => (ack.delivery_tag, ack.multiple),
        other => panic!("expected one basic.ack, got {other:?}"),
    }
}

#[test]
fn publishes_read_together_are_confirmed_by_one_multiple_ack() {
    let mut client = Client::open(0);
    client.send(1, ConfirmSelect::default().into());
    client.received();
    for _ in 0..3 {
        client.queue_publish("nowhere", b"event");
    }
    client.deliver();
    assert_eq!(sole_ack(&mut client), (3, true));
    client.queue_publish("nowhere", b"event");
    client.deliver();
    assert_eq!(sole_ack(&mut client), (4, false));
}

#[test]
fn a_panic_in_the_state_machine_closes_only_that_connection_with_541() {
    let mut faulty = Client::open(0);
    let mut other = Client::open(0);
    faulty.session.guarded(|_| panic!("a bug in a handler"));
    assert!(matches!(
        faulty.methods().as_slice(),
        [Method::ConnectionClose(close)] if close.reply_code == 541
            && close.reply_text.starts_with(b"INTERNAL_ERROR")
    ));
    assert!(!faulty.session.wants_input(), "nothing more is read");
    other.send(1, warren_wire::BasicQos::default().into());
    assert!(matches!(
        other.methods().as_slice(),
        [Method::BasicQosOk(_)]
    ));
}

fn declare(client: &mut Client, queue: &'static str) {
    let declare = QueueDeclare {
        queue: queue.into(),
        ..Default::default()
    };
    client.send(1, declare.into());
    client.received();
}

fn consume(client: &mut Client, queue: &'static str, prefetch: u16) {
    let qos = BasicQos {
        prefetch_count: prefetch,
        ..Default::default()
    };
    client.send(1, qos.into());
    let consume = BasicConsume {
        queue: queue.into(),
        consumer_tag: "reader".into(),
        ..Default::default()
    };
    client.send(1, consume.into());
    client.received();
}

/// The delivery tags of the deliveries the session wrote since the last call.
fn delivered(client: &mut Client) -> Vec<u64> {
    client.session.take_deliveries(client.now);
    let methods = client.methods().into_iter();
    methods
        .filter_map(|m| match m {
            Method::BasicDeliver(d) => Some(d.delivery_tag),
            _ => None,
        })
        .collect()
}

#[test]
fn the_read_side_counts_what_sessions_did_and_keeps_it_when_they_close() {
    let broker = Broker::new(BrokerConfig::default());
    let mut reader = Client::open_on(&broker, 0);
    declare(&mut reader, "events");
    consume(&mut reader, "events", 2);
    let mut writer = Client::open_on(&broker, 0);
    writer.send(1, ConfirmSelect::default().into());
    for _ in 0..3 {
        writer.queue_publish("events", b"event");
    }
    writer.queue_publish("nowhere", b"lost");
    writer.deliver();
    writer.received();
    assert_eq!(delivered(&mut reader), [1, 2], "prefetch 2");
    reader.send(
        1,
        warren_wire::BasicAck {
            delivery_tag: 1,
            multiple: false,
        }
        .into(),
    );
    assert_eq!(delivered(&mut reader), [3]);

    let snapshot = broker.snapshot();
    let vhost = &snapshot.vhosts[0];
    let events = vhost.queues.iter().find(|q| q.name == "events");
    let counts = &events.expect("the queue is listed").counts;
    assert_eq!(
        (
            counts.ready.messages,
            counts.unacked.messages,
            counts.consumers
        ),
        (0, 2, 1)
    );
    assert_eq!(
        counts.unacked.bytes,
        2 * b"event".len() as u64,
        "unacked bodies"
    );
    let stats = counts.stats;
    assert_eq!((stats.publish, stats.deliver, stats.ack), (3, 3, 1));
    let default = vhost.exchanges.iter().find(|x| x.name.is_empty());
    let default = default.expect("the default exchange");
    assert_eq!((default.publish_in, default.publish_out), (4, 3));
    assert_eq!(snapshot.connections.len(), 2);
    let [reading, writing] = [&snapshot.connections[0], &snapshot.connections[1]];
    assert_eq!(
        (reading.user.as_str(), reading.vhost.as_str()),
        ("guest", "/")
    );
    assert_eq!(reading.state, "running");
    assert_eq!(reading.name, "127.0.0.1:40000 -> 127.0.0.1:5672");
    let channel = &reading.channels[0];
    assert_eq!(
        (channel.number, channel.unacked, channel.consumers),
        (1, 2, 1)
    );
    assert_eq!(channel.prefetch_count, 2);
    let (r, w) = (reading.message_stats, writing.message_stats);
    assert_eq!((r.deliver, r.ack, w.publish, w.confirm), (3, 1, 4, 4));
    assert_eq!(w.drop_unroutable, 1);
    assert_eq!(w.routed, 3, "one queue each, the unroutable one none");
    assert!(writing.channels[0].confirm);
    assert_eq!(vhost.message_stats.publish, 4);

    drop(writer);
    let snapshot = broker.snapshot();
    assert_eq!(snapshot.connections.len(), 1, "the closed one is gone");
    let totals = snapshot.vhosts[0].message_stats;
    assert_eq!(
        (totals.publish, totals.deliver, totals.ack),
        (4, 3, 1),
        "its counts stay"
    );
}

#[test]
fn another_door_closes_a_connection_with_320_and_its_reason() {
    let broker = Broker::new(BrokerConfig::default());
    let mut client = Client::open_on(&broker, 0);
    let entry = broker.connections().list().pop().expect("listed");
    entry.close("Closed via management plugin");
    client.session.take_requests(client.now);
    assert!(matches!(
        client.methods().as_slice(),
        [Method::ConnectionClose(close)] if close.reply_code == 320
            && close.reply_text == "CONNECTION_FORCED - Closed via management plugin"
    ));
    client.send(0, warren_wire::ConnectionCloseOk::default().into());
    assert!(client.session.is_finished());
}

#[test]
fn a_consumer_cancelled_by_the_broker_is_told_with_basic_cancel() {
    let broker = Broker::new(BrokerConfig::default());
    let mut client = Client::open_on(&broker, 0);
    declare(&mut client, "work");
    consume(&mut client, "work", 0);
    let vhost = broker.vhost(b"/").expect("the default vhost");
    let queue = vhost.queue(b"work").expect("declared");
    let consumer = queue.consumers().pop().expect("attached");
    queue.cancel_consumer(&consumer);
    client.session.take_deliveries(client.now);
    assert!(matches!(
        client.methods().as_slice(),
        [Method::BasicCancel(cancel)] if cancel.consumer_tag == "reader"
    ));
    assert_eq!(queue.consumer_count(), 0);
    client.queue_publish("work", b"for nobody");
    client.deliver();
    assert!(delivered(&mut client).is_empty());
}
