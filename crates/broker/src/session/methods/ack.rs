//! `basic.ack`, `basic.nack` and `basic.reject`: settling deliveries, at once or at
//! `tx.commit`.

use std::sync::Arc;

use crate::error::AmqpResult;
use crate::model::queue::{Footprint, Queue};
use crate::session::channel::{requeue_unacked, Settlement, Unacked};
use crate::session::connection::Connection;

impl Connection {
    pub(crate) fn basic_ack(
        &mut self,
        channel: u16,
        delivery_tag: u64,
        multiple: bool,
    ) -> AmqpResult<()> {
        self.settle_tagged(channel, delivery_tag, multiple, Settlement::Ack)
    }

    /// `basic.nack` and `basic.reject` (which is a nack without `multiple`).
    pub(crate) fn basic_nack(
        &mut self,
        channel: u16,
        delivery_tag: u64,
        multiple: bool,
        requeue: bool,
    ) -> AmqpResult<()> {
        let how = if requeue {
            Settlement::Requeue
        } else {
            Settlement::Discard
        };
        self.settle_tagged(channel, delivery_tag, multiple, how)
    }

    fn settle_tagged(
        &mut self,
        channel: u16,
        delivery_tag: u64,
        multiple: bool,
        how: Settlement,
    ) -> AmqpResult<()> {
        let entries = self
            .channel_mut(channel)?
            .take_unacked(delivery_tag, multiple)?;
        if let Some(tx) = self.channel_mut(channel)?.tx.as_mut() {
            tx.settlements.push((entries, how));
            return Ok(());
        }
        self.settle(channel, entries.into_iter().map(|(_, entry)| entry), how)
    }

    pub(crate) fn settle(
        &mut self,
        channel: u16,
        entries: impl IntoIterator<Item = Unacked>,
        how: Settlement,
    ) -> AmqpResult<()> {
        if how == Settlement::Requeue {
            requeue_unacked(entries);
            return Ok(());
        }
        let mut queues: Vec<(Arc<Queue>, Vec<_>)> = Vec::new();
        for entry in entries {
            if let Some(consumer) = &entry.consumer {
                consumer.release(1);
            }
            let at = match queues
                .iter()
                .position(|(q, _)| Arc::ptr_eq(q, &entry.queue))
            {
                Some(at) => at,
                None => {
                    queues.push((Arc::clone(&entry.queue), Vec::new()));
                    queues.len() - 1
                }
            };
            queues[at].1.push(entry.message);
        }
        if how == Settlement::Discard {
            for (queue, messages) in &mut queues {
                queue.reject(messages.drain(..));
            }
        }
        // Freed credit may let this channel's consumers take more, also from other queues
        // when the limit is channel-wide.
        for entry in self.channel_mut(channel)?.consumers.values() {
            if !queues.iter().any(|(q, _)| Arc::ptr_eq(q, &entry.queue)) {
                queues.push((Arc::clone(&entry.queue), Vec::new()));
            }
        }
        let mut total = 0;
        for (queue, acked) in queues {
            // Discarded messages were drained: only acknowledged ones are left to count.
            let acked = Footprint::of(acked.iter().map(|m| &*m.message));
            total += acked.messages;
            queue.settled(acked);
        }
        self.count(channel, |stats| stats.ack += total);
        Ok(())
    }
}
