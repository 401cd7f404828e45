//! `exchange.declare`, `delete`, `bind`, `unbind`.

use std::sync::Arc;

use warren_router::ExchangeKind;
use warren_wire::{
    ExchangeBind, ExchangeBindOk, ExchangeDeclare, ExchangeDeclareOk, ExchangeDelete,
    ExchangeDeleteOk, ExchangeUnbind, ExchangeUnbindOk,
};

use crate::error::{AmqpError, AmqpResult};
use crate::model::access::{Permission, Resource};
use crate::model::exchange::Destination;
use crate::model::vhost::ExchangeSpec;
use crate::session::connection::Connection;

impl Connection {
    pub(crate) fn exchange_declare(&mut self, channel: u16, m: ExchangeDeclare) -> AmqpResult<()> {
        let vhost = self.open_vhost()?;
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
        if !m.passive && !m.exchange.is_empty() {
            self.actor()?.check_access(
                Permission::Configure,
                Resource::Exchange,
                m.exchange.as_bytes(),
            )?;
            // Creating an exchange with an alternate: as RabbitMQ, read on the new exchange and
            // write on the alternate.
            let alternate = m
                .arguments
                .get(b"alternate-exchange")
                .and_then(|v| v.as_bytes())
                .filter(|_| vhost.exchange(m.exchange.as_bytes()).is_err());
            if let Some(alternate) = alternate {
                self.actor()?.check_access(
                    Permission::Read,
                    Resource::Exchange,
                    m.exchange.as_bytes(),
                )?;
                self.actor()?
                    .check_access(Permission::Write, Resource::Exchange, alternate)?;
            }
        }
        let spec = ExchangeSpec {
            name: m.exchange,
            kind,
            durable: m.durable,
            auto_delete: m.auto_delete,
            internal: m.internal,
            arguments: m.arguments,
        };
        vhost.declare_exchange(spec, m.passive)?;
        if !m.no_wait {
            self.send(channel, ExchangeDeclareOk::default().into());
        }
        Ok(())
    }

    pub(crate) fn exchange_delete(&mut self, channel: u16, m: ExchangeDelete) -> AmqpResult<()> {
        // The default and `amq.*` exchanges are refused first, whatever the permissions.
        if !m.exchange.is_empty() && !m.exchange.starts_with(b"amq.") {
            self.actor()?.check_access(
                Permission::Configure,
                Resource::Exchange,
                m.exchange.as_bytes(),
            )?;
        }
        self.open_vhost()?
            .delete_exchange(m.exchange.as_bytes(), m.if_unused)?;
        if !m.no_wait {
            self.send(channel, ExchangeDeleteOk::default().into());
        }
        Ok(())
    }

    pub(crate) fn exchange_bind(&mut self, channel: u16, m: ExchangeBind) -> AmqpResult<()> {
        self.actor()?.check_binding_access(
            m.source.as_bytes(),
            Resource::Exchange,
            m.destination.as_bytes(),
            &m.routing_key,
        )?;
        let vhost = self.open_vhost()?;
        let destination = self.destination_exchange(&m.destination)?;
        vhost.bind(
            m.source.as_bytes(),
            destination,
            &m.routing_key,
            &m.arguments,
        )?;
        if !m.no_wait {
            self.send(channel, ExchangeBindOk::default().into());
        }
        Ok(())
    }

    pub(crate) fn exchange_unbind(&mut self, channel: u16, m: ExchangeUnbind) -> AmqpResult<()> {
        self.actor()?.check_binding_access(
            m.source.as_bytes(),
            Resource::Exchange,
            m.destination.as_bytes(),
            &m.routing_key,
        )?;
        let vhost = self.open_vhost()?;
        // As for queue.unbind, a missing destination unbinds nothing (unbind-ok in RabbitMQ 3.x).
        match self.destination_exchange(&m.destination) {
            Ok(destination) => vhost.unbind(
                m.source.as_bytes(),
                &destination,
                &m.routing_key,
                &m.arguments,
            )?,
            Err(error) if error.code == warren_wire::reply_code::NOT_FOUND => {}
            Err(error) => return Err(error),
        }
        if !m.no_wait {
            self.send(channel, ExchangeUnbindOk::default().into());
        }
        Ok(())
    }
    fn destination_exchange(&self, name: &warren_wire::ShortStr) -> AmqpResult<Destination> {
        if name.is_empty() {
            return Err(AmqpError::access_refused(
                "operation not permitted on the default exchange",
            ));
        }
        let exchange = self.open_vhost()?.exchange(name.as_bytes())?;
        Ok(Destination::Exchange(Arc::clone(&exchange)))
    }
}
