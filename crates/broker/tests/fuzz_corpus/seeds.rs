//! Seed inputs for the fuzz targets: short, valid client sessions in the `connection` target's
//! record format (see `fuzz/harness/connection.rs`) that reach the broker's main paths (work
//! queues with acks, topic/fanout/headers routing, exchange-to-exchange bindings, confirms,
//! transactions, dead-lettering, TTLs, priorities, direct reply-to, the memory alarm, a raw
//! handshake). The codec targets are seeded with the frames, method payloads, content headers
//! and field tables of the same sessions.

use bytes::{Bytes, BytesMut};
use warren_wire::*;

use super::harness::{
    records, DROP_FIRST, FLIP_ALARM_AFTER, FRAME_MAX, RAW, SHUTDOWN_AFTER, SLOT_B, SWEEP_AFTER,
};

const A: u8 = 0;
const B: u8 = SLOT_B;

/// One session being written.
#[derive(Default)]
pub struct Script {
    /// The `connection` target's input.
    pub input: Vec<u8>,
    /// Every frame sent, encoded.
    pub frames: Vec<BytesMut>,
    pub tables: Vec<FieldTable>,
}

impl Script {
    fn frame(&mut self, ctl: u8, frame: Frame) {
        let mut bytes = BytesMut::new();
        frame.encode(&mut bytes);
        records(ctl, &bytes, &mut self.input);
        self.frames.push(bytes);
    }

    fn send(&mut self, ctl: u8, channel: u16, method: impl Into<Method>) {
        self.frame(
            ctl,
            Frame::Method {
                channel,
                method: method.into(),
            },
        );
    }

    fn table(&mut self, entries: &[(&'static str, FieldValue)]) -> FieldTable {
        let mut table = FieldTable::new();
        for (key, value) in entries {
            table.insert(*key, value.clone());
        }
        self.tables.push(table.clone());
        table
    }

    /// basic.publish on channel 1, the header and the body in frames of at most `split` bytes.
    fn publish(
        &mut self,
        ctl: u8,
        exchange: &'static str,
        routing_key: &'static str,
        properties: BasicProperties,
        body: &'static [u8],
        split: usize,
    ) {
        let publish = BasicPublish {
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            mandatory: true,
            ..Default::default()
        };
        let channel = 1;
        self.send(ctl, channel, publish);
        let header = ContentHeader::new(60, body.len() as u64, properties);
        self.frame(ctl & SLOT_B, Frame::Header { channel, header });
        for part in body.chunks(split) {
            self.frame(
                ctl & SLOT_B,
                Frame::Body {
                    channel,
                    payload: Bytes::from_static(part),
                },
            );
        }
    }

    /// An empty record that only carries `ctl`'s actions.
    fn act(&mut self, ctl: u8) {
        records(ctl, &[], &mut self.input);
    }

    fn declare(&mut self, ctl: u8, queue: &'static str, arguments: FieldTable) {
        let declare = QueueDeclare {
            queue: queue.into(),
            arguments,
            ..Default::default()
        };
        self.send(ctl, 1, declare);
    }

    fn consume(&mut self, ctl: u8, queue: &'static str, tag: &'static str, no_ack: bool) {
        let consume = BasicConsume {
            queue: queue.into(),
            consumer_tag: tag.into(),
            no_ack,
            ..Default::default()
        };
        self.send(ctl, 1, consume);
    }

    fn close(&mut self, ctl: u8) {
        self.send(ctl, 1, ChannelClose::default());
        self.send(ctl, 0, ConnectionClose::default());
    }
}

/// A headers table with a value of every type.
fn rich_headers(script: &mut Script) -> FieldTable {
    let nested = script.table(&[("n", FieldValue::I32(1)), ("s", long("deep"))]);
    script.table(&[
        ("t", FieldValue::Bool(true)),
        ("b", FieldValue::I8(-1)),
        ("B", FieldValue::U8(1)),
        ("s", FieldValue::I16(-2)),
        ("u", FieldValue::U16(2)),
        ("I", FieldValue::I32(-3)),
        ("i", FieldValue::U32(3)),
        ("l", FieldValue::I64(-4)),
        ("f", FieldValue::F32(1.5)),
        ("d", FieldValue::F64(2.5)),
        (
            "D",
            FieldValue::Decimal {
                scale: 2,
                value: 314,
            },
        ),
        ("S", long("text")),
        ("x", FieldValue::Bytes(Bytes::from_static(b"\0\x01"))),
        ("T", FieldValue::Timestamp(1_700_000_000)),
        ("V", FieldValue::Void),
        ("F", FieldValue::Table(nested)),
        (
            "A",
            FieldValue::Array(vec![FieldValue::I32(1), long("two"), FieldValue::Void]),
        ),
    ])
}

fn long(s: &'static str) -> FieldValue {
    FieldValue::LongStr(Bytes::from_static(s.as_bytes()))
}

fn properties(headers: Option<FieldTable>) -> BasicProperties {
    BasicProperties {
        content_type: Some("application/json".into()),
        headers,
        delivery_mode: Some(2),
        priority: Some(3),
        correlation_id: Some("c1".into()),
        reply_to: Some("replies".into()),
        message_id: Some("m1".into()),
        timestamp: Some(1_700_000_000),
        ..Default::default()
    }
}

/// A consumer on A with prefetch 2, a publisher on B; acks, nack, reject, recover, cancel.
fn work_queue() -> Script {
    let mut s = Script::default();
    let args = s.table(&[
        ("x-max-length", FieldValue::I32(10)),
        ("x-overflow", long("reject-publish")),
    ]);
    s.declare(A, "work", args);
    s.send(
        A,
        1,
        BasicQos {
            prefetch_count: 2,
            ..Default::default()
        },
    );
    s.consume(A, "work", "c1", false);
    let headers = rich_headers(&mut s);
    s.send(B, 1, ConfirmSelect::default());
    for body in [&b"one"[..], b"two", b"three"] {
        s.publish(B, "", "work", properties(Some(headers.clone())), body, 2);
    }
    s.send(
        A,
        1,
        BasicAck {
            delivery_tag: 1,
            multiple: false,
        },
    );
    s.send(
        A,
        1,
        BasicNack {
            delivery_tag: 2,
            multiple: false,
            requeue: true,
        },
    );
    s.send(
        A,
        1,
        BasicReject {
            delivery_tag: 3,
            requeue: false,
        },
    );
    s.send(A, 1, BasicRecover { requeue: true });
    s.send(
        A,
        1,
        BasicCancel {
            consumer_tag: "c1".into(),
            no_wait: false,
        },
    );
    s.send(
        A,
        1,
        BasicGet {
            queue: "work".into(),
            no_ack: true,
        },
    );
    s.close(A);
    s.close(B);
    s
}

/// Topic, fanout and headers exchanges, an exchange-to-exchange binding, an alternate
/// exchange, a server-named exclusive queue, mandatory publishes that route and that return.
fn routing() -> Script {
    let mut s = Script::default();
    let ae = s.table(&[("alternate-exchange", long("unrouted"))]);
    for (name, kind, arguments) in [
        ("unrouted", "fanout", FieldTable::new()),
        ("events", "topic", ae),
        ("all", "fanout", FieldTable::new()),
        ("match", "headers", FieldTable::new()),
    ] {
        let declare = ExchangeDeclare {
            exchange: name.into(),
            kind: kind.into(),
            durable: true,
            arguments,
            ..Default::default()
        };
        s.send(A, 1, declare);
    }
    s.send(
        A,
        1,
        ExchangeBind {
            destination: "all".into(),
            source: "events".into(),
            routing_key: "#".into(),
            ..Default::default()
        },
    );
    let exclusive = QueueDeclare {
        exclusive: true,
        auto_delete: true,
        ..Default::default()
    };
    s.send(A, 1, exclusive);
    for (exchange, key) in [("events", "call.*.ended"), ("all", ""), ("unrouted", "")] {
        let bind = QueueBind {
            exchange: exchange.into(),
            routing_key: key.into(),
            ..Default::default()
        };
        s.send(A, 1, bind);
    }
    let x_match = s.table(&[("x-match", long("any")), ("kind", long("call"))]);
    s.send(
        A,
        1,
        QueueBind {
            exchange: "match".into(),
            arguments: x_match,
            ..Default::default()
        },
    );
    s.consume(A, "", "", true);
    let headers = s.table(&[("kind", long("call"))]);
    s.publish(B, "events", "call.1.ended", properties(None), b"ended", 64);
    s.publish(B, "match", "", properties(Some(headers)), b"h", 64);
    s.publish(B, "nowhere", "k", BasicProperties::default(), b"", 64);
    s.send(
        A,
        1,
        ExchangeUnbind {
            destination: "all".into(),
            source: "events".into(),
            routing_key: "#".into(),
            ..Default::default()
        },
    );
    s.send(
        A,
        1,
        QueueUnbind {
            exchange: "events".into(),
            routing_key: "call.*.ended".into(),
            ..Default::default()
        },
    );
    s.send(A, 1, QueuePurge::default());
    s.send(
        A,
        1,
        ExchangeDelete {
            exchange: "events".into(),
            ..Default::default()
        },
    );
    s.send(A, 1, QueueDelete::default());
    s.close(B);
    s
}

/// A TTL queue that dead-letters into another, run through the broker's timers; a queue that
/// expires; a priority queue; a transaction.
fn timers_and_dead_letters() -> Script {
    let mut s = Script::default();
    s.declare(A, "dead", FieldTable::new());
    let args = s.table(&[
        ("x-message-ttl", FieldValue::I64(5)),
        ("x-dead-letter-exchange", long("")),
        ("x-dead-letter-routing-key", long("dead")),
        ("x-max-priority", FieldValue::U8(5)),
    ]);
    s.declare(A, "ttl", args);
    let expires = s.table(&[("x-expires", FieldValue::I32(1000))]);
    s.declare(A, "idle", expires);
    s.consume(A, "dead", "d", false);
    s.consume(A, "idle", "i", false);
    let expiring = BasicProperties {
        expiration: Some("1".into()),
        priority: Some(9),
        ..Default::default()
    };
    s.publish(B, "", "ttl", expiring, b"soon", 64);
    s.act(B | SWEEP_AFTER);
    s.send(B, 1, TxSelect::default());
    s.publish(B, "", "dead", BasicProperties::default(), b"tx", 64);
    s.send(B, 1, TxCommit::default());
    s.send(
        A,
        1,
        BasicAck {
            delivery_tag: 0,
            multiple: true,
        },
    );
    s.send(B, 1, TxRollback::default());
    s
}

/// Direct reply-to, then the memory alarm blocking a publisher, a dropped socket, and the
/// broker shutting a connection down.
fn reply_to_and_alarm() -> Script {
    let mut s = Script::default();
    s.declare(A, "rpc", FieldTable::new());
    s.consume(B, "amq.rabbitmq.reply-to", "r", true);
    let request = BasicProperties {
        reply_to: Some("amq.rabbitmq.reply-to".into()),
        ..Default::default()
    };
    s.publish(B, "", "rpc", request, b"ask", 64);
    s.consume(A, "rpc", "server", false);
    s.act(A | FLIP_ALARM_AFTER);
    s.publish(B, "", "rpc", BasicProperties::default(), b"held", 64);
    s.act(B | FLIP_ALARM_AFTER);
    s.send(A, 2, ChannelOpen::default());
    s.send(A, 2, ChannelFlow { active: true });
    s.act(A | DROP_FIRST);
    s.act(B | SHUTDOWN_AFTER);
    s.send(B, 0, ConnectionCloseOk::default());
    s
}

/// A second connection that goes through the handshake in the fuzzed bytes.
fn raw_handshake() -> Script {
    let mut s = Script::default();
    let capabilities = s.table(&[("connection.blocked", FieldValue::Bool(true))]);
    let client_properties = s.table(&[
        ("product", long("seed")),
        ("capabilities", FieldValue::Table(capabilities)),
    ]);
    let start_ok = ConnectionStartOk {
        client_properties,
        mechanism: "AMQPLAIN".into(),
        response: {
            let mut response = BytesMut::new();
            let login = FieldTable(vec![
                ("LOGIN".into(), long("guest")),
                ("PASSWORD".into(), long("guest")),
            ]);
            login.encode(&mut response);
            // AMQPLAIN sends the table's entries without its byte count.
            Bytes::copy_from_slice(&response[4..])
        },
        locale: "en_US".into(),
    };
    s.send(B | DROP_FIRST | RAW, 0, start_ok);
    s.send(
        B,
        0,
        ConnectionTuneOk {
            channel_max: 16,
            frame_max: 4096,
            heartbeat: 30,
        },
    );
    s.send(
        B,
        0,
        ConnectionOpen {
            virtual_host: "/".into(),
        },
    );
    s.send(B, 7, ChannelOpen::default());
    s.send(B, 0, ConnectionUpdateSecret::default());
    s.frame(B, Frame::Heartbeat { channel: 0 });
    s.send(B, 0, ConnectionClose::default());
    s.send(B, 0, ConnectionCloseOk::default());
    s
}

/// The sessions, by name.
pub fn scenarios() -> Vec<(&'static str, Script)> {
    vec![
        ("work-queue", work_queue()),
        ("routing", routing()),
        ("timers-and-dead-letters", timers_and_dead_letters()),
        ("reply-to-and-alarm", reply_to_and_alarm()),
        ("raw-handshake", raw_handshake()),
    ]
}

/// Methods only a server sends, for the method decoder's seeds.
pub fn server_methods() -> Vec<Method> {
    let server_properties = FieldTable(vec![(
        "capabilities".into(),
        FieldValue::Table(FieldTable(vec![(
            "basic.nack".into(),
            FieldValue::Bool(true),
        )])),
    )]);
    vec![
        ConnectionStart {
            version_major: 0,
            version_minor: 9,
            server_properties,
            mechanisms: Bytes::from_static(b"PLAIN AMQPLAIN"),
            locales: Bytes::from_static(b"en_US"),
        }
        .into(),
        ConnectionTune {
            channel_max: 2047,
            frame_max: FRAME_MAX,
            heartbeat: 60,
        }
        .into(),
        BasicDeliver {
            consumer_tag: "c".into(),
            delivery_tag: 1,
            redelivered: true,
            exchange: "x".into(),
            routing_key: "k".into(),
        }
        .into(),
        BasicGetOk {
            delivery_tag: 2,
            redelivered: false,
            exchange: "".into(),
            routing_key: "q".into(),
            message_count: 3,
        }
        .into(),
        QueueDeclareOk {
            queue: "q".into(),
            message_count: 1,
            consumer_count: 2,
        }
        .into(),
        BasicReturn {
            reply_code: 312,
            reply_text: "NO_ROUTE".into(),
            exchange: "x".into(),
            routing_key: "k".into(),
        }
        .into(),
    ]
}
