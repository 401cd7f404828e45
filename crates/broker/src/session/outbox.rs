//! A session's inbox for work from other tasks: what queues hand its consumers, with a wake-up
//! for the task that pumps the session. It is the AMQP door's [`DeliverySink`]: the delivery
//! tag is assigned, and the frames written, only when the session drains it, so delivery tags
//! stay the business of the one task that owns the channel.

use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::model::connections::{Control, Request};
use crate::model::consumer::Consumer;
use crate::model::queue::{Delivery, DeliverySink};

/// Work that other tasks hand to a session.
#[derive(Debug)]
pub enum Outgoing {
    /// A queue chose this consumer for a message; the consumer's room is already reserved.
    Deliver(Delivery),
    /// The broker cancelled the consumer (its queue was deleted, or a management request): the
    /// client is told with `basic.cancel` if it said it understands it
    /// (`consumer_cancel_notify`).
    Cancelled(Arc<Consumer>),
}

#[derive(Debug, Default)]
pub struct Outbox {
    items: Mutex<Vec<Outgoing>>,
    notify: Notify,
    /// What other doors ask of the session; taken even while deliveries are held back.
    requests: Mutex<Vec<Request>>,
    requested: Notify,
}

impl Outbox {
    fn push(&self, item: Outgoing) {
        self.items.lock().push(item);
        self.notify.notify_one();
    }

    /// Moves everything waiting into `into` (emptied first), keeping the allocation of both.
    pub fn take_into(&self, into: &mut Vec<Outgoing>) {
        into.clear();
        std::mem::swap(&mut *self.items.lock(), into);
    }

    /// Resolves when something was pushed since the last call (a push before the call counts).
    pub async fn notified(&self) {
        self.notify.notified().await
    }

    /// Resolves when a request came since the last call (a request before the call counts).
    pub async fn requested(&self) {
        self.requested.notified().await
    }

    pub fn take_requests(&self) -> Vec<Request> {
        std::mem::take(&mut *self.requests.lock())
    }
}

impl Control for Outbox {
    fn request(&self, request: Request) {
        self.requests.lock().push(request);
        self.requested.notify_one();
    }
}

impl DeliverySink for Outbox {
    fn deliver(&self, delivery: Delivery) {
        self.push(Outgoing::Deliver(delivery));
    }

    fn cancelled(&self, consumer: Arc<Consumer>) {
        self.push(Outgoing::Cancelled(consumer));
    }
}
