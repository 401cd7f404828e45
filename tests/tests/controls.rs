//! The test controls in the Rust API (`Broker::wait_for_binding` and the others), on an
//! embedded broker that lapin talks to over a real socket: a wait that ends when a client
//! binds, consumes or publishes, a timeout that says what did not happen, and a peek that
//! leaves the messages where they were.

use std::time::Duration;

use lapin::options::{
    BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use warren::controls::{BindingWanted, ControlError, MAX_WAIT};

const WAIT: Duration = Duration::from_secs(5);

async fn start() -> (warren::ServerHandle, Channel) {
    let broker = warren::start_local().await.expect("start a broker");
    let connection = Connection::connect(&broker.amqp_url(), ConnectionProperties::default())
        .await
        .expect("connect");
    let channel = connection.create_channel().await.expect("channel");
    std::mem::forget(connection); // the connection lives as long as the test
    (broker, channel)
}

async fn declare(channel: &Channel, queue: &str) {
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("declare");
}

async fn publish(channel: &Channel, exchange: &str, routing_key: &str, body: &[u8]) {
    channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default(),
        )
        .await
        .expect("publish")
        .await
        .expect("published");
}

#[tokio::test]
async fn a_binding_wait_ends_when_the_client_binds() {
    let (server, channel) = start().await;
    let wanted = BindingWanted {
        exchange: "xivo".into(),
        queue: "calls".into(),
        routing_key: Some("calls.call.*".into()),
        ..Default::default()
    };
    let broker = server.broker().clone();
    let waiting = tokio::spawn(async move { broker.wait_for_binding("/", &wanted, WAIT).await });
    declare(&channel, "calls").await;
    channel
        .queue_bind(
            "calls".into(),
            "xivo".into(),
            "calls.call.*".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind");
    let binding = waiting.await.expect("the wait").expect("the binding");
    assert_eq!(binding.routing_key.as_bytes(), b"calls.call.*");
    assert_eq!(binding.source.as_bytes(), b"xivo");
}

#[tokio::test]
async fn a_wait_that_times_out_says_what_did_not_happen() {
    let (server, _channel) = start().await;
    let wanted = BindingWanted {
        exchange: "xivo".into(),
        queue: "nobody".into(),
        routing_key: None,
        ..Default::default()
    };
    let broker = server.broker();
    let error = broker
        .wait_for_binding("/", &wanted, Duration::from_millis(50))
        .await
        .expect_err("no such binding");
    assert_eq!(
        error.to_string(),
        "no binding of exchange 'xivo' to queue 'nobody' within 50 ms"
    );
    assert_eq!(
        warren::controls::capped(Duration::from_secs(3600)),
        MAX_WAIT
    );
    assert_eq!(
        broker.wait_for_messages("nowhere", "q", 1, WAIT).await,
        Err(ControlError::NoVhost("nowhere".into()))
    );
}

#[tokio::test]
async fn message_and_consumer_waits_end_when_clients_act() {
    let (server, channel) = start().await;
    let broker = server.broker().clone();
    let messages = tokio::spawn({
        let broker = broker.clone();
        async move { broker.wait_for_messages("/", "jobs", 3, WAIT).await }
    });
    declare(&channel, "jobs").await;
    for n in 0..3 {
        publish(&channel, "", "jobs", format!("job {n}").as_bytes()).await;
    }
    assert_eq!(messages.await.expect("the wait"), Ok(3));

    let consumer = tokio::spawn({
        let broker = broker.clone();
        async move { broker.wait_for_consumer("/", "jobs", WAIT).await }
    });
    channel
        .basic_consume(
            "jobs".into(),
            "worker".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume");
    assert_eq!(consumer.await.expect("the wait"), Ok(1));
}

#[tokio::test]
async fn a_peek_leaves_the_messages_where_they_are() {
    let (server, channel) = start().await;
    declare(&channel, "kept").await;
    for body in [b"first".as_slice(), b"second", b"third"] {
        publish(&channel, "", "kept", body).await;
    }
    let broker = server.broker();
    let peeked = broker.peek("/", "kept", 2).expect("peek");
    let bodies: Vec<&[u8]> = peeked.iter().map(|m| m.message.body().as_ref()).collect();
    assert_eq!(bodies, [b"first".as_slice(), b"second"]);
    assert!(peeked.iter().all(|m| !m.redelivered()));
    let got = channel
        .basic_get("kept".into(), BasicGetOptions { no_ack: true })
        .await
        .expect("get")
        .expect("a message");
    assert_eq!(got.delivery.data, b"first");
    assert!(!got.delivery.redelivered, "a peek is not a delivery");
    assert_eq!(
        broker.peek("/", "missing", 1).map(|m| m.len()),
        Err(ControlError::NoQueue {
            vhost: "/".into(),
            queue: "missing".into()
        })
    );
}

#[tokio::test]
async fn the_trace_tells_where_each_publish_went() {
    let (server, channel) = start().await;
    declare(&channel, "calls").await;
    channel
        .queue_bind(
            "calls".into(),
            "xivo".into(),
            "calls.#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind");
    publish(&channel, "xivo", "calls.call.created", b"{}").await;
    publish(&channel, "xivo", "users.created", b"{}").await;
    // A synchronous method's answer comes after the publishes before it are handled.
    declare(&channel, "calls").await;
    let traced = server.broker().trace("/", Some("xivo"), 10).expect("trace");
    let keys: Vec<&[u8]> = traced
        .iter()
        .map(|t| t.publish.routing_key.as_ref())
        .collect();
    assert_eq!(keys, [b"users.created".as_slice(), b"calls.call.created"]);
    assert!(traced[0].routes.is_empty(), "unroutable");
    let route = &traced[1].routes[0];
    assert_eq!(route.queue.as_bytes(), b"calls");
    let via = route.via.as_ref().expect("the binding is still there");
    assert_eq!(via.len(), 1);
    assert_eq!(via[0].binding.routing_key.as_bytes(), b"calls.#");
}

#[tokio::test]
async fn a_reset_brings_the_vhost_back_to_its_start() {
    let (server, channel) = start().await;
    declare(&channel, "left-over").await;
    publish(&channel, "", "left-over", b"m").await;
    channel
        .exchange_delete("wazo-headers".into(), Default::default())
        .await
        .expect("delete a predeclared exchange");
    let broker = server.broker();
    let done = broker.reset("/").expect("reset");
    assert_eq!(
        (done.queues_deleted, done.messages_dropped, done.recreated),
        (1, 1, 1)
    );
    let vhost = broker.vhost(b"/").expect("the vhost");
    assert!(vhost.queue(b"left-over").is_err());
    assert!(vhost.exchange(b"wazo-headers").is_ok());
    assert!(broker.trace("/", None, 10).expect("trace").is_empty());
    assert_eq!(broker.reset("/").expect("again"), Default::default());
}
