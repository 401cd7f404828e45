//! `exchange.declare`, `delete`, `bind`, `unbind`: the model's verbs (`Actor`), answered on
//! the channel.

use warren_router::ExchangeKind;
use warren_wire::{
    ExchangeBind, ExchangeBindOk, ExchangeDeclare, ExchangeDeclareOk, ExchangeDelete,
    ExchangeDeleteOk, ExchangeUnbind, ExchangeUnbindOk,
};

use crate::error::{AmqpError, AmqpResult};
use crate::model::vhost::ExchangeSpec;
use crate::session::connection::Connection;

impl Connection {
    pub(crate) fn exchange_declare(&mut self, channel: u16, m: ExchangeDeclare) -> AmqpResult<()> {
        // The type is checked first, even for an exchange that exists (RabbitMQ's order), and an
        // unknown type is a connection error (503), as in RabbitMQ.
        let kind = match ExchangeKind::from_name(m.kind.as_bytes()) {
            Some(kind) => kind,
            None if m.passive => ExchangeKind::Direct,
            None => {
                return Err(AmqpError::command_invalid(format!(
                    "invalid exchange type '{}'",
                    m.kind
                )))
            }
        };
        let spec = ExchangeSpec {
            name: m.exchange,
            kind,
            durable: m.durable,
            auto_delete: m.auto_delete,
            internal: m.internal,
            arguments: m.arguments,
        };
        self.actor()?.declare_exchange(spec, m.passive)?;
        if !m.no_wait {
            self.send(channel, ExchangeDeclareOk::default().into());
        }
        Ok(())
    }

    pub(crate) fn exchange_delete(&mut self, channel: u16, m: ExchangeDelete) -> AmqpResult<()> {
        self.actor()?
            .delete_exchange(m.exchange.as_bytes(), m.if_unused)?;
        if !m.no_wait {
            self.send(channel, ExchangeDeleteOk::default().into());
        }
        Ok(())
    }

    pub(crate) fn exchange_bind(&mut self, channel: u16, m: ExchangeBind) -> AmqpResult<()> {
        let source = m.source.as_bytes();
        self.actor()?
            .bind_exchange(source, &m.destination, &m.routing_key, &m.arguments)?;
        if !m.no_wait {
            self.send(channel, ExchangeBindOk::default().into());
        }
        Ok(())
    }

    pub(crate) fn exchange_unbind(&mut self, channel: u16, m: ExchangeUnbind) -> AmqpResult<()> {
        let source = m.source.as_bytes();
        self.actor()?
            .unbind_exchange(source, &m.destination, &m.routing_key, &m.arguments)?;
        if !m.no_wait {
            self.send(channel, ExchangeUnbindOk::default().into());
        }
        Ok(())
    }
}
