//! Resource limits over real sockets: each broker here is started with one limit set low,
//! and a raw client checks the refusal RabbitMQ would send (code, text, class and method).

use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

use warren_server::{Limits, Server, ServerHandle};
use warren_tests::{closed_without_a_word, connect, RawClient};
use warren_wire::{
    BasicConsume, BasicGet, BasicPublish, ChannelOpen, Method, QueueDeclare, PROTOCOL_HEADER,
};

async fn broker_with(limits: Limits) -> ServerHandle {
    Server::builder()
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .limits(limits)
        .start()
        .await
        .expect("start")
}

/// Runs a blocking client against `broker` off the async runtime.
async fn with_client<T: Send + 'static>(
    broker: &ServerHandle,
    client: impl FnOnce(String) -> T + Send + 'static,
) -> T {
    let address = broker.local_addr().to_string();
    tokio::task::spawn_blocking(move || client(address))
        .await
        .expect("client thread")
}

/// (code, text, class, method) of a connection.close or channel.close.
fn close_of(method: Method) -> (u16, String, u16, u16) {
    match method {
        Method::ConnectionClose(c) => (
            c.reply_code,
            c.reply_text.to_string(),
            c.class_id,
            c.method_id,
        ),
        Method::ChannelClose(c) => (
            c.reply_code,
            c.reply_text.to_string(),
            c.class_id,
            c.method_id,
        ),
        other => panic!("expected a close, got {other:?}"),
    }
}

fn open_channel(client: &mut RawClient, channel: u16) -> Method {
    client.send(channel, ChannelOpen::default().into());
    client.next_method()
}

fn declare(client: &mut RawClient, channel: u16, queue: &'static str) -> Method {
    let declare = QueueDeclare {
        queue: queue.into(),
        exclusive: true,
        ..Default::default()
    };
    client.send(channel, declare.into());
    client.next_method()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_max_is_proposed_in_tune_and_enforced() {
    let broker = broker_with(Limits {
        channel_max: 2,
        ..Limits::default()
    })
    .await;
    let refusal = with_client(&broker, |address| {
        let mut client = RawClient::open(&address, &[]);
        assert!(matches!(
            open_channel(&mut client, 1),
            Method::ChannelOpenOk(_)
        ));
        assert!(matches!(
            open_channel(&mut client, 2),
            Method::ChannelOpenOk(_)
        ));
        open_channel(&mut client, 3)
    })
    .await;
    // No method named, as RabbitMQ 3.10.8 with channel_max = 2 answers.
    assert_eq!(
        close_of(refusal),
        (
            530,
            "NOT_ALLOWED - number of channels opened (2) has reached the negotiated channel_max (2)"
                .into(),
            0,
            0
        )
    );
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_max_message_size_closes_the_channel() {
    let broker = broker_with(Limits {
        max_message_size: 10,
        ..Limits::default()
    })
    .await;
    let (accepted, refusal) = with_client(&broker, |address| {
        let mut client = RawClient::open(&address, &[]);
        open_channel(&mut client, 1);
        let Method::QueueDeclareOk(ok) = declare(&mut client, 1, "") else {
            panic!("declare-ok expected")
        };
        let publish = BasicPublish {
            routing_key: ok.queue.clone(),
            ..Default::default()
        };
        client.send_with_body(1, publish.clone().into(), b"0123456789");
        let get = BasicGet {
            queue: ok.queue,
            no_ack: true,
        };
        client.send(1, get.into());
        let accepted = matches!(client.next_method(), Method::BasicGetOk(_));
        client.send_with_body(1, publish.into(), b"0123456789!");
        (accepted, client.next_method())
    })
    .await;
    assert!(accepted, "a body of exactly max_message_size is accepted");
    assert_eq!(
        close_of(refusal),
        (
            406,
            "PRECONDITION_FAILED - message size 11 is larger than configured max size 10".into(),
            60,
            40
        )
    );
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_beyond_the_channel_limit_close_the_connection() {
    let broker = broker_with(Limits {
        consumers_per_channel: Some(1),
        ..Limits::default()
    })
    .await;
    let refusal = with_client(&broker, |address| {
        let mut client = RawClient::open(&address, &[]);
        open_channel(&mut client, 1);
        let Method::QueueDeclareOk(ok) = declare(&mut client, 1, "") else {
            panic!("declare-ok expected")
        };
        let consume = BasicConsume {
            queue: ok.queue,
            ..Default::default()
        };
        client.send(1, consume.clone().into());
        assert!(matches!(client.next_method(), Method::BasicConsumeOk(_)));
        client.send(1, consume.into());
        client.next_method()
    })
    .await;
    assert_eq!(
        close_of(refusal),
        (
            530,
            "NOT_ALLOWED - reached maximum (1) of consumers per channel".into(),
            60,
            20
        )
    );
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_beyond_the_vhost_limit_are_refused_but_redeclares_pass() {
    let mut limits = Limits::default();
    limits.vhost.max_queues = Some(1);
    let broker = broker_with(limits).await;
    let (redeclared, refusal) = with_client(&broker, |address| {
        let mut client = RawClient::open(&address, &[]);
        open_channel(&mut client, 1);
        assert!(matches!(
            declare(&mut client, 1, "limited-1"),
            Method::QueueDeclareOk(_)
        ));
        let redeclared = matches!(
            declare(&mut client, 1, "limited-1"),
            Method::QueueDeclareOk(_)
        );
        (redeclared, declare(&mut client, 1, "limited-2"))
    })
    .await;
    assert!(
        redeclared,
        "redeclaring an existing queue is not a new queue"
    );
    assert_eq!(
        close_of(refusal),
        (
            406,
            "PRECONDITION_FAILED - cannot declare queue 'limited-2': queue limit in vhost '/' (1) is reached"
                .into(),
            50,
            10
        )
    );
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_vhost_limit_are_refused_at_open() {
    let mut limits = Limits::default();
    limits.vhost.max_connections = Some(1);
    let broker = broker_with(limits).await;
    let (refusal, reopened) = with_client(&broker, |address| {
        let first = RawClient::open(&address, &[]);
        let refusal = match RawClient::try_open_over(connect(&address), &[]) {
            Ok(_) => panic!("a second connection must be refused"),
            Err(reply) => *reply,
        };
        drop(first);
        // The broker sees the first connection go when it reads its end of stream.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let reopened = loop {
            match RawClient::try_open_over(connect(&address), &[]) {
                Ok(_) => break true,
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(_) => break false,
            }
        };
        (refusal, reopened)
    })
    .await;
    assert_eq!(
        close_of(refusal),
        (
            530,
            "NOT_ALLOWED - access to vhost '/' refused for user 'guest': connection limit (1) is reached"
                .into(),
            10,
            40
        )
    );
    assert!(reopened, "a closed connection gives its place back");
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_handshake_limit_are_closed_at_once() {
    let broker = Server::builder()
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .max_handshakes(2)
        .start()
        .await
        .expect("start");
    let (newest_closed, served_after) = with_client(&broker, |address| {
        let idle = [connect(&address), connect(&address)];
        let newest_closed = closed_without_a_word(connect(&address));
        drop(idle);
        let mut byte = [0u8; 1];
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let served_after = loop {
            let mut stream = connect(&address);
            let greeted = std::io::Write::write_all(&mut stream, PROTOCOL_HEADER).is_ok()
                && matches!(stream.read(&mut byte), Ok(1));
            if greeted || std::time::Instant::now() >= deadline {
                break greeted;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        (newest_closed, served_after)
    })
    .await;
    assert!(newest_closed, "the connection beyond the limit is closed");
    assert!(
        served_after,
        "places are given back when idle connections go"
    );
    broker.shutdown().await;
}
