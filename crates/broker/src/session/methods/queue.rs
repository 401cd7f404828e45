//! `queue.declare`, `bind`, `unbind`, `purge`, `delete`: the model's verbs (`Actor`) on the
//! queue a name resolves to on this channel, answered on the channel.

use std::sync::Arc;

use warren_wire::{
    QueueBind, QueueBindOk, QueueDeclare, QueueDeclareOk, QueueDelete, QueueDeleteOk, QueuePurge,
    QueuePurgeOk, QueueUnbind, QueueUnbindOk, ShortStr,
};

use crate::error::{AmqpError, AmqpResult};
use crate::model::names;
use crate::model::vhost::QueueSpec;
use crate::session::connection::Connection;

impl Connection {
    pub(crate) fn queue_declare(&mut self, channel: u16, m: QueueDeclare) -> AmqpResult<()> {
        let queue = if m.passive {
            let name = self.queue_name(channel, m.queue)?;
            self.actor()?.passive_declare_queue(&name)?
        } else {
            let server_named = m.queue.is_empty();
            let name = if server_named {
                names::generated_queue_name()
            } else {
                m.queue
            };
            let spec = QueueSpec {
                name,
                server_named,
                durable: m.durable,
                exclusive: m.exclusive,
                auto_delete: m.auto_delete,
                arguments: m.arguments,
            };
            let (queue, created) = self.actor()?.declare_queue(spec)?;
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
        let exchange = m.exchange.as_bytes();
        self.actor()?
            .bind_queue(exchange, &name, &routing_key, &m.arguments)?;
        if !m.no_wait {
            self.send(channel, QueueBindOk::default().into());
        }
        Ok(())
    }

    pub(crate) fn queue_unbind(&mut self, channel: u16, m: QueueUnbind) -> AmqpResult<()> {
        let name = self.queue_name(channel, m.queue.clone())?;
        let routing_key = shortcut_routing_key(&m.queue, m.routing_key, &name);
        let exchange = m.exchange.as_bytes();
        self.actor()?
            .unbind_queue(exchange, &name, &routing_key, &m.arguments)?;
        self.send(channel, QueueUnbindOk::default().into());
        Ok(())
    }

    pub(crate) fn queue_purge(&mut self, channel: u16, m: QueuePurge) -> AmqpResult<()> {
        let name = self.queue_name(channel, m.queue)?;
        let purged = self.actor()?.purge_queue(&name)?;
        if !m.no_wait {
            let ok = QueuePurgeOk {
                message_count: purged,
            };
            self.send(channel, ok.into());
        }
        Ok(())
    }

    pub(crate) fn queue_delete(&mut self, channel: u16, m: QueueDelete) -> AmqpResult<()> {
        let name = self.queue_name(channel, m.queue)?;
        let dropped = self.actor()?.delete_queue(&name, m.if_unused, m.if_empty)?;
        self.exclusive_queues.retain(|q| !q.is_deleted());
        if !m.no_wait {
            let ok = QueueDeleteOk {
                message_count: dropped,
            };
            self.send(channel, ok.into());
        }
        Ok(())
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
