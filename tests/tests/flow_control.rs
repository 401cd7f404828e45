//! The memory alarm: above the high watermark, publishers are blocked (and told, if they
//! announced `connection.blocked`), while consumers go on.

use std::net::SocketAddr;

use warren_server::{Server, ServerHandle, Watermark};
use warren_tests::RawClient;
use warren_wire::{BasicConsume, BasicPublish, ChannelOpen, Method, QueueDeclare};

/// A broker whose alarm is raised at once: one byte is always exceeded.
async fn alarmed_broker() -> ServerHandle {
    Server::builder()
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .memory_high_watermark(Watermark::Bytes(1))
        .start()
        .await
        .expect("start")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_is_told_it_is_blocked_and_a_consumer_goes_on() {
    let broker = alarmed_broker().await;
    let address = broker.local_addr().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await; // a few sweeps: alarm raised

    let blocked = tokio::task::spawn_blocking({
        let address = address.clone();
        move || {
            let mut publisher = RawClient::open(&address, &["connection.blocked"]);
            publisher.send(1, ChannelOpen::default().into());
            assert!(matches!(publisher.next_method(), Method::ChannelOpenOk(_)));
            let publish = BasicPublish {
                exchange: "xivo".into(),
                routing_key: "calls.call.created".into(),
                ..Default::default()
            };
            publisher.send_with_body(1, publish.clone().into(), b"{}");
            // The next frame it reads is blocked before the broker reads anything more from it.
            publisher.send_with_body(1, publish.into(), b"{}");
            publisher.next_method()
        }
    })
    .await
    .expect("publisher thread");
    match blocked {
        Method::ConnectionBlocked(blocked) => assert_eq!(blocked.reason, "low on memory"),
        other => panic!("expected connection.blocked, got {other:?}"),
    }

    let consumer_works = tokio::task::spawn_blocking(move || {
        let mut consumer = RawClient::open(&address, &["connection.blocked"]);
        consumer.send(1, ChannelOpen::default().into());
        assert!(matches!(consumer.next_method(), Method::ChannelOpenOk(_)));
        consumer.send(
            1,
            QueueDeclare {
                exclusive: true,
                ..Default::default()
            }
            .into(),
        );
        matches!(consumer.next_method(), Method::QueueDeclareOk(_))
    })
    .await
    .expect("consumer thread");
    assert!(
        consumer_works,
        "a connection that does not publish is not blocked"
    );
    broker.shutdown().await;
}

/// A no-ack consumer that never reads its socket holds the broker back by a bounded window:
/// the rest waits in the queue (where the memory alarm can see it), not in its connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_ack_consumer_that_does_not_read_leaves_messages_in_the_queue() {
    const MESSAGES: u32 = 20_000;
    static BODY: [u8; 1024] = [b'x'; 1024];
    let broker = warren::start_local().await.expect("start");
    let address = broker.local_addr().to_string();
    let ready = tokio::task::spawn_blocking(move || {
        let mut stalled = RawClient::open(&address, &[]);
        stalled.send(1, ChannelOpen::default().into());
        assert!(matches!(stalled.next_method(), Method::ChannelOpenOk(_)));
        let declare = QueueDeclare {
            queue: "backlog".into(),
            ..Default::default()
        };
        stalled.send(1, declare.into());
        assert!(matches!(stalled.next_method(), Method::QueueDeclareOk(_)));
        let consume = BasicConsume {
            queue: "backlog".into(),
            no_ack: true,
            ..Default::default()
        };
        stalled.send(1, consume.into());
        assert!(matches!(stalled.next_method(), Method::BasicConsumeOk(_)));
        // From here on, `stalled` reads nothing.

        let mut publisher = RawClient::open(&address, &[]);
        publisher.send(1, ChannelOpen::default().into());
        assert!(matches!(publisher.next_method(), Method::ChannelOpenOk(_)));
        for _ in 0..MESSAGES {
            let publish = BasicPublish {
                routing_key: "backlog".into(),
                ..Default::default()
            };
            publisher.send_with_body(1, publish.into(), &BODY);
        }
        let passive = QueueDeclare {
            queue: "backlog".into(),
            passive: true,
            ..Default::default()
        };
        publisher.send(1, passive.into());
        let Method::QueueDeclareOk(ok) = publisher.next_method() else {
            panic!("expected declare-ok")
        };
        drop(stalled);
        ok.message_count
    })
    .await
    .expect("clients");
    // At most the window, the connection's output bound and the socket buffers left the queue.
    assert!(
        ready > MESSAGES / 2,
        "only {ready} of {MESSAGES} messages still in the queue"
    );
    broker.shutdown().await;
}
