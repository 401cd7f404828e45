//! Waiting until a binding exists, a queue has a consumer, or a queue holds messages: each
//! checks the model now and again after each change it is told of (no polling), until the
//! timeout.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{sleep_until, Instant};
use warren_wire::FieldTable;

use super::{capped, ControlError};
use crate::model::queue::Queue;
use crate::model::snapshot::{bindings_of, BindingSnapshot, DestinationName};
use crate::model::vhost::{equivalent, VHost};
use crate::Broker;

/// The binding a test waits for: from `exchange` to the queue `queue`, with `routing_key` (any,
/// if None) and at least `arguments` (values compared as RabbitMQ compares arguments).
#[derive(Debug, Clone, Default)]
pub struct BindingWanted {
    pub exchange: String,
    pub queue: String,
    pub routing_key: Option<String>,
    pub arguments: FieldTable,
}

impl BindingWanted {
    fn find_in(&self, vhost: &VHost) -> Option<BindingSnapshot> {
        let exchange = vhost.exchange(self.exchange.as_bytes()).ok()?;
        bindings_of(&exchange)
            .into_iter()
            .find(|binding| self.matches(binding))
    }

    fn matches(&self, binding: &BindingSnapshot) -> bool {
        let to_the_queue = matches!(&binding.destination,
            DestinationName::Queue(queue) if queue.as_bytes() == self.queue.as_bytes());
        let key = self
            .routing_key
            .as_ref()
            .map_or(true, |key| binding.routing_key.as_bytes() == key.as_bytes());
        let arguments = self.arguments.iter().all(|(name, wanted)| {
            binding
                .arguments
                .get(name.as_bytes())
                .is_some_and(|value| equivalent(value, wanted))
        });
        to_the_queue && key && arguments
    }

    fn describe(&self) -> String {
        let key = self
            .routing_key
            .as_ref()
            .map_or_else(String::new, |key| format!(" with routing key '{key}'"));
        format!(
            "binding of exchange '{}' to queue '{}'{key}",
            self.exchange, self.queue
        )
    }
}

impl Broker {
    /// Answers the binding as soon as it exists (at once if it does).
    pub async fn wait_for_binding(
        &self,
        vhost: &str,
        wanted: &BindingWanted,
        timeout: Duration,
    ) -> Result<BindingSnapshot, ControlError> {
        let vhost = self.control_vhost(vhost)?;
        let timeout = capped(timeout);
        let deadline = Instant::now() + timeout;
        vhost
            .topology()
            .until(sleep_until(deadline), || wanted.find_in(&vhost))
            .await
            .ok_or_else(|| ControlError::Timeout {
                waited_for: wanted.describe(),
                timeout,
            })
    }

    /// Answers the queue's consumer count as soon as it has one.
    pub async fn wait_for_consumer(
        &self,
        vhost: &str,
        queue: &str,
        timeout: Duration,
    ) -> Result<u32, ControlError> {
        let check = |queue: &Queue| Some(queue.consumer_count()).filter(|&n| n > 0);
        let what = || format!("consumer on queue '{queue}'");
        self.wait_on_queue(vhost, queue, timeout, check, what).await
    }

    /// Answers the queue's ready count as soon as it holds at least `count` ready messages.
    pub async fn wait_for_messages(
        &self,
        vhost: &str,
        queue: &str,
        count: u32,
        timeout: Duration,
    ) -> Result<u32, ControlError> {
        let check = |queue: &Queue| Some(queue.message_count()).filter(|&n| n >= count);
        let what = || format!("{count} ready messages in queue '{queue}'");
        self.wait_on_queue(vhost, queue, timeout, check, what).await
    }

    /// Waits for the queue to exist, then for `check` to hold of it; a queue deleted meanwhile
    /// is looked up again (one of the same name may be declared).
    async fn wait_on_queue<T>(
        &self,
        vhost: &str,
        name: &str,
        timeout: Duration,
        check: impl Fn(&Queue) -> Option<T>,
        what: impl Fn() -> String,
    ) -> Result<T, ControlError> {
        let vhost = self.control_vhost(vhost)?;
        let timeout = capped(timeout);
        let deadline = Instant::now() + timeout;
        let timed_out = || ControlError::Timeout {
            waited_for: what(),
            timeout,
        };
        loop {
            let queue: Arc<Queue> = vhost
                .topology()
                .until(sleep_until(deadline), || {
                    let queue = vhost.queue(name.as_bytes()).ok();
                    queue.filter(|queue| !queue.is_deleted())
                })
                .await
                .ok_or_else(timed_out)?;
            let answer = queue
                .changes()
                .until(sleep_until(deadline), || {
                    if queue.is_deleted() {
                        return Some(None);
                    }
                    check(&queue).map(Some)
                })
                .await;
            match answer {
                Some(Some(found)) => return Ok(found),
                Some(None) if Instant::now() < deadline => continue,
                _ => return Err(timed_out()),
            }
        }
    }

    pub(super) fn control_vhost(&self, name: &str) -> Result<Arc<VHost>, ControlError> {
        self.vhost(name.as_bytes())
            .ok_or_else(|| ControlError::NoVhost(name.to_string()))
    }
}
