//! The Rust API: a broker embedded in the test process with one call, driven by a real Rust
//! AMQP client (amqprs) over a real socket.

use std::time::Duration;

use amqprs::channel::{
    BasicConsumeArguments, BasicGetArguments, BasicPublishArguments, QueueBindArguments,
    QueueDeclareArguments,
};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::BasicProperties;

async fn connect(broker: &warren::ServerHandle) -> Connection {
    let address = broker.local_addr();
    let arguments =
        OpenConnectionArguments::new(&address.ip().to_string(), address.port(), "guest", "guest");
    Connection::open(&arguments)
        .await
        .expect("connect to the embedded broker")
}

async fn exclusive_queue(channel: &amqprs::channel::Channel) -> String {
    let (queue, _, _) = channel
        .queue_declare(QueueDeclareArguments::default().exclusive(true).finish())
        .await
        .expect("declare")
        .expect("declare-ok");
    queue
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_broker_routes_a_wazo_event_through_xivo() {
    let broker = warren::start_local().await.expect("start");
    let connection = connect(&broker).await;
    let channel = connection.open_channel(None).await.expect("channel");
    let queue = exclusive_queue(&channel).await;
    channel
        .queue_bind(QueueBindArguments::new(&queue, "xivo", "calls.#"))
        .await
        .expect("bind");

    let body =
        br#"{"name": "call_created", "origin_uuid": "ca7f87e9", "data": {"call_id": "1234"}}"#
            .to_vec();
    let publish = BasicPublishArguments::new("xivo", "calls.call.created");
    channel
        .basic_publish(BasicProperties::default(), body.clone(), publish)
        .await
        .expect("publish");
    // Not matched by `calls.#`'s neighbour: a key outside the pattern goes nowhere.
    let other = BasicPublishArguments::new("xivo", "users.created");
    channel
        .basic_publish(BasicProperties::default(), b"nope".to_vec(), other)
        .await
        .expect("publish");

    let (_tag, mut deliveries) = channel
        .basic_consume_rx(
            BasicConsumeArguments::new(&queue, "")
                .auto_ack(true)
                .finish(),
        )
        .await
        .expect("consume");
    let delivered = tokio::time::timeout(Duration::from_secs(5), deliveries.recv())
        .await
        .expect("a delivery within 5 s")
        .expect("channel open");
    assert_eq!(delivered.content.as_deref(), Some(&body[..]));
    let deliver = delivered.deliver.expect("basic.deliver");
    assert_eq!(deliver.routing_key(), "calls.call.created");
    assert_eq!(deliver.exchange(), "xivo");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), deliveries.recv())
            .await
            .is_err(),
        "users.created must not match calls.#"
    );

    connection.close().await.expect("close");
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_get_sees_messages_published_before_it() {
    let broker = warren::start_local().await.expect("start");
    let connection = connect(&broker).await;
    let channel = connection.open_channel(None).await.expect("channel");
    let queue = exclusive_queue(&channel).await;
    for i in 0..3u8 {
        let publish = BasicPublishArguments::new("", &queue);
        channel
            .basic_publish(BasicProperties::default(), vec![i], publish)
            .await
            .expect("publish");
    }
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let got = channel
            .basic_get(BasicGetArguments::new(&queue).no_ack(true).finish())
            .await
            .expect("get");
        if let Some((get_ok, _, body)) = got {
            assert_eq!(get_ok.message_count() as usize, 2 - seen.len());
            seen.push(body[0]);
        }
    }
    assert_eq!(seen, vec![0, 1, 2]);
    connection.close().await.expect("close");
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_returns_while_clients_are_connected() {
    let broker = warren::start_local().await.expect("start");
    let connection = connect(&broker).await;
    let _channel = connection.open_channel(None).await.expect("channel");
    tokio::time::timeout(Duration::from_secs(10), broker.shutdown())
        .await
        .expect("shutdown finishes while a client is still connected");
    // The client was told (connection.close 320), so its connection is no longer open.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!connection.is_open());
}

/// The model's read side and its control of connections, through the embedding handle, seen
/// by a real client (lapin) over a real socket: the connection is listed with who it is, and
/// closing it from outside reaches the client as 320 with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_listed_and_closed_through_the_model_sees_320_with_the_reason() {
    let broker = warren::start_local().await.expect("start");
    let properties = lapin::ConnectionProperties::default();
    let connection = lapin::Connection::connect(&broker.amqp_url(), properties)
        .await
        .expect("lapin connects");
    let _channel = connection.create_channel().await.expect("channel");
    let listed = broker.broker().snapshot().connections;
    let [listed] = listed.as_slice() else {
        panic!("one connection listed: {listed:?}");
    };
    assert_eq!(
        (listed.user.as_str(), listed.vhost.as_str()),
        ("guest", "/")
    );
    assert_eq!(listed.state, "running");
    assert_eq!(listed.channels.len(), 1);
    let product = listed.client_properties.get(b"product");
    assert!(
        product.is_some(),
        "lapin's client properties: {:?}",
        listed.client_properties
    );

    let mut events = connection.events_listener();
    let entry = broker.broker().connections().find(&listed.name);
    entry
        .expect("found by its name")
        .close("Closed via management plugin");
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        use futures_util::StreamExt;
        while let Some(event) = events.next().await {
            if let lapin::Event::Error(error) = event {
                return Some(error);
            }
        }
        None
    })
    .await
    .expect("the close reaches the client")
    .expect("lapin reports it as an error");
    let lapin::ErrorKind::ProtocolError(amqp) = closed.kind() else {
        panic!("expected the broker's connection.close, got {closed}");
    };
    assert_eq!(amqp.get_id(), 320);
    assert_eq!(
        amqp.get_message().as_str(),
        "CONNECTION_FORCED - Closed via management plugin"
    );
    broker.shutdown().await;
}
