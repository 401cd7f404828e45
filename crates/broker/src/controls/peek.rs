//! A look at a queue's ready messages that leaves them where they are.

use crate::model::message::QueuedMessage;
use crate::Broker;

use super::{ControlError, MAX_PEEK};

impl Broker {
    /// The first `count` (at most [`MAX_PEEK`]) ready messages of a queue, in the order they
    /// would be delivered; none is delivered, redelivered or moved.
    pub fn peek(
        &self,
        vhost: &str,
        queue: &str,
        count: usize,
    ) -> Result<Vec<QueuedMessage>, ControlError> {
        let no_queue = || ControlError::NoQueue {
            vhost: vhost.to_string(),
            queue: queue.to_string(),
        };
        let queue = self
            .control_vhost(vhost)?
            .queue(queue.as_bytes())
            .map_err(|_| no_queue())?;
        Ok(queue.peek(count.min(MAX_PEEK)))
    }
}
