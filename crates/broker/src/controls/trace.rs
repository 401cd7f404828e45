//! The routing trace as a test reads it: the vhost's last publishes (`model::trace`), each with
//! the bindings it went through to each queue it reached. The path is worked out when the trace
//! is read, from the bindings as they are then (a publish pays only for keeping the entry): a
//! route whose bindings have gone since is said to be unknown, not guessed.

use std::collections::VecDeque;
use std::sync::Arc;

use foldhash::HashMap;
use warren_wire::{FieldTable, ShortStr};

use super::ControlError;
use crate::model::exchange::Exchange;
use crate::model::snapshot::{bindings_of, BindingSnapshot, DestinationName};
use crate::model::trace::Traced;
use crate::model::vhost::VHost;
use crate::Broker;

/// One step of a route: a binding, or an exchange handing what it could not route to its
/// alternate exchange.
#[derive(Debug, Clone)]
pub struct Hop {
    pub binding: BindingSnapshot,
    pub alternate: bool,
}

/// A queue a publish reached, and through what (`None`: the bindings it took are gone).
#[derive(Debug, Clone)]
pub struct Route {
    pub queue: ShortStr,
    pub via: Option<Vec<Hop>>,
}

/// One publish of the trace, with its routes (none: it was unroutable).
#[derive(Debug, Clone)]
pub struct TracedPublish {
    pub publish: Traced,
    pub routes: Vec<Route>,
}

impl Broker {
    /// The last `limit` publishes of `vhost` (to `exchange` only, if given), newest first.
    pub fn trace(
        &self,
        vhost: &str,
        exchange: Option<&str>,
        limit: usize,
    ) -> Result<Vec<TracedPublish>, ControlError> {
        let vhost = self.control_vhost(vhost)?;
        let latest = vhost.trace().latest(exchange.map(str::as_bytes), limit);
        let mut bindings = BindingsSeen::default();
        Ok(latest
            .into_iter()
            .map(|publish| {
                let mut paths = paths(&vhost, &publish, &mut bindings);
                let routes = publish
                    .queues
                    .iter()
                    .map(|queue| Route {
                        queue: queue.clone(),
                        via: paths.remove(queue),
                    })
                    .collect();
                TracedPublish { publish, routes }
            })
            .collect())
    }
}

/// Each exchange's bindings, read once per trace request.
#[derive(Default)]
struct BindingsSeen(HashMap<ShortStr, Vec<BindingSnapshot>>);

impl BindingsSeen {
    fn of(&mut self, exchange: &Exchange) -> &[BindingSnapshot] {
        self.0
            .entry(exchange.name.clone())
            .or_insert_with(|| bindings_of(exchange))
    }
}

/// The path to each queue `publish` reached, breadth first from the exchange it was published
/// to, as `VHost::route` goes: matching bindings, exchange-to-exchange bindings (each exchange
/// once), and the alternate exchange where nothing matched.
fn paths(vhost: &VHost, publish: &Traced, seen: &mut BindingsSeen) -> HashMap<ShortStr, Vec<Hop>> {
    let mut found = HashMap::default();
    let key: &[u8] = &publish.routing_key;
    if publish.exchange.is_empty() {
        let Ok(queue) = ShortStr::try_from_bytes(bytes::Bytes::copy_from_slice(key)) else {
            return found;
        };
        let binding = BindingSnapshot {
            source: ShortStr::from_static(""),
            destination: DestinationName::Queue(queue.clone()),
            routing_key: queue.clone(),
            arguments: FieldTable::new(),
        };
        found.insert(
            queue,
            vec![Hop {
                binding,
                alternate: false,
            }],
        );
        return found;
    }
    let headers = publish.properties.as_ref().and_then(|p| p.headers.as_ref());
    let reached = |name: &ShortStr| publish.queues.contains(name);
    let Ok(start) = vhost.exchange(&publish.exchange) else {
        return found;
    };
    let mut visited = vec![start.name.clone()];
    let mut pending: VecDeque<(Arc<Exchange>, Vec<Hop>)> = VecDeque::from([(start, Vec::new())]);
    while let Some((exchange, path)) = pending.pop_front() {
        let matched: Vec<Hop> = seen
            .of(&exchange)
            .iter()
            .filter(|b| match &b.destination {
                DestinationName::Queue(queue) => reached(queue),
                DestinationName::Exchange(_) => true,
            })
            .filter(|b| {
                let kind = exchange.kind;
                kind.binding_matches(&b.routing_key, &b.arguments, key, headers)
            })
            .map(|binding| Hop {
                binding: binding.clone(),
                alternate: false,
            })
            .collect();
        let hops = if matched.is_empty() {
            alternate_hop(&exchange, key).into_iter().collect()
        } else {
            matched
        };
        for hop in hops {
            let mut to_here = path.clone();
            let destination = hop.binding.destination.clone();
            to_here.push(hop);
            match destination {
                DestinationName::Queue(queue) => {
                    found.entry(queue).or_insert(to_here);
                }
                DestinationName::Exchange(next) if !visited.contains(&next) => {
                    if let Ok(next_exchange) = vhost.exchange(next.as_bytes()) {
                        visited.push(next);
                        pending.push_back((next_exchange, to_here));
                    }
                }
                DestinationName::Exchange(_) => {}
            }
        }
    }
    found
}

/// The step to `exchange`'s alternate exchange, if it has one.
fn alternate_hop(exchange: &Exchange, key: &[u8]) -> Option<Hop> {
    let alternate = exchange.alternate.clone()?;
    let routing_key = ShortStr::try_from_bytes(bytes::Bytes::copy_from_slice(key)).ok()?;
    Some(Hop {
        binding: BindingSnapshot {
            source: exchange.name.clone(),
            destination: DestinationName::Exchange(alternate),
            routing_key,
            arguments: FieldTable::new(),
        },
        alternate: true,
    })
}
