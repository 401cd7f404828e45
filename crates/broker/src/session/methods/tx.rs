//! Transactions (`tx.select`, `tx.commit`, `tx.rollback`), as RabbitMQ runs them: in a
//! transactional channel, publishes and settlements are held and take effect at commit;
//! rollback drops the publishes and hands the settled deliveries back to the channel, still
//! unacknowledged. A channel is transactional or in confirm mode, never both.

use warren_wire::{TxCommitOk, TxRollbackOk, TxSelectOk};

use crate::error::AmqpResult;
use crate::session::channel::Transaction;
use crate::session::connection::Connection;

impl Connection {
    pub(crate) fn tx_select(&mut self, channel: u16) -> AmqpResult<()> {
        self.channel_mut(channel)?.select_tx()?;
        self.send(channel, TxSelectOk::default().into());
        Ok(())
    }

    pub(crate) fn tx_commit(&mut self, channel: u16) -> AmqpResult<()> {
        let transaction = self.take_transaction(channel)?;
        self.channel_mut(channel)?.stats.publish += transaction.publishes.len() as u64;
        for (mandatory, message) in transaction.publishes {
            // Routed through the exchange as it is at commit: it may be gone by then (404).
            let exchange = self.open_vhost()?.exchange(message.exchange())?;
            let headers = message.properties().headers;
            self.enqueue(channel, mandatory, &exchange, message, headers.as_ref())?;
        }
        for (entries, how) in transaction.settlements {
            self.settle(channel, entries.into_iter().map(|(_, entry)| entry), how)?;
        }
        self.send(channel, TxCommitOk::default().into());
        Ok(())
    }

    pub(crate) fn tx_rollback(&mut self, channel: u16) -> AmqpResult<()> {
        let transaction = self.take_transaction(channel)?;
        let unacked = &mut self.channel_mut(channel)?.unacked;
        for (entries, _) in transaction.settlements {
            unacked.extend(entries);
        }
        self.send(channel, TxRollbackOk::default().into());
        Ok(())
    }

    /// The channel's pending work, leaving it transactional with a fresh transaction.
    fn take_transaction(&mut self, channel: u16) -> AmqpResult<Transaction> {
        self.channel_mut(channel)?.take_transaction()
    }
}
