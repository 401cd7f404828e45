//! lapin, the most used Rust AMQP client, against Warren over a real socket: the Wazo flow
//! (publish to `xivo`, consume with a pattern, ack), confirms with a mandatory return, requeue
//! with `redelivered`, and a channel error that leaves the connection usable.
//!
//! By default each test embeds its own broker. With `WARREN_TEST_URL` set (for example
//! `amqp://guest:guest@127.0.0.1:5682/%2F`, the reference RabbitMQ of
//! `tests/rabbitmq-reference.sh`), the same assertions run against that broker instead.

use std::time::Duration;

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ErrorKind, ExchangeKind};

const WAIT: Duration = Duration::from_secs(5);

/// A connection to the broker under test, and the embedded broker when there is one (kept
/// alive for the test's duration).
struct Target {
    connection: Connection,
    _embedded: Option<warren::ServerHandle>,
}

async fn connect() -> Target {
    let (url, embedded) = match std::env::var("WARREN_TEST_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let broker = warren::start_local()
                .await
                .expect("start an embedded broker");
            (broker.amqp_url(), Some(broker))
        }
    };
    let connection = Connection::connect(&url, ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| panic!("lapin cannot connect to {url}: {e}"));
    Target {
        connection,
        _embedded: embedded,
    }
}

/// Declares `xivo` as Warren presets it, so the tests also run on a bare RabbitMQ.
async fn declare_xivo(channel: &Channel) {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .exchange_declare(
            "xivo".into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await
        .expect("declare xivo");
}

async fn exclusive_queue(channel: &Channel) -> String {
    let exclusive = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let queue = channel
        .queue_declare("".into(), exclusive, FieldTable::default())
        .await
        .expect("declare a server-named queue");
    queue.name().to_string()
}

async fn next_delivery(consumer: &mut lapin::Consumer) -> Delivery {
    tokio::time::timeout(WAIT, consumer.next())
        .await
        .expect("a delivery within 5 s")
        .expect("the consumer is still open")
        .expect("a delivery, not an error")
}

async fn consume(channel: &Channel, queue: &str, tag: &str) -> lapin::Consumer {
    channel
        .basic_consume(
            queue.into(),
            tag.into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wazo_event_reaches_a_pattern_consumer_and_is_acked() {
    let target = connect().await;
    let channel = target.connection.create_channel().await.expect("channel");
    declare_xivo(&channel).await;
    let queue = exclusive_queue(&channel).await;
    for pattern in ["calls.call.*", "config.users.*.forwards.#"] {
        channel
            .queue_bind(
                queue.as_str().into(),
                "xivo".into(),
                pattern.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind");
    }
    let mut consumer = consume(&channel, &queue, "wazo").await;

    let event = br#"{"name": "call_created", "origin_uuid": "ca7f87e9", "data": {"call_id": "1714470930.42"}}"#;
    let json = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2);
    for key in [
        "calls.call.created",
        "calls.call.hold.created", // `*` is one word: not matched
        "config.users.5f4ee3e8.forwards.busy.updated",
    ] {
        channel
            .basic_publish(
                "xivo".into(),
                key.into(),
                BasicPublishOptions::default(),
                event,
                json.clone(),
            )
            .await
            .expect("publish");
    }

    let first = next_delivery(&mut consumer).await;
    assert_eq!(first.routing_key.as_str(), "calls.call.created");
    assert_eq!(first.exchange.as_str(), "xivo");
    assert_eq!(first.data, event);
    assert!(!first.redelivered);
    assert_eq!(
        first.properties.content_type().as_ref().map(|t| t.as_str()),
        Some("application/json")
    );
    assert_eq!(*first.properties.delivery_mode(), Some(2));
    let second = next_delivery(&mut consumer).await;
    assert_eq!(
        second.routing_key.as_str(),
        "config.users.5f4ee3e8.forwards.busy.updated"
    );
    assert!(second.delivery_tag > first.delivery_tag);
    second
        .ack(BasicAckOptions { multiple: true })
        .await
        .expect("ack both");

    let unacked = channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("passive declare");
    assert_eq!(unacked.message_count(), 0, "nothing left ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirms_ack_every_publish_and_carry_the_mandatory_return() {
    let target = connect().await;
    let channel = target.connection.create_channel().await.expect("channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm.select");
    let queue = exclusive_queue(&channel).await;

    let routed = channel
        .basic_publish(
            "".into(),
            queue.as_str().into(),
            BasicPublishOptions::default(),
            b"kept",
            BasicProperties::default(),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    assert!(routed.is_ack());
    assert!(routed.take_message().is_none());

    let mandatory = BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    };
    let unroutable = channel
        .basic_publish(
            "".into(),
            "no-such-queue-for-lapin".into(),
            mandatory,
            b"lost",
            BasicProperties::default(),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    assert!(unroutable.is_ack(), "RabbitMQ acks an unroutable message");
    let returned = unroutable
        .take_message()
        .expect("the basic.return came before the ack");
    assert_eq!(returned.reply_code, 312);
    assert_eq!(returned.reply_text.as_str(), "NO_ROUTE");
    assert_eq!(returned.routing_key.as_str(), "no-such-queue-for-lapin");
    assert_eq!(returned.data, b"lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nack_with_requeue_redelivers_with_the_redelivered_flag() {
    let target = connect().await;
    let channel = target.connection.create_channel().await.expect("channel");
    let queue = exclusive_queue(&channel).await;
    let mut consumer = consume(&channel, &queue, "requeue").await;
    channel
        .basic_publish(
            "".into(),
            queue.as_str().into(),
            BasicPublishOptions::default(),
            b"again",
            BasicProperties::default(),
        )
        .await
        .expect("publish");

    let first = next_delivery(&mut consumer).await;
    assert!(!first.redelivered);
    first
        .nack(BasicNackOptions {
            multiple: false,
            requeue: true,
        })
        .await
        .expect("nack");
    let again = next_delivery(&mut consumer).await;
    assert!(again.redelivered);
    assert_eq!(again.data, b"again");
    assert!(again.delivery_tag > first.delivery_tag);
    again.ack(BasicAckOptions::default()).await.expect("ack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inequivalent_redeclare_closes_the_channel_with_406_only() {
    let target = connect().await;
    let channel = target.connection.create_channel().await.expect("channel");
    // Named and not exclusive: RabbitMQ refuses to redeclare `amq.gen-` names, and treats
    // exclusive queues as transient whatever `durable` says.
    let queue = format!("lapin-equivalence-{}", std::process::id());
    let transient = QueueDeclareOptions {
        auto_delete: true,
        ..Default::default()
    };
    channel
        .queue_declare(queue.as_str().into(), transient, FieldTable::default())
        .await
        .expect("declare");

    let durable = QueueDeclareOptions {
        durable: true,
        ..transient
    };
    let error = channel
        .queue_declare(queue.as_str().into(), durable, FieldTable::default())
        .await
        .expect_err("a durable redeclare of a transient queue is refused");
    let ErrorKind::ProtocolError(amqp) = error.kind() else {
        panic!("expected a channel.close from the broker, got {error}");
    };
    assert_eq!(amqp.get_id(), 406);
    assert_eq!(
        amqp.get_message().as_str(),
        format!(
            "PRECONDITION_FAILED - inequivalent arg 'durable' for queue '{queue}' in vhost '/': \
             received 'true' but current is 'false'"
        )
    );

    // The connection survives a channel error: a new channel still works.
    let other = target.connection.create_channel().await.expect("channel");
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    other
        .queue_declare(queue.as_str().into(), passive, FieldTable::default())
        .await
        .expect("the queue is still there");
    other
        .queue_delete(queue.as_str().into(), Default::default())
        .await
        .expect("delete");
    assert!(target.connection.status().connected());
}
