//! What the session tells the rest of the broker about itself, once per batch of work (a
//! `receive`, a drain of deliveries): its counters, its channels and state for the registry,
//! and the publishes it tallied for the exchange it published to (`PublishTally`). Plain integers on the hot
//! path; stores and one uncontended lock per batch.

use std::sync::Arc;

use crate::model::exchange::Exchange;
use crate::session::connection::{Connection, Phase};

impl Connection {
    /// Counts a message published to `exchange` and routed to `queues` queues (its channel
    /// counts it where the channel is at hand: no lookup per message).
    pub(crate) fn tally_publish(&mut self, exchange: &Arc<Exchange>, queues: usize) {
        self.stats.publish += 1;
        self.stats.routed += queues as u64;
        self.exchange_tally.count(exchange, queues > 0);
    }

    /// Publishes what changed since the last batch: the counters, the tallied publishes, and
    /// the details the registry lists (its channel list rewritten in place: no allocation per
    /// batch once it has room for the channels).
    pub(crate) fn report(&mut self) {
        self.entry.counters.store(&self.stats);
        self.exchange_tally.flush();
        let state = match self.phase {
            Phase::AwaitStartOk => "starting",
            Phase::AwaitTuneOk => "tuning",
            Phase::AwaitOpen => "opening",
            Phase::Open if self.is_blocked() => "blocked",
            Phase::Open => "running",
            Phase::Closing | Phase::AwaitSocketClose | Phase::Closed => "closing",
        };
        let heartbeat = self.heartbeat();
        self.entry.update(|details| {
            details.state = state;
            details.traffic = self.traffic;
            details.channels.clear();
            let channels = self.channels.iter();
            details
                .channels
                .extend(channels.map(|(&number, channel)| channel.details(number)));
            details.channels.sort_unstable_by_key(|c| c.number);
            if let Some(properties) = self.client_properties.take() {
                details.client_properties = properties;
            }
            if details.user.is_empty() && !self.user.is_empty() {
                details.user = self.user.to_string();
            }
            if let (true, Some(actor)) = (details.vhost.is_empty(), &self.actor) {
                details.vhost = actor.vhost.name.to_string();
            }
            (details.channel_max, details.frame_max, details.heartbeat) =
                (self.channel_max, self.frame_max, heartbeat);
        });
    }
}
