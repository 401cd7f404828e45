//! The model driven directly, as any door drives it: no session, no socket, no frames.
//! Declare, bind, publish, consume with credit, ack, requeue, TTL and dead-lettering.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use warren_broker::model::consumer::Consumer;
use warren_broker::model::exchange::Destination;
use warren_broker::model::message::Message;
use warren_broker::model::queue::{Delivery, DeliverySink, Queue};
use warren_broker::model::vhost::{ExchangeSpec, QueueSpec, RouteScratch, VHost};
use warren_broker::{Broker, BrokerConfig};
use warren_router::ExchangeKind;
use warren_wire::{BasicProperties, ContentHeader, FieldTable, FieldValue, ShortStr};

/// A door of the test's own: it keeps what it is handed.
#[derive(Debug, Default)]
struct Inbox {
    deliveries: Mutex<Vec<Delivery>>,
    cancelled: Mutex<Vec<Arc<Consumer>>>,
}

impl DeliverySink for Inbox {
    fn deliver(&self, delivery: Delivery) {
        self.deliveries.lock().push(delivery);
    }
    fn cancelled(&self, consumer: Arc<Consumer>) {
        self.cancelled.lock().push(consumer);
    }
}

impl Inbox {
    fn take(&self) -> Vec<Delivery> {
        std::mem::take(&mut *self.deliveries.lock())
    }
}

fn vhost() -> (Arc<Broker>, Arc<VHost>) {
    let broker = Broker::new(BrokerConfig::default());
    let vhost = broker.vhost(b"/").expect("the default vhost");
    (broker, vhost)
}

fn declare_queue(vhost: &VHost, name: &'static str, arguments: FieldTable) -> Arc<Queue> {
    let spec = QueueSpec {
        name: name.into(),
        server_named: false,
        durable: false,
        exclusive: false,
        auto_delete: false,
        arguments,
    };
    let (queue, created) = vhost.declare_queue(spec, 1).expect("declared");
    assert!(created);
    queue
}

fn declare_exchange(vhost: &VHost, name: &'static str, kind: ExchangeKind) {
    let spec = ExchangeSpec {
        name: name.into(),
        kind,
        durable: false,
        auto_delete: false,
        internal: false,
        arguments: FieldTable::new(),
    };
    vhost
        .declare_exchange(spec, false, &ShortStr::from_static("test"))
        .expect("declared");
}

fn bind(vhost: &VHost, exchange: &str, queue: &Arc<Queue>, key: &'static str) {
    let destination = Destination::Queue(Arc::clone(queue));
    vhost
        .bind(
            exchange.as_bytes(),
            destination,
            &key.into(),
            &FieldTable::new(),
        )
        .expect("bound");
}

/// Publishes `body` to `exchange` with `routing_key`: routes it, enqueues it in every queue
/// it reaches, and returns how many that was.
fn publish(vhost: &VHost, exchange: &'static str, routing_key: &'static str, body: &str) -> usize {
    let header = ContentHeader::new(60, body.len() as u64, BasicProperties::default());
    let body = Bytes::copy_from_slice(body.as_bytes());
    let mut message = Arc::new(Message::new(
        exchange.as_bytes(),
        routing_key.as_bytes(),
        &header,
        body,
        None,
    ));
    let exchange = vhost.exchange(exchange.as_bytes()).expect("exchange");
    let (mut scratch, mut queues) = (RouteScratch::default(), Vec::new());
    vhost.route(
        &exchange,
        message.routing_key(),
        None,
        &mut scratch,
        &mut queues,
    );
    for queue in &queues {
        queue.publish(&mut message, false);
    }
    queues.len()
}

fn consumer(prefetch: u16) -> Arc<Consumer> {
    Arc::new(Consumer::new(ShortStr::from_static("model-test"), prefetch))
}

fn bodies(deliveries: &[Delivery]) -> Vec<&[u8]> {
    deliveries
        .iter()
        .map(|d| d.message.message.body().as_ref())
        .collect()
}

#[test]
fn the_wazo_exchanges_are_in_the_vhost_the_broker_starts_with_only() {
    let (broker, root) = vhost();
    assert!(broker.add_vhost("later"));
    let later = broker.vhost(b"later").expect("just added");
    for name in [&b"xivo"[..], b"wazo-headers"] {
        assert!(root.exchange(name).is_ok());
        assert!(later.exchange(name).is_err());
    }
    assert!(later.exchange(b"amq.topic").is_ok());
}

#[test]
fn a_topic_publish_reaches_a_consumer_that_acks_within_its_credit() {
    let (_broker, vhost) = vhost();
    let calls = declare_queue(&vhost, "calls", FieldTable::new());
    bind(&vhost, "xivo", &calls, "calls.*.created");
    assert_eq!(publish(&vhost, "xivo", "calls.call.created", "one"), 1);
    assert_eq!(publish(&vhost, "xivo", "calls.call.ended", "nowhere"), 0);
    assert_eq!(publish(&vhost, "xivo", "calls.call.created", "two"), 1);

    let inbox = Arc::new(Inbox::default());
    calls
        .add_consumer(consumer(1), inbox.clone())
        .expect("consumes");
    let first = inbox.take();
    assert_eq!(bodies(&first), [b"one"], "one at a time: prefetch 1");
    assert_eq!(calls.message_count(), 1);
    first.into_iter().for_each(Delivery::ack);
    let second = inbox.take();
    assert_eq!(bodies(&second), [b"two"], "the ack made room for the next");
    second.into_iter().for_each(Delivery::requeue);
    let again = inbox.take();
    assert_eq!(bodies(&again), [b"two"]);
    assert!(again[0].message.redelivered());
}

#[test]
fn a_message_whose_ttl_runs_out_is_dead_lettered_with_its_story() {
    let (broker, vhost) = vhost();
    declare_exchange(&vhost, "dlx", ExchangeKind::Fanout);
    let dead = declare_queue(&vhost, "dead", FieldTable::new());
    bind(&vhost, "dlx", &dead, "");
    let mut arguments = FieldTable::new();
    arguments.insert("x-message-ttl", FieldValue::I32(1_000));
    arguments.insert("x-dead-letter-exchange", FieldValue::LongStr("dlx".into()));
    let waiting = declare_queue(&vhost, "waiting", arguments);
    assert_eq!(publish(&vhost, "", "waiting", "late"), 1);

    broker.sweep(Instant::now() + Duration::from_millis(500));
    assert_eq!((waiting.message_count(), dead.message_count()), (1, 0));
    broker.sweep(Instant::now() + Duration::from_secs(2));
    assert_eq!((waiting.message_count(), dead.message_count()), (0, 1));

    let (message, _) = dead.get(true).expect("dead-lettered");
    assert_eq!(message.message.body().as_ref(), b"late");
    let headers = message.message.properties().headers.expect("x-death");
    let Some(FieldValue::Array(deaths)) = headers.get(b"x-death") else {
        panic!("no x-death in {headers:?}");
    };
    let Some(FieldValue::Table(death)) = deaths.first() else {
        panic!("x-death is {deaths:?}");
    };
    let text = |key: &[u8]| death.get(key).and_then(FieldValue::as_bytes);
    assert_eq!(text(b"reason"), Some(&b"expired"[..]));
    assert_eq!(text(b"queue"), Some(&b"waiting"[..]));
}

#[test]
fn a_rejected_delivery_is_dead_lettered_and_a_deleted_queue_cancels_its_consumers() {
    let (_broker, vhost) = vhost();
    declare_exchange(&vhost, "dlx", ExchangeKind::Fanout);
    let dead = declare_queue(&vhost, "dead", FieldTable::new());
    bind(&vhost, "dlx", &dead, "");
    let mut arguments = FieldTable::new();
    arguments.insert("x-dead-letter-exchange", FieldValue::LongStr("dlx".into()));
    let work = declare_queue(&vhost, "work", arguments);
    let inbox = Arc::new(Inbox::default());
    let worker = consumer(0);
    work.add_consumer(Arc::clone(&worker), inbox.clone())
        .expect("consumes");
    publish(&vhost, "", "work", "poison");
    inbox.take().into_iter().for_each(Delivery::reject);
    assert_eq!(dead.message_count(), 1);

    assert_eq!(vhost.delete_queue(b"work", 1, false, false), Ok(0));
    let cancelled = inbox.cancelled.lock();
    assert!(matches!(cancelled.as_slice(), [c] if Arc::ptr_eq(c, &worker)));
    assert!(worker.is_cancelled());
    assert!(vhost.queue(b"work").is_err());
}
