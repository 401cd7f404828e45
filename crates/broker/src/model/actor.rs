//! Who acts on the model: a user, in one vhost, with their permissions there, through one
//! connection (exclusive queues are a connection's own). Every door acts through an [`Actor`]
//! (the AMQP session makes one at `connection.open`): its methods are the broker's verbs —
//! declare, delete, bind, unbind, purge, the queue to consume or get from, the exchange to
//! publish to — each checking what the user may do before it acts, with RabbitMQ's refusals
//! in RabbitMQ's words and in RabbitMQ's order. What a door adds is its own: the AMQP session
//! resolves an empty queue name to the channel's last queue, and encodes the replies.

use std::sync::Arc;

use bytes::Bytes;
use warren_router::ExchangeKind;
use warren_wire::reply_code::{NOT_FOUND, RESOURCE_LOCKED};
use warren_wire::{ContentHeader, FieldTable, FieldValue, ShortStr};

use crate::error::{AmqpError, AmqpResult};
use crate::model::access::{Permission, Resource};
use crate::model::exchange::{Destination, Exchange};
use crate::model::message::{parse_expiration, Message};
use crate::model::queue::{ConnectionId, Queue};
use crate::model::stats::MessageStats;
use crate::model::users::LivePermissions;
use crate::model::vhost::{default_exchange_refused, ExchangeSpec, QueueSpec, RouteScratch, VHost};

#[derive(Debug, Clone)]
pub struct Actor {
    pub vhost: Arc<VHost>,
    pub user: ShortStr,
    /// What the user may do in the vhost, as it is now (changes apply at once).
    pub permissions: LivePermissions,
    /// RabbitMQ's `impersonator` tag: may publish with another user's `user_id`.
    pub impersonator: bool,
    pub connection: ConnectionId,
}

impl Actor {
    /// Refuses (403, closing the channel) what the user's permissions in this vhost do not
    /// allow, in RabbitMQ's words.
    pub fn check_access(
        &self,
        permission: Permission,
        resource: Resource,
        name: &[u8],
    ) -> AmqpResult<()> {
        let name = if resource == Resource::Exchange && name.is_empty() {
            b"amq.default"
        } else {
            name
        };
        if self.permissions.current().allows(permission, name) {
            return Ok(());
        }
        Err(AmqpError::access_refused(format!(
            "access to {resource} '{}' in vhost '{}' refused for user '{}'",
            String::from_utf8_lossy(name),
            self.vhost.name,
            self.user
        )))
    }

    /// `queue.bind`/`unbind`, `exchange.bind`/`unbind`: write access to the destination, then
    /// read access to the source, with the default exchange refused in between (RabbitMQ's
    /// `binding_action` order).
    /// Then, for a topic exchange, read access to the binding key (topic permissions).
    pub fn check_binding_access(
        &self,
        source: &[u8],
        destination_kind: Resource,
        destination: &[u8],
        routing_key: &ShortStr,
    ) -> AmqpResult<()> {
        self.check_access(Permission::Write, destination_kind, destination)?;
        if source.is_empty() || (destination_kind == Resource::Exchange && destination.is_empty()) {
            return Err(default_exchange_refused());
        }
        self.check_access(Permission::Read, Resource::Exchange, source)?;
        if !self.permissions.current().topics.is_empty() {
            if let Ok(exchange) = self.vhost.exchange(source) {
                self.check_topic_access(Permission::Read, &exchange, routing_key)?;
            }
        }
        Ok(())
    }

    /// Topic permissions: `routing_key` on a topic exchange, for publishing (write) or binding
    /// (read). Costs one branch for users without topic permissions.
    pub fn check_topic_access(
        &self,
        permission: Permission,
        exchange: &Exchange,
        routing_key: &ShortStr,
    ) -> AmqpResult<()> {
        let permissions = self.permissions.current();
        if permissions.topics.is_empty()
            || exchange.kind != ExchangeKind::Topic
            || permissions.allows_topic(
                permission,
                exchange.name.as_bytes(),
                routing_key.as_bytes(),
            )
        {
            return Ok(());
        }
        Err(AmqpError::access_refused(format!(
            "access to topic '{routing_key}' in exchange '{}' in vhost '{}' refused for user '{}'",
            exchange.name, self.vhost.name, self.user
        )))
    }

    /// `exchange.declare`. Creating an exchange takes configure access to it; with an
    /// alternate exchange, also read on the new exchange and write on the alternate.
    pub fn declare_exchange(&self, spec: ExchangeSpec, passive: bool) -> AmqpResult<()> {
        let name = spec.name.as_bytes();
        if !passive && !name.is_empty() {
            self.check_access(Permission::Configure, Resource::Exchange, name)?;
            if self.vhost.exchange(name).is_err() {
                let named = (Resource::Exchange, name, &spec.arguments);
                self.check_exchange_named(named, b"alternate-exchange")?;
            }
        }
        self.vhost.declare_exchange(spec, passive, &self.user)
    }

    /// A new exchange or queue whose `argument` names an exchange (an alternate, a dead-letter
    /// exchange): as RabbitMQ, read access to the new one and write access to that exchange.
    fn check_exchange_named(
        &self,
        (kind, name, arguments): (Resource, &[u8], &FieldTable),
        argument: &[u8],
    ) -> AmqpResult<()> {
        let Some(exchange) = arguments.get(argument).and_then(FieldValue::as_bytes) else {
            return Ok(());
        };
        self.check_access(Permission::Read, kind, name)?;
        self.check_access(Permission::Write, Resource::Exchange, exchange)
    }

    /// `exchange.delete`. The default and `amq.*` exchanges are refused first, whatever the
    /// permissions.
    pub fn delete_exchange(&self, name: &[u8], if_unused: bool) -> AmqpResult<()> {
        if !name.is_empty() && !name.starts_with(b"amq.") {
            self.check_access(Permission::Configure, Resource::Exchange, name)?;
        }
        self.vhost.delete_exchange(name, if_unused)
    }

    /// `exchange.bind`: `destination` receives what `source` routes with `routing_key`.
    pub fn bind_exchange(
        &self,
        source: &[u8],
        destination: &ShortStr,
        routing_key: &ShortStr,
        arguments: &FieldTable,
    ) -> AmqpResult<()> {
        let kind = Resource::Exchange;
        self.check_binding_access(source, kind, destination.as_bytes(), routing_key)?;
        let destination = self.destination_exchange(destination)?;
        self.vhost.bind(source, destination, routing_key, arguments)
    }

    /// `exchange.unbind`: a missing destination unbinds nothing (unbind-ok in RabbitMQ 3.x).
    pub fn unbind_exchange(
        &self,
        source: &[u8],
        destination: &ShortStr,
        routing_key: &ShortStr,
        arguments: &FieldTable,
    ) -> AmqpResult<()> {
        let kind = Resource::Exchange;
        self.check_binding_access(source, kind, destination.as_bytes(), routing_key)?;
        match self.destination_exchange(destination) {
            Ok(destination) => self
                .vhost
                .unbind(source, &destination, routing_key, arguments),
            Err(error) if error.code == NOT_FOUND => Ok(()),
            Err(error) => Err(error),
        }
    }

    fn destination_exchange(&self, name: &ShortStr) -> AmqpResult<Destination> {
        if name.is_empty() {
            return Err(default_exchange_refused());
        }
        let exchange = self.vhost.exchange(name.as_bytes())?;
        Ok(Destination::Exchange(exchange))
    }

    /// `queue.declare` (not passive): configure access to the queue; a new queue that
    /// dead-letters also takes read on it and write on its dead-letter exchange. Returns the
    /// queue and whether this call created it.
    pub fn declare_queue(&self, spec: QueueSpec) -> AmqpResult<(Arc<Queue>, bool)> {
        let name = spec.name.as_bytes();
        self.check_access(Permission::Configure, Resource::Queue, name)?;
        if self.vhost.queue(name).is_err() {
            let named = (Resource::Queue, name, &spec.arguments);
            self.check_exchange_named(named, b"x-dead-letter-exchange")?;
        }
        self.vhost.declare_queue(spec, self.connection)
    }

    /// `queue.declare` with `passive`: the queue, if it exists and this connection may use
    /// it; the declare counts as a use for `x-expires`.
    pub fn passive_declare_queue(&self, name: &ShortStr) -> AmqpResult<Arc<Queue>> {
        let queue = self.usable_queue(name)?;
        queue.touch();
        Ok(queue)
    }

    /// `queue.bind`.
    pub fn bind_queue(
        &self,
        exchange: &[u8],
        queue: &ShortStr,
        routing_key: &ShortStr,
        arguments: &FieldTable,
    ) -> AmqpResult<()> {
        let kind = Resource::Queue;
        self.check_binding_access(exchange, kind, queue.as_bytes(), routing_key)?;
        let queue = self.usable_queue(queue)?;
        let destination = Destination::Queue(queue);
        self.vhost
            .bind(exchange, destination, routing_key, arguments)
    }

    /// `queue.unbind`. Unbinding a queue that does not exist unbinds nothing: RabbitMQ 3.x
    /// answers unbind-ok (aio-pika's RPC cancels its auto-delete queue's consumer, then
    /// unbinds). RabbitMQ looks the binding up before it checks exclusivity: unbinding nothing
    /// from another connection's exclusive queue is fine.
    pub fn unbind_queue(
        &self,
        exchange: &[u8],
        queue: &ShortStr,
        routing_key: &ShortStr,
        arguments: &FieldTable,
    ) -> AmqpResult<()> {
        let kind = Resource::Queue;
        self.check_binding_access(exchange, kind, queue.as_bytes(), routing_key)?;
        let name = queue.as_bytes();
        match self.vhost.queue_for(name, self.connection) {
            Ok(queue) => {
                let destination = Destination::Queue(queue);
                self.vhost
                    .unbind(exchange, &destination, routing_key, arguments)
            }
            Err(error) if error.code == NOT_FOUND => Ok(()),
            Err(locked) if locked.code == RESOURCE_LOCKED => {
                let destination = Destination::Queue(self.vhost.queue(name)?);
                let bound = self
                    .vhost
                    .has_binding(exchange, &destination, routing_key, arguments);
                if bound {
                    Err(locked)
                } else {
                    Ok(())
                }
            }
            Err(error) => Err(error),
        }
    }

    /// `queue.purge`: the number of ready messages dropped.
    pub fn purge_queue(&self, name: &ShortStr) -> AmqpResult<u32> {
        self.check_access(Permission::Read, Resource::Queue, name.as_bytes())?;
        Ok(self.usable_queue(name)?.purge())
    }

    /// `queue.delete`: the number of ready messages dropped (0 for a queue that does not
    /// exist, as in RabbitMQ 3.x).
    pub fn delete_queue(
        &self,
        name: &ShortStr,
        if_unused: bool,
        if_empty: bool,
    ) -> AmqpResult<u32> {
        self.check_access(Permission::Configure, Resource::Queue, name.as_bytes())?;
        let connection = self.connection;
        self.vhost
            .delete_queue(name.as_bytes(), connection, if_unused, if_empty)
    }

    /// The queue to consume from or get from: read access, and not another connection's
    /// exclusive queue.
    pub fn readable_queue(&self, name: &ShortStr) -> AmqpResult<Arc<Queue>> {
        self.check_access(Permission::Read, Resource::Queue, name.as_bytes())?;
        self.usable_queue(name)
    }

    /// A queue to look into without taking anything from it (the test controls' peek): read
    /// access, and any queue, another connection's exclusive ones included.
    pub fn peekable_queue(&self, name: &ShortStr) -> AmqpResult<Arc<Queue>> {
        self.check_access(Permission::Read, Resource::Queue, name.as_bytes())?;
        self.vhost.queue(name.as_bytes())
    }

    /// An existing queue this connection may use (exclusive queues are their owner's).
    fn usable_queue(&self, name: &ShortStr) -> AmqpResult<Arc<Queue>> {
        self.vhost.queue_for(name.as_bytes(), self.connection)
    }

    /// `basic.publish`'s checks, and the exchange the message goes to, looked up once for the
    /// whole publish: write access to it (the hot path: one branch for the usual `.*`, one
    /// regex match otherwise), not internal, and topic permissions on the routing key.
    pub fn publish_target(
        &self,
        exchange: &ShortStr,
        routing_key: &ShortStr,
    ) -> AmqpResult<Arc<Exchange>> {
        self.check_access(Permission::Write, Resource::Exchange, exchange.as_bytes())?;
        let exchange = self.vhost.exchange(exchange.as_bytes())?;
        if exchange.internal {
            return Err(AmqpError::access_refused(format!(
                "cannot publish to internal exchange '{}' in vhost '{}'",
                exchange.name, self.vhost.name
            )));
        }
        self.check_topic_access(Permission::Write, &exchange, routing_key)?;
        Ok(exchange)
    }

    /// A message's `user_id` must be the publisher's own, unless they may impersonate.
    pub fn check_user_id(&self, user_id: Option<&ShortStr>) -> AmqpResult<()> {
        match user_id {
            Some(user_id) if *user_id != self.user && !self.impersonator => {
                Err(AmqpError::precondition_failed(format!(
                    "user_id property set to '{user_id}' but authenticated user was '{}'",
                    self.user
                )))
            }
            _ => Ok(()),
        }
    }

    /// Publishes one whole message, for a door that has it at once (the management API's
    /// `publish`): the checks of `basic.publish`, then routing and enqueueing, counted in the
    /// vhost's and the exchange's statistics. Returns whether it reached a queue.
    pub fn publish(
        &self,
        exchange: &ShortStr,
        routing_key: &ShortStr,
        header: &ContentHeader,
        body: Bytes,
    ) -> AmqpResult<bool> {
        let target = self.publish_target(exchange, routing_key)?;
        let properties = &header.properties;
        self.check_user_id(properties.user_id.as_ref())?;
        let ttl = parse_expiration(properties.expiration.as_ref()).map_err(|reason| {
            AmqpError::precondition_failed(format!("invalid expiration: {reason}"))
        })?;
        let mut message = Arc::new(Message::new(
            exchange.as_bytes(),
            routing_key.as_bytes(),
            header,
            body,
            ttl,
        ));
        let mut queues = Vec::new();
        let headers = properties.headers.as_ref();
        let mut scratch = RouteScratch::default();
        self.vhost.route(
            &target,
            routing_key.as_bytes(),
            headers,
            &mut scratch,
            &mut queues,
        );
        let routed = !queues.is_empty();
        self.vhost.trace().record(&message, &queues);
        for queue in &queues {
            queue.publish(&mut message, false);
        }
        target.count_published(1, u64::from(routed));
        let stats = MessageStats {
            publish: 1,
            drop_unroutable: u64::from(!routed),
            ..MessageStats::default()
        };
        self.vhost.retire_stats(&stats);
        Ok(routed)
    }
}
