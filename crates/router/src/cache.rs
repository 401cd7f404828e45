//! `RouteCache`: remembered topic routes, in the spirit of NATS' sublist cache.
//!
//! A route through a topic exchange with many `*` and `#` patterns visits dozens of trie nodes;
//! when the same routing keys come back, their destinations can be remembered instead. The cache
//! is the caller's (one per publishing channel, say), so routing through [`Bindings`] stays a
//! shared read with no lock of its own.
//!
//! # Correctness
//! Every change to a [`Bindings`] (a bind or unbind that did something, a destination removed)
//! gives it a new generation, drawn from one process-wide counter, so that no two states of any
//! two `Bindings` share one. The cache remembers the generation its entries were computed at and
//! drops them all when it is used with another one: it never answers for other bindings or for a
//! state other than the one it learnt from.
//!
//! # Cost
//! A hit is one hash of the whole key plus the copy of its destinations. A miss routes as usual,
//! then stores the key and the destinations (two allocations). The cache holds at most
//! `capacity` keys; when full it is emptied and refilled, so a stream of ever-new keys costs a
//! miss each and bounded memory. Only topic exchanges use it: direct and fanout routes are
//! already one lookup, and headers routes depend on more than the key.

use std::hash::Hash;

use foldhash::{HashMap, HashMapExt};

use crate::{Bindings, ExchangeKind};

/// Routes remembered by routing key for one [`Bindings`] state; see the module doc.
#[derive(Debug, Clone)]
pub struct RouteCache<D> {
    capacity: usize,
    /// The generation of the bindings that `routes` were computed from.
    generation: Option<u64>,
    routes: HashMap<Box<[u8]>, Box<[D]>>,
}

impl<D: Clone + Eq + Hash> RouteCache<D> {
    /// A cache of at most `capacity` routing keys (0 caches nothing).
    pub fn new(capacity: usize) -> Self {
        RouteCache {
            capacity,
            generation: None,
            routes: HashMap::new(),
        }
    }

    /// How many routing keys are remembered.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// [`Bindings::route`], answered from the cache when `bindings` is still in the state the
    /// cache learnt from and has seen `routing_key`.
    pub fn route(
        &mut self,
        bindings: &Bindings<D>,
        routing_key: &[u8],
        headers: Option<&warren_wire::FieldTable>,
        out: &mut Vec<D>,
    ) {
        if bindings.kind() != ExchangeKind::Topic || self.capacity == 0 {
            bindings.route(routing_key, headers, out);
            return;
        }
        if self.generation != Some(bindings.generation()) {
            self.routes.clear();
            self.generation = Some(bindings.generation());
        }
        if let Some(dests) = self.routes.get(routing_key) {
            out.extend(dests.iter().cloned());
            return;
        }
        let start = out.len();
        bindings.route(routing_key, headers, out);
        if self.routes.len() >= self.capacity {
            self.routes.clear();
        }
        self.routes.insert(routing_key.into(), out[start..].into());
    }
}
