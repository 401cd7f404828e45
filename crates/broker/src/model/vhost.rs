//! A virtual host: its exchanges, its queues and the rules for declaring, binding and deleting
//! them, with the reply codes and texts RabbitMQ uses.
//!
//! The locks it holds are in the model's one lock order (`model/mod.rs`).

use std::sync::{Arc, Weak};
use std::time::Instant;

use foldhash::HashMap;
use parking_lot::{Mutex, RwLock};
use warren_router::ExchangeKind;
use warren_wire::{FieldTable, FieldValue, ShortStr};

use crate::error::{AmqpError, AmqpResult};
use crate::limits::{Limits, VHostLimits};
use crate::model::admission::{Admission, ConnectionCount};
use crate::model::arguments::QueueArguments;
use crate::model::changes::Changes;
use crate::model::dead_letter::{dead_lettered, is_cycle, DeadLetterTarget, DeathReason};
use crate::model::exchange::{Destination, Exchange, INTERNAL_USER};
use crate::model::message::QueuedMessage;
use crate::model::names;
use crate::model::queue::{no_queue_text, Attached, ConnectionId, Queue, QueueHost, QueueOptions};
use crate::model::stats::{Churn, ChurnEvent, MessageStats, SharedCounters};
use crate::model::trace::Trace;

/// The exchanges every vhost starts with, RabbitMQ's standard ones.
const PREDECLARED_EXCHANGES: &[(&str, ExchangeKind)] = &[
    ("", ExchangeKind::Direct),
    ("amq.direct", ExchangeKind::Direct),
    ("amq.fanout", ExchangeKind::Fanout),
    ("amq.topic", ExchangeKind::Topic),
    ("amq.headers", ExchangeKind::Headers),
    ("amq.match", ExchangeKind::Headers),
];

/// The two exchanges the Wazo bus expects to exist before anyone declares them (Asterisk
/// publishes to `wazo-headers` unasked). The broker starts with them in `/`, where a Wazo
/// stack's setup declares them on RabbitMQ; a vhost made later has RabbitMQ's exchanges
/// only, as on RabbitMQ (so that its definitions export lists what was declared in it).
pub const WAZO_EXCHANGES: &[(&str, ExchangeKind)] = &[
    ("xivo", ExchangeKind::Topic),
    ("wazo-headers", ExchangeKind::Headers),
];

/// A durable exchange that the broker declares itself.
fn predeclared(name: &'static str, kind: ExchangeKind) -> (ShortStr, Arc<Exchange>) {
    let name = ShortStr::from_static(name);
    let internal = ShortStr::from_static(INTERNAL_USER);
    let exchange = Exchange::new(
        name.clone(),
        kind,
        true,
        false,
        false,
        FieldTable::new(),
        internal,
    );
    (name, Arc::new(exchange))
}

/// Buffers that routing reuses from one message to the next.
#[derive(Debug, Default)]
pub struct RouteScratch {
    matched: Vec<Destination>,
    pending: Vec<Arc<Exchange>>,
    visited: Vec<Arc<Exchange>>,
}

/// The properties an `exchange.declare` asks for.
#[derive(Debug, Clone)]
pub struct ExchangeSpec {
    pub name: ShortStr,
    pub kind: ExchangeKind,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: FieldTable,
}

/// The properties a `queue.declare` asks for (the name already chosen).
#[derive(Debug, Clone)]
pub struct QueueSpec {
    pub name: ShortStr,
    /// The broker chose the name (`amq.gen-…`), so the reserved prefix is ours to use.
    pub server_named: bool,
    pub durable: bool,
    pub exclusive: bool,
    pub auto_delete: bool,
    pub arguments: FieldTable,
}

#[derive(Debug)]
pub struct VHost {
    pub name: ShortStr,
    exchanges: RwLock<HashMap<ShortStr, Arc<Exchange>>>,
    queues: RwLock<HashMap<ShortStr, Arc<Queue>>>,
    /// Queues with `x-message-ttl` or `x-expires`, which [`VHost::sweep`] visits.
    timed_queues: Mutex<Vec<Weak<Queue>>>,
    /// This vhost, for its queues to dead-letter through.
    this: Weak<VHost>,
    limits: VHostLimits,
    connections: Arc<ConnectionCount>,
    /// What the vhost's connections counted before they closed (the open ones count on).
    retired: SharedCounters,
    /// The broker's counts of objects created and deleted (queues, here).
    churn: Arc<Churn>,
    /// What the management API says of it: a description and tags.
    metadata: Mutex<VHostMetadata>,
    /// Wakes the test controls' waits: a queue or exchange declared, a binding made.
    topology: Changes,
    /// Its last publishes and where they went.
    trace: Trace,
}

/// A vhost's description and tags (RabbitMQ's vhost metadata).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VHostMetadata {
    pub description: String,
    pub tags: Vec<String>,
}

impl VHost {
    pub fn new(name: ShortStr, limits: &Limits, churn: Arc<Churn>) -> Arc<Self> {
        let exchanges = PREDECLARED_EXCHANGES
            .iter()
            .map(|&(name, kind)| predeclared(name, kind))
            .collect();
        Arc::new_cyclic(|this| VHost {
            name,
            exchanges: RwLock::new(exchanges),
            queues: RwLock::default(),
            timed_queues: Mutex::default(),
            this: this.clone(),
            limits: limits.vhost,
            connections: Arc::default(),
            retired: SharedCounters::default(),
            churn,
            metadata: Mutex::default(),
            topology: Changes::default(),
            trace: Trace::new(limits.trace_size),
        })
    }

    /// Adds these durable exchanges (owned by no user), each unless there is one of its name.
    pub fn predeclare(&self, exchanges: &[(&'static str, ExchangeKind)]) {
        let mut present = self.exchanges.write();
        for &(name, kind) in exchanges {
            if !present.contains_key(name.as_bytes()) {
                let (name, exchange) = predeclared(name, kind);
                present.insert(name, exchange);
            }
        }
    }

    /// Its last publishes and where they went (the test controls' trace).
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// What the test controls wait on for declarations and bindings.
    pub fn topology(&self) -> &Changes {
        &self.topology
    }

    pub fn metadata(&self) -> VHostMetadata {
        self.metadata.lock().clone()
    }

    pub fn set_metadata(&self, metadata: VHostMetadata) {
        *self.metadata.lock() = metadata;
    }

    pub fn limits(&self) -> VHostLimits {
        self.limits
    }

    /// Every exchange, by name (the default one first: its name is empty).
    pub fn exchanges(&self) -> Vec<Arc<Exchange>> {
        let mut exchanges: Vec<_> = self.exchanges.read().values().cloned().collect();
        exchanges.sort_by(|a, b| a.name.cmp(&b.name));
        exchanges
    }

    /// Every queue, by name.
    pub fn queues(&self) -> Vec<Arc<Queue>> {
        let mut queues: Vec<_> = self.queues.read().values().cloned().collect();
        queues.sort_by(|a, b| a.name.cmp(&b.name));
        queues
    }

    /// Adds to the vhost's totals what no open connection counts: a closing connection's
    /// counts, a message another door published.
    pub fn retire_stats(&self, stats: &MessageStats) {
        self.retired.add(stats);
    }

    /// What the vhost's closed connections counted.
    pub fn retired_stats(&self) -> MessageStats {
        self.retired.load()
    }

    /// Counts a connection of `user` into the vhost, unless its `max-connections` is reached.
    pub fn admit(&self, user: &str) -> AmqpResult<Admission> {
        let max = self.limits.max_connections;
        Admission::admit(&self.connections, max, &self.name.to_string(), user)
    }

    pub fn exchange(&self, name: &[u8]) -> AmqpResult<Arc<Exchange>> {
        self.exchanges
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| AmqpError::not_found(self.no_exchange_text(name)))
    }

    pub fn queue(&self, name: &[u8]) -> AmqpResult<Arc<Queue>> {
        self.queues
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| AmqpError::not_found(self.no_queue_text(name)))
    }

    /// The queue, if `connection` may use it: an exclusive queue is its owner's alone (405).
    pub fn queue_for(&self, name: &[u8], connection: ConnectionId) -> AmqpResult<Arc<Queue>> {
        let queue = self.queue(name)?;
        match queue.exclusive_owner {
            Some(owner) if owner != connection => Err(locked(&queue.name, &self.name)),
            _ => Ok(queue),
        }
    }

    /// Expires messages whose TTL ran out and deletes queues whose `x-expires` did. The list
    /// is copied first and no queue's lock is taken while it is held (see the lock order in
    /// `model`): sweeping dead-letters, which may publish to (and register) other timed queues.
    pub fn sweep(&self, now: Instant) {
        let timed: Vec<Arc<Queue>> = {
            let mut list = self.timed_queues.lock();
            list.retain(|weak| weak.strong_count() > 0);
            list.iter().filter_map(Weak::upgrade).collect()
        };
        let mut deleted = Vec::new();
        for queue in timed {
            if queue.is_deleted() {
                deleted.push(queue);
            } else if queue.sweep(now) {
                tracing::info!(queue = %queue.name, "deleting queue: unused for its x-expires");
                self.remove_queue(&queue);
            }
        }
        if !deleted.is_empty() {
            let gone =
                |weak: &Weak<Queue>| deleted.iter().any(|q| Weak::as_ptr(weak) == Arc::as_ptr(q));
            self.timed_queues.lock().retain(|weak| !gone(weak));
        }
    }

    /// `exchange.declare` by `user` (who is remembered as the one who declared a new one).
    pub fn declare_exchange(
        &self,
        spec: ExchangeSpec,
        passive: bool,
        user: &ShortStr,
    ) -> AmqpResult<()> {
        if spec.name.is_empty() {
            return Err(default_exchange_refused());
        }
        if passive {
            return self.exchange(spec.name.as_bytes()).map(drop);
        }
        let mut exchanges = self.exchanges.write();
        if let Some(existing) = exchanges.get(spec.name.as_bytes()) {
            return self.exchange_equivalent(existing, &spec);
        }
        if spec.name.starts_with(b"amq.") {
            return Err(AmqpError::access_refused(format!(
                "exchange name '{}' contains reserved prefix 'amq.*'",
                spec.name
            )));
        }
        let name = spec.name.detached();
        let exchange = Exchange::new(
            name.clone(),
            spec.kind,
            spec.durable,
            spec.auto_delete,
            spec.internal,
            spec.arguments.detached(),
            user.detached(),
        );
        exchanges.insert(name, Arc::new(exchange));
        drop(exchanges);
        self.topology.changed();
        Ok(())
    }

    fn exchange_equivalent(&self, existing: &Exchange, spec: &ExchangeSpec) -> AmqpResult<()> {
        let what = format!("exchange '{}' in vhost '{}'", existing.name, self.name);
        check_same("type", existing.kind.name(), spec.kind.name(), &what)?;
        check_same("durable", existing.durable, spec.durable, &what)?;
        check_same("auto_delete", existing.auto_delete, spec.auto_delete, &what)?;
        check_same("internal", existing.internal, spec.internal, &what)?;
        check_same_argument(
            "alternate-exchange",
            &existing.arguments,
            &spec.arguments,
            &what,
        )
    }

    /// `exchange.delete`: a missing exchange is not an error (RabbitMQ answers delete-ok).
    pub fn delete_exchange(&self, name: &[u8], if_unused: bool) -> AmqpResult<()> {
        if name.is_empty() {
            return Err(default_exchange_refused());
        }
        if name.starts_with(b"amq.") {
            // Refused whether or not it exists, as in RabbitMQ.
            return Err(AmqpError::access_refused(format!(
                "deletion of system exchange '{}' in vhost '{}' not allowed",
                String::from_utf8_lossy(name),
                self.name
            )));
        }
        let Ok(exchange) = self.exchange(name) else {
            return Ok(());
        };
        if if_unused && !exchange.bindings().is_empty() {
            return Err(AmqpError::precondition_failed(format!(
                "exchange '{}' in vhost '{}' in use",
                exchange.name, self.name
            )));
        }
        self.remove_exchange(&exchange);
        Ok(())
    }

    /// `queue.declare` (not passive). Returns the queue and whether this call created it.
    pub fn declare_queue(
        &self,
        spec: QueueSpec,
        connection: ConnectionId,
    ) -> AmqpResult<(Arc<Queue>, bool)> {
        // RabbitMQ checks the name first, so redeclaring even an existing `amq.gen-` queue by
        // name is refused.
        if spec.name.starts_with(b"amq.") && !spec.server_named {
            return Err(AmqpError::access_refused(format!(
                "queue name '{}' contains reserved prefix 'amq.*'",
                spec.name
            )));
        }
        // RabbitMQ: `Durable = DurableDeclare andalso not ExclusiveDeclare`.
        let durable = spec.durable && !spec.exclusive;
        let owner = spec.exclusive.then_some(connection);
        let settings = QueueArguments::parse(&spec.arguments, &spec.name, &self.name)?;
        self.churn.count(ChurnEvent::QueueDeclared, 1);
        let mut queues = self.queues.write();
        if let Some(existing) = queues.get(spec.name.as_bytes()) {
            // RabbitMQ checks exclusivity strictly on redeclare: the owner must be the same,
            // including "no owner" on both sides.
            if existing.exclusive_owner != owner {
                return Err(locked(&existing.name, &self.name));
            }
            let what = format!("queue '{}' in vhost '{}'", existing.name, self.name);
            check_same("durable", existing.durable, durable, &what)?;
            check_same("auto_delete", existing.auto_delete, spec.auto_delete, &what)?;
            for key in EQUIVALENT_QUEUE_ARGUMENTS {
                check_same_argument(key, &existing.arguments, &spec.arguments, &what)?;
            }
            existing.touch();
            return Ok((Arc::clone(existing), false));
        }
        self.check_queue_limit(&queues, &spec.name)?;
        let timed = settings.is_timed();
        let options = QueueOptions {
            name: spec.name.detached(),
            durable,
            exclusive_owner: owner,
            auto_delete: spec.auto_delete,
            arguments: spec.arguments.detached(),
            settings,
        };
        let host: Weak<dyn QueueHost> = self.this.clone();
        let queue = Arc::new(Queue::new(options, host));
        queues.insert(queue.name.clone(), Arc::clone(&queue));
        drop(queues);
        self.topology.changed();
        self.churn.count(ChurnEvent::QueueCreated, 1);
        if timed {
            queue.mark_timed();
            self.watch_timed(&queue);
        }
        Ok((queue, true))
    }

    /// RabbitMQ's vhost `max-queues`, checked for new queues only (a redeclare goes through).
    fn check_queue_limit(
        &self,
        queues: &HashMap<ShortStr, Arc<Queue>>,
        name: &ShortStr,
    ) -> AmqpResult<()> {
        let Some(max) = self.limits.max_queues else {
            return Ok(());
        };
        if names::is_reply_to(name.as_bytes()) {
            return Ok(());
        }
        let counted = queues
            .keys()
            .filter(|name| !names::is_reply_to(name.as_bytes()))
            .count();
        if counted >= max as usize {
            return Err(AmqpError::precondition_failed(format!(
                "cannot declare queue '{name}': queue limit in vhost '{}' ({max}) is reached",
                self.name
            )));
        }
        Ok(())
    }

    /// `queue.delete`: returns the number of ready messages dropped. A missing queue is not an
    /// error (RabbitMQ 3.x answers delete-ok with a count of 0).
    pub fn delete_queue(
        &self,
        name: &[u8],
        connection: ConnectionId,
        if_unused: bool,
        if_empty: bool,
    ) -> AmqpResult<u32> {
        let queue = match self.queue_for(name, connection) {
            Ok(queue) => queue,
            Err(e) if e.code == warren_wire::reply_code::NOT_FOUND => return Ok(0),
            Err(e) => return Err(e),
        };
        let (consumers, dropped) = queue.mark_deleted_if(if_unused, if_empty)?;
        self.forget_queue(&queue, consumers);
        Ok(dropped)
    }

    /// Deletes a queue whose deletion follows from something else: its owner closed, its last
    /// consumer left an auto-delete queue.
    pub fn remove_queue(&self, queue: &Arc<Queue>) {
        let (consumers, _) = queue.mark_deleted();
        self.forget_queue(queue, consumers);
    }

    fn forget_queue(&self, queue: &Arc<Queue>, consumers: Vec<Attached>) {
        {
            let mut queues = self.queues.write();
            if queues
                .get(queue.name.as_bytes())
                .is_some_and(|q| Arc::ptr_eq(q, queue))
            {
                queues.remove(queue.name.as_bytes());
                self.churn.count(ChurnEvent::QueueDeleted, 1);
            }
        }
        for Attached { consumer, sink } in consumers {
            consumer.cancel();
            sink.cancelled(consumer);
        }
        self.remove_destination(&Destination::Queue(Arc::clone(queue)));
    }

    fn remove_exchange(&self, exchange: &Arc<Exchange>) {
        {
            let mut exchanges = self.exchanges.write();
            if exchanges
                .get(exchange.name.as_bytes())
                .is_some_and(|x| Arc::ptr_eq(x, exchange))
            {
                exchanges.remove(exchange.name.as_bytes());
            }
        }
        // Its own bindings go with it; bindings that lead to it are removed below.
        exchange
            .change_bindings(|bindings| *bindings = warren_router::Bindings::new(exchange.kind));
        self.remove_destination(&Destination::Exchange(Arc::clone(exchange)));
    }

    /// Removes every binding to `destination`, then deletes the auto-delete exchanges that were
    /// left without bindings (which may cascade).
    fn remove_destination(&self, destination: &Destination) {
        let orphans: Vec<Arc<Exchange>> = self
            .exchanges
            .read()
            .values()
            .filter(|x| {
                x.change_bindings(|bindings| {
                    bindings.remove_destination(destination) > 0
                        && x.auto_delete
                        && bindings.is_empty()
                })
            })
            .cloned()
            .collect();
        for orphan in orphans {
            self.remove_exchange(&orphan);
        }
    }

    pub fn bind(
        &self,
        source: &[u8],
        destination: Destination,
        routing_key: &ShortStr,
        arguments: &FieldTable,
    ) -> AmqpResult<()> {
        let exchange = self.exchange(source)?;
        if exchange.is_default() {
            return Err(default_exchange_refused());
        }
        exchange
            .change_bindings(|bindings| {
                bindings.bind(
                    &routing_key.detached(),
                    &arguments.detached(),
                    destination.clone(),
                )
            })
            .map_err(|e| AmqpError::precondition_failed(e.text))?;
        // A queue deleted while we bound would keep a binding nobody can remove.
        if let Destination::Queue(queue) = &destination {
            if queue.is_deleted() {
                exchange.change_bindings(|bindings| bindings.remove_destination(&destination));
            }
        }
        self.topology.changed();
        Ok(())
    }

    /// Whether that exact binding exists.
    pub fn has_binding(
        &self,
        source: &[u8],
        destination: &Destination,
        routing_key: &ShortStr,
        arguments: &FieldTable,
    ) -> bool {
        self.exchange(source).is_ok_and(|exchange| {
            exchange
                .bindings()
                .contains(routing_key, arguments, destination)
        })
    }

    pub fn unbind(
        &self,
        source: &[u8],
        destination: &Destination,
        routing_key: &ShortStr,
        arguments: &FieldTable,
    ) -> AmqpResult<()> {
        if source.is_empty() {
            return Err(default_exchange_refused());
        }
        // Unbinding from an exchange that does not exist unbinds nothing: RabbitMQ 3.x answers
        // unbind-ok, as it does for a binding that does not exist.
        let Ok(exchange) = self.exchange(source) else {
            return Ok(());
        };
        let now_empty = {
            exchange.change_bindings(|bindings| {
                bindings.unbind(routing_key, arguments, destination) && bindings.is_empty()
            })
        };
        if now_empty && exchange.auto_delete {
            self.remove_exchange(&exchange);
        }
        Ok(())
    }

    /// Every queue a message published to `exchange` reaches, each once, following
    /// exchange-to-exchange bindings and alternate exchanges (each exchange visited once, so
    /// cycles end). `scratch` keeps its allocations from one publish to the next.
    pub fn route(
        &self,
        exchange: &Arc<Exchange>,
        routing_key: &[u8],
        headers: Option<&FieldTable>,
        scratch: &mut RouteScratch,
        queues: &mut Vec<Arc<Queue>>,
    ) {
        queues.clear();
        if exchange.is_default() {
            if let Some(queue) = self.queues.read().get(routing_key) {
                queues.push(Arc::clone(queue));
            }
            return;
        }
        let RouteScratch {
            matched,
            pending,
            visited,
        } = scratch;
        visited.clear();
        visited.push(Arc::clone(exchange));
        pending.push(Arc::clone(exchange));
        let mut sources = 0;
        while let Some(exchange) = pending.pop() {
            matched.clear();
            exchange.route(routing_key, headers, matched);
            // RabbitMQ's `process_alternate`: an exchange whose bindings matched nothing hands
            // the message to its alternate exchange, if that exists.
            if matched.is_empty() {
                let alternate = exchange
                    .alternate
                    .as_ref()
                    .and_then(|name| self.exchange(name.as_bytes()).ok());
                matched.extend(alternate.map(Destination::Exchange));
            }
            let before = queues.len();
            for destination in matched.drain(..) {
                match destination {
                    Destination::Queue(queue) => queues.push(queue),
                    Destination::Exchange(next) => {
                        if !visited.iter().any(|x| Arc::ptr_eq(x, &next)) {
                            visited.push(Arc::clone(&next));
                            pending.push(next);
                        }
                    }
                }
            }
            sources += usize::from(queues.len() > before);
        }
        visited.clear();
        // One exchange's matches are distinct already; several may share queues.
        if sources > 1 {
            queues.sort_unstable_by_key(Arc::as_ptr);
            queues.dedup_by(|a, b| Arc::ptr_eq(a, b));
        }
    }

    fn no_exchange_text(&self, name: &[u8]) -> String {
        format!(
            "no exchange '{}' in vhost '{}'",
            String::from_utf8_lossy(name),
            self.name
        )
    }

    fn no_queue_text(&self, name: &[u8]) -> String {
        match ShortStr::try_from_bytes(bytes::Bytes::copy_from_slice(name)) {
            Ok(name) => no_queue_text(&name),
            Err(_) => String::from("no queue"),
        }
    }
}

impl QueueHost for VHost {
    /// Republishes what `queue` let go of to its dead-letter exchange, if it has one.
    fn dead_letter(&self, queue: &Queue, dead: Vec<(QueuedMessage, DeathReason)>) {
        let Some(exchange_name) = &queue.settings.dead_letter_exchange else {
            return;
        };
        // A dead-letter exchange that does not exist drops the messages, as in RabbitMQ.
        let Ok(exchange) = self.exchange(exchange_name.as_bytes()) else {
            return;
        };
        let target = DeadLetterTarget {
            queue: &queue.name,
            exchange: exchange_name,
            routing_key: queue.settings.dead_letter_routing_key.as_ref(),
        };
        let (mut scratch, mut targets) = (RouteScratch::default(), Vec::new());
        for (queued, reason) in dead {
            let (message, header) = dead_lettered(&queued.message, reason, target);
            let mut message = Arc::new(message);
            let headers = header.properties.headers.as_ref();
            self.route(
                &exchange,
                message.routing_key(),
                headers,
                &mut scratch,
                &mut targets,
            );
            for target in targets.drain(..) {
                if reason == DeathReason::Rejected || !is_cycle(&target.name, headers) {
                    target.publish(&mut message, false);
                }
            }
        }
    }

    /// Puts a queue on the sweep list (once): it has a TTL or holds messages that expire.
    fn watch_timed(&self, queue: &Arc<Queue>) {
        self.timed_queues.lock().push(Arc::downgrade(queue));
    }
}

/// The queue arguments whose values must match on redeclare, as RabbitMQ 3.x lists them;
/// other arguments are stored and not compared.
const EQUIVALENT_QUEUE_ARGUMENTS: &[&str] = &[
    "x-expires",
    "x-message-ttl",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-priority",
    "x-overflow",
    "x-queue-mode",
    "x-queue-type",
    "x-single-active-consumer",
];

fn check_same<T: PartialEq + std::fmt::Display>(
    field: &str,
    current: T,
    received: T,
    what: &str,
) -> AmqpResult<()> {
    if current == received {
        return Ok(());
    }
    Err(AmqpError::precondition_failed(format!(
        "inequivalent arg '{field}' for {what}: received '{received}' but current is '{current}'"
    )))
}

/// RabbitMQ's `assert_args_equivalence`: integers compare by value whatever their width, and
/// (as observed) a byte array equals the same longstr; the texts are RabbitMQ's, which print a
/// value alone when both sides have one, and `the value '…' of type '…'` against `none`.
fn check_same_argument(
    key: &str,
    current: &FieldTable,
    received: &FieldTable,
    what: &str,
) -> AmqpResult<()> {
    let (current, received) = (current.get(key.as_bytes()), received.get(key.as_bytes()));
    let (current_text, received_text) = match (current, received) {
        (None, None) => return Ok(()),
        (Some(a), Some(b)) if equivalent(a, b) => return Ok(()),
        (Some(a), Some(b)) => (
            format!("'{}'", erlang_value(a)),
            format!("'{}'", erlang_value(b)),
        ),
        (a, b) => (typed_or_none(a), typed_or_none(b)),
    };
    Err(AmqpError::precondition_failed(format!(
        "inequivalent arg '{key}' for {what}: received {received_text} but current is {current_text}"
    )))
}

/// Two argument values are the same to RabbitMQ: integers by value whatever their width, a byte
/// array as the same longstr.
pub(crate) fn equivalent(a: &FieldValue, b: &FieldValue) -> bool {
    match (a.as_i128(), b.as_i128(), a.as_bytes(), b.as_bytes()) {
        (Some(x), Some(y), _, _) => x == y,
        (_, _, Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn typed_or_none(value: Option<&FieldValue>) -> String {
    value.map_or_else(
        || "none".to_string(),
        |v| {
            format!(
                "the value '{}' of type '{}'",
                erlang_value(v),
                v.type_name()
            )
        },
    )
}

/// A value as RabbitMQ's `~s`/`~p` prints it in these texts.
fn erlang_value(value: &FieldValue) -> String {
    if let Some(bytes) = value.as_bytes() {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    if let Some(n) = value.as_i128() {
        return n.to_string();
    }
    match value {
        FieldValue::Bool(b) => b.to_string(),
        FieldValue::F32(f) => f.to_string(),
        FieldValue::F64(f) => f.to_string(),
        other => format!("{other:?}"),
    }
}

fn locked(queue: &ShortStr, vhost: &ShortStr) -> AmqpError {
    AmqpError::resource_locked(format!(
        "cannot obtain exclusive access to locked queue '{queue}' in vhost '{vhost}'. It could be \
         originally declared on another connection or the exclusive property value does not match \
         that of the original declaration."
    ))
}

pub(crate) fn default_exchange_refused() -> AmqpError {
    AmqpError::access_refused("operation not permitted on the default exchange")
}
