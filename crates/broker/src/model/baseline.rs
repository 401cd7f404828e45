//! What a vhost held when it started (its exchanges, queues and bindings), which the test
//! controls' reset brings it back to: taken once the broker has declared its configured
//! topology, or when a vhost is made later.

use warren_wire::ShortStr;

use crate::model::exchange::Destination;
use crate::model::snapshot::{bindings_of, BindingSnapshot};
use crate::model::vhost::{ExchangeSpec, QueueSpec, VHost};

#[derive(Debug, Clone, Default)]
pub struct Baseline {
    pub exchanges: Vec<ExchangeSpec>,
    pub queues: Vec<QueueSpec>,
    pub bindings: Vec<BindingSnapshot>,
}

impl Baseline {
    /// What `vhost` holds now (exclusive queues, a connection's own, are not part of it).
    pub fn of(vhost: &VHost) -> Self {
        let exchanges = vhost.exchanges();
        let bindings = exchanges.iter().flat_map(|x| bindings_of(x)).collect();
        let queues = vhost
            .queues()
            .into_iter()
            .filter(|queue| queue.exclusive_owner.is_none())
            .map(|queue| QueueSpec {
                name: queue.name.clone(),
                server_named: false,
                durable: queue.durable,
                exclusive: false,
                auto_delete: queue.auto_delete,
                arguments: queue.arguments.clone(),
            })
            .collect();
        let exchanges = exchanges
            .iter()
            .filter(|exchange| !exchange.is_default())
            .map(|exchange| ExchangeSpec {
                name: exchange.name.clone(),
                kind: exchange.kind,
                durable: exchange.durable,
                auto_delete: exchange.auto_delete,
                internal: exchange.internal,
                arguments: exchange.arguments.clone(),
            })
            .collect();
        Baseline {
            exchanges,
            queues,
            bindings,
        }
    }

    pub fn has_exchange(&self, name: &ShortStr) -> bool {
        self.exchanges.iter().any(|x| x.name == *name)
    }

    pub fn has_queue(&self, name: &ShortStr) -> bool {
        self.queues.iter().any(|q| q.name == *name)
    }

    /// Whether this binding (source, destination, key and arguments) was there at start.
    pub fn has_binding(&self, binding: &BindingSnapshot) -> bool {
        self.bindings.iter().any(|b| {
            b.source == binding.source
                && b.destination == binding.destination
                && b.routing_key == binding.routing_key
                && b.arguments == binding.arguments
        })
    }
}

/// A binding's destination, looked up by name in `vhost` (None: it is gone).
pub fn destination_in(vhost: &VHost, binding: &BindingSnapshot) -> Option<Destination> {
    use crate::model::snapshot::DestinationName;
    match &binding.destination {
        DestinationName::Queue(name) => vhost.queue(name.as_bytes()).ok().map(Destination::Queue),
        DestinationName::Exchange(name) => vhost
            .exchange(name.as_bytes())
            .ok()
            .map(Destination::Exchange),
    }
}
