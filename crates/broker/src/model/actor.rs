//! Who acts on the model: a user, in one vhost, with their permissions there, through one
//! connection (exclusive queues are a connection's own). Every door acts through an [`Actor`]
//! (the AMQP session makes one at `connection.open`), so every door gets the same permission
//! checks and RabbitMQ's refusals, in RabbitMQ's words.

use std::sync::Arc;

use warren_router::ExchangeKind;
use warren_wire::ShortStr;

use crate::error::{AmqpError, AmqpResult};
use crate::model::access::{Permission, Permissions, Resource};
use crate::model::exchange::Exchange;
use crate::model::queue::ConnectionId;
use crate::model::vhost::{default_exchange_refused, VHost};

#[derive(Debug, Clone)]
pub struct Actor {
    pub vhost: Arc<VHost>,
    pub user: ShortStr,
    pub permissions: Arc<Permissions>,
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
        if self.permissions.allows(permission, name) {
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
        if !self.permissions.topics.is_empty() {
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
        let permissions = &self.permissions;
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
}
