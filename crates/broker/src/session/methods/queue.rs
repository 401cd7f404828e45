//! `queue.declare`, `bind`, `unbind`, `purge`, `delete`.

use std::sync::Arc;

use warren_wire::{
    QueueBind, QueueBindOk, QueueDeclare, QueueDeclareOk, QueueDelete, QueueDeleteOk, QueuePurge,
    QueuePurgeOk, QueueUnbind, QueueUnbindOk, ShortStr,
};

use crate::error::{AmqpError, AmqpResult};
use crate::model::access::{Permission, Resource};
use crate::model::exchange::Destination;
use crate::model::names;
use crate::model::queue::Queue;
use crate::model::vhost::QueueSpec;
use crate::session::connection::Connection;
use warren_wire::reply_code::{NOT_FOUND, RESOURCE_LOCKED};

impl Connection {
    pub(crate) fn queue_declare(&mut self, channel: u16, m: QueueDeclare) -> AmqpResult<()> {
        let vhost = self.open_vhost()?;
        let queue = if m.passive {
            let name = self.queue_name(channel, m.queue)?;
            let queue = vhost.queue_for(name.as_bytes(), self.id)?;
            queue.touch();
            queue
        } else {
            let server_named = m.queue.is_empty();
            let name = if server_named {
                names::generated_queue_name()
            } else {
                m.queue
            };
            self.actor()?
                .check_access(Permission::Configure, Resource::Queue, name.as_bytes())?;
            // Creating a queue that dead-letters: as RabbitMQ, read on the queue and write on
            // the dead-letter exchange.
            let dead_letter = m
                .arguments
                .get(b"x-dead-letter-exchange")
                .and_then(|v| v.as_bytes())
                .filter(|_| vhost.queue(name.as_bytes()).is_err());
            if let Some(exchange) = dead_letter {
                self.actor()?
                    .check_access(Permission::Read, Resource::Queue, name.as_bytes())?;
                self.actor()?
                    .check_access(Permission::Write, Resource::Exchange, exchange)?;
            }
            let spec = QueueSpec {
                name,
                server_named,
                durable: m.durable,
                exclusive: m.exclusive,
                auto_delete: m.auto_delete,
                arguments: m.arguments,
            };
            let (queue, created) = vhost.declare_queue(spec, self.id)?;
            if created && queue.exclusive_owner.is_some() {
                self.exclusive_queues.push(Arc::clone(&queue));
            }
            queue
        };
        if let Some(state) = self.channels.get_mut(&channel) {
            state.last_queue = Some(queue.name.clone());
        }
        if !m.no_wait {
            let ok = QueueDeclareOk {
                queue: queue.name.clone(),
                message_count: queue.message_count(),
                consumer_count: queue.consumer_count(),
            };
            self.send(channel, ok.into());
        }
        Ok(())
    }

    pub(crate) fn queue_bind(&mut self, channel: u16, m: QueueBind) -> AmqpResult<()> {
        let name = self.queue_name(channel, m.queue.clone())?;
        let routing_key = shortcut_routing_key(&m.queue, m.routing_key, &name);
        self.actor()?.check_binding_access(
            m.exchange.as_bytes(),
            Resource::Queue,
            name.as_bytes(),
            &routing_key,
        )?;
        let queue = self.usable_queue(channel, name)?;
        self.open_vhost()?.bind(
            m.exchange.as_bytes(),
            Destination::Queue(queue),
            &routing_key,
            &m.arguments,
        )?;
        if !m.no_wait {
            self.send(channel, QueueBindOk::default().into());
        }
        Ok(())
    }

    pub(crate) fn queue_unbind(&mut self, channel: u16, m: QueueUnbind) -> AmqpResult<()> {
        let vhost = self.open_vhost()?;
        let name = self.queue_name(channel, m.queue.clone())?;
        let routing_key = shortcut_routing_key(&m.queue, m.routing_key, &name);
        self.actor()?.check_binding_access(
            m.exchange.as_bytes(),
            Resource::Queue,
            name.as_bytes(),
            &routing_key,
        )?;
        let (queue, locked) = match vhost.queue_for(name.as_bytes(), self.id) {
            Ok(queue) => (queue, None),
            // Unbinding a queue that does not exist unbinds nothing: RabbitMQ 3.x answers
            // unbind-ok (aio-pika's RPC cancels its auto-delete queue's consumer, then unbinds).
            Err(error) if error.code == NOT_FOUND => {
                self.send(channel, QueueUnbindOk::default().into());
                return Ok(());
            }
            Err(error) if error.code == RESOURCE_LOCKED => {
                (vhost.queue(name.as_bytes())?, Some(error))
            }
            Err(error) => return Err(error),
        };
        let destination = Destination::Queue(queue);
        if let Some(locked) = locked {
            // RabbitMQ looks the binding up before it checks exclusivity: unbinding nothing
            // from another connection's exclusive queue is fine.
            if vhost.has_binding(
                m.exchange.as_bytes(),
                &destination,
                &routing_key,
                &m.arguments,
            ) {
                return Err(locked);
            }
        } else {
            vhost.unbind(
                m.exchange.as_bytes(),
                &destination,
                &routing_key,
                &m.arguments,
            )?;
        }
        self.send(channel, QueueUnbindOk::default().into());
        Ok(())
    }

    pub(crate) fn queue_purge(&mut self, channel: u16, m: QueuePurge) -> AmqpResult<()> {
        let name = self.queue_name(channel, m.queue)?;
        self.actor()?
            .check_access(Permission::Read, Resource::Queue, name.as_bytes())?;
        let purged = self.usable_queue(channel, name)?.purge();
        if !m.no_wait {
            self.send(
                channel,
                QueuePurgeOk {
                    message_count: purged,
                }
                .into(),
            );
        }
        Ok(())
    }

    pub(crate) fn queue_delete(&mut self, channel: u16, m: QueueDelete) -> AmqpResult<()> {
        let name = self.queue_name(channel, m.queue)?;
        self.actor()?
            .check_access(Permission::Configure, Resource::Queue, name.as_bytes())?;
        let dropped =
            self.open_vhost()?
                .delete_queue(name.as_bytes(), self.id, m.if_unused, m.if_empty)?;
        self.exclusive_queues.retain(|q| !q.is_deleted());
        if !m.no_wait {
            self.send(
                channel,
                QueueDeleteOk {
                    message_count: dropped,
                }
                .into(),
            );
        }
        Ok(())
    }

    /// An existing queue this connection may use (exclusive queues are their owner's).
    pub(crate) fn usable_queue(&self, channel: u16, name: ShortStr) -> AmqpResult<Arc<Queue>> {
        let name = self.queue_name(channel, name)?;
        self.open_vhost()?.queue_for(name.as_bytes(), self.id)
    }

    /// An empty queue name means the queue last declared on this channel (AMQP 0-9-1 §1.7.2).
    pub(crate) fn queue_name(&self, channel: u16, name: ShortStr) -> AmqpResult<ShortStr> {
        if !name.is_empty() {
            return Ok(name);
        }
        self.channels
            .get(&channel)
            .and_then(|c| c.last_queue.clone())
            .ok_or_else(|| AmqpError::not_found("no previously declared queue"))
    }
}

/// With an empty queue name *and* an empty routing key, the key is the queue's name: the
/// spec's shortcut for binding the last declared queue, as RabbitMQ reads it.
fn shortcut_routing_key(
    requested_queue: &ShortStr,
    routing_key: ShortStr,
    queue_name: &ShortStr,
) -> ShortStr {
    if requested_queue.is_empty() && routing_key.is_empty() {
        queue_name.clone()
    } else {
        routing_key
    }
}
