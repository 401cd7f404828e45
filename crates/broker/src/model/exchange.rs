//! Exchanges: a name, a kind, and the bindings whose source it is.
//!
//! The matching itself lives in `warren-router`; an exchange wraps its bindings in a lock and
//! knows what its destinations are (queues, or other exchanges for exchange-to-exchange
//! bindings), compared by identity.
//!
//! A topic exchange routes through a [`TopicAutomaton`] of its own, which learns the trie's
//! walk as steps per key word and remembers where the last keys ended: a route that comes again
//! costs a hash of the key instead of a walk through dozens of trie nodes. Publishers share it
//! behind a mutex they only *try*: one that finds it taken walks the trie instead, so no
//! publisher waits for another. Its learnt routes hold destinations, so every change of the
//! bindings empties it at once (a deleted queue must not stay alive in it).

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use warren_router::{Bindings, ExchangeKind, TopicAutomaton};
use warren_wire::{FieldTable, FieldValue, ShortStr};

use crate::model::queue::Queue;

#[derive(Debug)]
pub struct Exchange {
    pub name: ShortStr,
    pub kind: ExchangeKind,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: FieldTable,
    /// The `alternate-exchange` argument: where messages go that this exchange's own bindings
    /// do not route.
    pub alternate: Option<ShortStr>,
    bindings: RwLock<Bindings<Destination>>,
    /// A topic exchange's learnt routes; `None` for the other kinds.
    automaton: Option<Mutex<TopicAutomaton<Destination>>>,
    /// RabbitMQ's `publish_in` (messages published to it) and `publish_out` (those it routed
    /// to at least one queue), added by publishing sessions once per batch.
    published: [AtomicU64; 2],
    /// Who declared it (RabbitMQ's `user_who_performed_action`); [`INTERNAL_USER`] for the
    /// exchanges every vhost has and those of a definitions file read at start.
    pub declared_by: ShortStr,
}

/// RabbitMQ's name for the broker itself acting.
pub const INTERNAL_USER: &str = "rmq-internal";

/// The most states a topic exchange's automaton learns before it starts again (see
/// `TopicAutomaton`: it also remembers up to that many recent keys, in at most 1 MiB, and their
/// own destinations, at most 8 per state: 1 MiB of `Destination`s).
const AUTOMATON_STATES: usize = 8_192;

impl Exchange {
    pub fn new(
        name: ShortStr,
        kind: ExchangeKind,
        durable: bool,
        auto_delete: bool,
        internal: bool,
        arguments: FieldTable,
        declared_by: ShortStr,
    ) -> Self {
        let alternate = arguments
            .get(b"alternate-exchange")
            .and_then(FieldValue::as_bytes)
            .and_then(|name| ShortStr::try_from_bytes(Bytes::copy_from_slice(name)).ok());
        Exchange {
            name,
            kind,
            durable,
            auto_delete,
            internal,
            arguments,
            alternate,
            bindings: RwLock::new(Bindings::new(kind)),
            automaton: (kind == ExchangeKind::Topic)
                .then(|| Mutex::new(TopicAutomaton::new(AUTOMATON_STATES))),
            published: Default::default(),
            declared_by,
        }
    }

    pub fn bindings(&self) -> RwLockReadGuard<'_, Bindings<Destination>> {
        self.bindings.read()
    }

    /// Changes the bindings under their write lock, and empties the automaton if they changed.
    pub fn change_bindings<R>(&self, change: impl FnOnce(&mut Bindings<Destination>) -> R) -> R {
        let mut bindings = self.bindings.write();
        let before = bindings.generation();
        let result = change(&mut bindings);
        if bindings.generation() != before {
            if let Some(automaton) = &self.automaton {
                // No publisher holds it: they take it only under the bindings' read lock.
                automaton.lock().clear();
            }
        }
        result
    }

    /// Appends the destinations of this exchange's own bindings that a message with
    /// `routing_key` and `headers` reaches.
    pub fn route(
        &self,
        routing_key: &[u8],
        headers: Option<&FieldTable>,
        out: &mut Vec<Destination>,
    ) {
        let bindings = self.bindings.read();
        match self.automaton.as_ref().and_then(Mutex::try_lock) {
            Some(mut automaton) => automaton.route(&bindings, routing_key, headers, out),
            None => bindings.route(routing_key, headers, out),
        }
    }

    /// Adds `publish_in` messages published here, `publish_out` of which went to a queue.
    pub fn count_published(&self, publish_in: u64, publish_out: u64) {
        self.published[0].fetch_add(publish_in, Ordering::Relaxed);
        self.published[1].fetch_add(publish_out, Ordering::Relaxed);
    }

    /// `(publish_in, publish_out)` so far.
    pub fn published(&self) -> (u64, u64) {
        let [publish_in, publish_out] = &self.published;
        (
            publish_in.load(Ordering::Relaxed),
            publish_out.load(Ordering::Relaxed),
        )
    }

    /// The default exchange: nameless, direct, with an implicit binding to every queue by name.
    pub fn is_default(&self) -> bool {
        self.name.is_empty()
    }
}

/// A publisher's count of its publishes to the exchange it published to last, added to that
/// exchange's counters when it publishes to another or its batch ends ([`PublishTally::flush`]):
/// one atomic add per batch, not per message.
#[derive(Debug, Default)]
pub struct PublishTally(Option<(Arc<Exchange>, u64, u64)>);

impl PublishTally {
    /// One message published to `exchange`, which went to at least one queue if `routed`.
    pub fn count(&mut self, exchange: &Arc<Exchange>, routed: bool) {
        if !self
            .0
            .as_ref()
            .is_some_and(|(x, _, _)| Arc::ptr_eq(x, exchange))
        {
            self.flush();
        }
        let (_, publish_in, publish_out) =
            self.0.get_or_insert_with(|| (Arc::clone(exchange), 0, 0));
        *publish_in += 1;
        *publish_out += u64::from(routed);
    }

    pub fn flush(&mut self) {
        if let Some((exchange, publish_in, publish_out)) = self.0.take() {
            exchange.count_published(publish_in, publish_out);
        }
    }
}

/// Where a binding leads.
#[derive(Debug, Clone)]
pub enum Destination {
    Queue(Arc<Queue>),
    Exchange(Arc<Exchange>),
}

impl PartialEq for Destination {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Destination::Queue(a), Destination::Queue(b)) => Arc::ptr_eq(a, b),
            (Destination::Exchange(a), Destination::Exchange(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for Destination {}

impl Hash for Destination {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Destination::Queue(q) => (0u8, Arc::as_ptr(q) as usize).hash(state),
            Destination::Exchange(x) => (1u8, Arc::as_ptr(x) as usize).hash(state),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use warren_router::ExchangeKind;
    use warren_wire::{FieldTable, ShortStr};

    use super::{Destination, Exchange};

    fn exchange(name: &'static str, kind: ExchangeKind) -> Arc<Exchange> {
        let name = ShortStr::from(name);
        Arc::new(Exchange::new(
            name,
            kind,
            false,
            false,
            false,
            FieldTable::new(),
            ShortStr::from_static(super::INTERNAL_USER),
        ))
    }

    #[test]
    fn a_change_of_bindings_lets_go_of_the_destinations_routes_learnt() {
        let source = exchange("source", ExchangeKind::Topic);
        let target = exchange("target", ExchangeKind::Fanout);
        let pattern = ShortStr::from("config.users.*.#");
        let no_arguments = FieldTable::new();
        let bound = Destination::Exchange(Arc::clone(&target));
        source
            .change_bindings(|bindings| bindings.bind(&pattern, &no_arguments, bound.clone()))
            .expect("a topic exchange takes any arguments");
        let routed = |key: &[u8]| {
            let mut out = Vec::new();
            source.route(key, None, &mut out);
            out.len()
        };
        for _ in 0..3 {
            assert_eq!(routed(b"config.users.42.forwards.busy.updated"), 1);
        }
        assert!(
            Arc::strong_count(&target) > 3,
            "held here, by `bound`, by the binding and by the automaton's learnt route"
        );
        source.change_bindings(|bindings| bindings.unbind(&pattern, &no_arguments, &bound));
        assert_eq!(routed(b"config.users.42.forwards.busy.updated"), 0);
        assert_eq!(
            Arc::strong_count(&target),
            2,
            "the automaton let go of it with the binding"
        );
    }
}
