//! A vhost back to its start state in one call, between tests: what a test declared is deleted,
//! what it deleted comes back, queues are emptied, consumers cancelled and the trace emptied.

use crate::model::baseline::{destination_in, Baseline};
use crate::model::exchange::INTERNAL_USER;
use crate::model::queue::ConsumerRemoved;
use crate::model::snapshot::bindings_of;
use crate::model::vhost::VHost;
use crate::Broker;
use warren_wire::ShortStr;

use super::ControlError;

/// What a reset did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResetDone {
    pub queues_deleted: u32,
    pub exchanges_deleted: u32,
    pub bindings_deleted: u32,
    pub consumers_cancelled: u32,
    pub messages_dropped: u64,
    /// Exchanges, queues and bindings of the start state that had been deleted, made again.
    pub recreated: u32,
}

impl Broker {
    /// Brings `vhost` back to what it held at start ([`crate::model::baseline::Baseline`]).
    /// Consumers are cancelled as a deleted queue cancels them (`basic.cancel` to the clients
    /// that asked for it), and the others' channels are closed (404); clients that go on
    /// publishing to what is gone get the channel error they would get had it been deleted
    /// any other way.
    pub fn reset(&self, vhost: &str) -> Result<ResetDone, ControlError> {
        let baseline = self.baseline(vhost);
        let vhost = self.control_vhost(vhost)?;
        let mut done = ResetDone::default();
        self.tell_consumers_of(&vhost);
        empty_queues(&vhost, &baseline, &mut done);
        remove_extras(&vhost, &baseline, &mut done);
        restore_baseline(&vhost, &baseline, &mut done);
        vhost.trace().clear();
        Ok(done)
    }

    /// Asks the door of each consumer in `vhost` to close its channel if its client cannot be
    /// told of the cancel (done before the cancels, which the doors then find on closed
    /// channels or tell with `basic.cancel`).
    fn tell_consumers_of(&self, vhost: &VHost) {
        let reason = format!("consumer cancelled: vhost '{}' was reset", vhost.name);
        for queue in vhost.queues() {
            for consumer in queue.consumers() {
                if let Some(connection) = self.connections().get(consumer.connection_id) {
                    connection.consumer_cancelled(consumer.channel, reason.clone());
                }
            }
        }
    }

    /// Makes what `vhost` holds now the state a reset brings it back to (for a vhost a test
    /// suite makes and then fills with what every test expects).
    pub fn set_baseline(&self, vhost: &str) -> Result<(), ControlError> {
        let vhost = self.control_vhost(vhost)?;
        self.mark_baseline(&vhost);
        Ok(())
    }
}

/// Queues of the start state are emptied and lose their consumers; the others are deleted.
fn empty_queues(vhost: &VHost, baseline: &Baseline, done: &mut ResetDone) {
    for queue in vhost.queues() {
        let kept = baseline.has_queue(&queue.name) && queue.exclusive_owner.is_none();
        if !kept {
            done.consumers_cancelled += queue.consumer_count();
            done.messages_dropped += u64::from(queue.message_count());
            vhost.remove_queue(&queue);
            done.queues_deleted += 1;
            continue;
        }
        for consumer in queue.consumers() {
            match queue.cancel_consumer(&consumer) {
                ConsumerRemoved::NotFound => {}
                ConsumerRemoved::Removed => done.consumers_cancelled += 1,
                ConsumerRemoved::LastOfAutoDelete => {
                    done.consumers_cancelled += 1;
                    vhost.remove_queue(&queue);
                }
            }
        }
        done.messages_dropped += u64::from(queue.purge());
    }
}

/// Exchanges and bindings a test made are deleted.
fn remove_extras(vhost: &VHost, baseline: &Baseline, done: &mut ResetDone) {
    for exchange in vhost.exchanges() {
        if !exchange.is_default() && !baseline.has_exchange(&exchange.name) {
            // An exchange that went meanwhile is not an error.
            if vhost
                .delete_exchange(exchange.name.as_bytes(), false)
                .is_ok()
            {
                done.exchanges_deleted += 1;
            }
        }
    }
    for exchange in vhost.exchanges() {
        for binding in bindings_of(&exchange) {
            if baseline.has_binding(&binding) {
                continue;
            }
            let Some(destination) = destination_in(vhost, &binding) else {
                continue;
            };
            let (source, key, arguments) =
                (&binding.source, &binding.routing_key, &binding.arguments);
            if vhost
                .unbind(source.as_bytes(), &destination, key, arguments)
                .is_ok()
            {
                done.bindings_deleted += 1;
            }
        }
    }
}

/// What the start state had and a test deleted is made again, as it was.
fn restore_baseline(vhost: &VHost, baseline: &Baseline, done: &mut ResetDone) {
    let internal = ShortStr::from_static(INTERNAL_USER);
    for spec in &baseline.exchanges {
        if vhost.exchange(spec.name.as_bytes()).is_err()
            && vhost
                .declare_exchange(spec.clone(), false, &internal)
                .is_ok()
        {
            done.recreated += 1;
        }
    }
    for spec in &baseline.queues {
        if vhost.queue(spec.name.as_bytes()).is_err()
            && vhost.declare_queue(spec.clone(), 0).is_ok()
        {
            done.recreated += 1;
        }
    }
    for binding in &baseline.bindings {
        let Some(destination) = destination_in(vhost, binding) else {
            continue;
        };
        let (source, key, arguments) = (&binding.source, &binding.routing_key, &binding.arguments);
        if !vhost.has_binding(source.as_bytes(), &destination, key, arguments)
            && vhost
                .bind(source.as_bytes(), destination, key, arguments)
                .is_ok()
        {
            done.recreated += 1;
        }
    }
}
