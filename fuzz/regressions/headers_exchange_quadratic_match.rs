//! Reproducer, not compiled here: copy into `crates/broker/tests/` to run it (it fails today).
//! Found while reviewing for the fuzzing of issue 5, not by the fuzzer: its inputs are capped
//! at 8 KiB, and this needs two frames of about 120 KiB.
//!
//! A headers-exchange binding with N arguments, matched against a message with N headers,
//! costs O(N²) name comparisons (`warren_router::headers::HeadersMatcher::matches` looks
//! every wanted name up by a linear scan). With `frame_max` 131072 a client can bind 15,000
//! void arguments (120 KB) and publish messages carrying the same 15,000 headers in reverse
//! order. Each such publish then costs about 0.5 s of CPU per binding, measured in a release
//! build on the 2-core dev machine (5,000 arguments: 50 ms). Ten such bindings on one exchange
//! make it 5 s per message. One authenticated client pins a core with about 1 Mbit/s of
//! publishes. RabbitMQ sorts both tables and merges them, which is O(N log N).
//!
//! Before the fix this test failed: the one publish took 5.7 s in a debug build. Fixed in
//! warren-router: a binding's arguments are sorted at bind time, a message's headers once per
//! route, and each argument is found by a binary search in the headers left (RabbitMQ sorts and
//! merges). The time-independent test that replaces this one counts name comparisons:
//! `headers::tests::many_arguments_against_many_headers_take_n_log_n_comparisons` in
//! `crates/router/src/headers.rs` (about 2.4 × 10⁵ for this input, against 1.1 × 10⁸ before).
//! This file stays as the broker-level reproducer, still not compiled here.

use std::time::{Duration, Instant};

use bytes::Bytes;
use warren_broker::{Broker, BrokerConfig, Connection, Phase};
use warren_wire::*;

fn send(c: &mut Connection, channel: u16, method: impl Into<Method>) {
    c.handle_frame(Frame::Method {
        channel,
        method: method.into(),
    });
}

#[test]
fn a_headers_binding_with_many_arguments_matches_in_near_linear_time() {
    let broker = Broker::new(BrokerConfig::default());
    let mut c = Connection::new(broker, std::net::Ipv4Addr::LOCALHOST.into());
    send(
        &mut c,
        0,
        ConnectionStartOk {
            client_properties: FieldTable::new(),
            mechanism: "PLAIN".into(),
            response: Bytes::from_static(b"\0guest\0guest"),
            locale: "en_US".into(),
        },
    );
    send(
        &mut c,
        0,
        ConnectionTuneOk {
            channel_max: 10,
            frame_max: 131_072,
            heartbeat: 0,
        },
    );
    send(
        &mut c,
        0,
        ConnectionOpen {
            virtual_host: "/".into(),
        },
    );
    send(&mut c, 1, ChannelOpen::default());
    send(
        &mut c,
        1,
        ExchangeDeclare {
            exchange: "h".into(),
            kind: "headers".into(),
            ..Default::default()
        },
    );
    send(
        &mut c,
        1,
        QueueDeclare {
            queue: "q".into(),
            ..Default::default()
        },
    );
    let names: Vec<ShortStr> = (0..15_000)
        .map(|i| ShortStr::try_from(format!("k{i:05}")).expect("short"))
        .collect();
    let arguments = FieldTable(
        names
            .iter()
            .map(|k| (k.clone(), FieldValue::Void))
            .collect(),
    );
    send(
        &mut c,
        1,
        QueueBind {
            queue: "q".into(),
            exchange: "h".into(),
            arguments,
            ..Default::default()
        },
    );
    let headers = FieldTable(
        names
            .iter()
            .rev()
            .map(|k| (k.clone(), FieldValue::Void))
            .collect(),
    );
    let properties = BasicProperties {
        headers: Some(headers),
        ..Default::default()
    };
    let started = Instant::now();
    send(
        &mut c,
        1,
        BasicPublish {
            exchange: "h".into(),
            ..Default::default()
        },
    );
    c.handle_frame(Frame::Header {
        channel: 1,
        header: ContentHeader::new(60, 1, properties),
    });
    c.handle_frame(Frame::Body {
        channel: 1,
        payload: Bytes::from_static(b"x"),
    });
    let elapsed = started.elapsed();
    assert_eq!(c.phase(), Phase::Open);
    assert!(
        elapsed < Duration::from_millis(50),
        "one publish through one headers binding took {elapsed:?}"
    );
}
