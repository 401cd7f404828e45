//! Exchanges: a name, a kind, and the bindings whose source it is.
//!
//! The matching itself lives in `warren-router`; an exchange wraps its bindings in a lock and
//! knows what its destinations are (queues, or other exchanges for exchange-to-exchange
//! bindings), compared by identity.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;
use warren_router::{Bindings, ExchangeKind};
use warren_wire::{FieldTable, FieldValue, ShortStr};

use crate::queue::Queue;

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
    pub bindings: RwLock<Bindings<Destination>>,
}

impl Exchange {
    pub fn new(
        name: ShortStr,
        kind: ExchangeKind,
        durable: bool,
        auto_delete: bool,
        internal: bool,
        arguments: FieldTable,
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
        }
    }

    /// The default exchange: nameless, direct, with an implicit binding to every queue by name.
    pub fn is_default(&self) -> bool {
        self.name.is_empty()
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
