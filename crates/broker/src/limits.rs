//! Resource limits, with RabbitMQ's defaults and RabbitMQ's refusals.
//!
//! | limit | RabbitMQ's name | default | refusal |
//! |---|---|---|---|
//! | [`Limits::channel_max`] | `channel_max` | 2047 | 530 at `channel.open` (connection) |
//! | [`Limits::max_message_size`] | `max_message_size` | 128 MiB | 406 at the content header (channel) |
//! | [`Limits::consumers_per_channel`] | `consumer_max_per_channel` | none | 530 at `basic.consume` (connection) |
//! | [`VHostLimits::max_connections`] | vhost `max-connections` | none | 530 at `connection.open` |
//! | [`VHostLimits::max_queues`] | vhost `max-queues` | none | 406 at `queue.declare` (channel) |

use crate::error::{AmqpError, AmqpResult};

/// The `frame_max` Warren proposes in `connection.tune`, RabbitMQ's default.
pub const FRAME_MAX: u32 = 131_072;
/// The heartbeat interval Warren proposes in `connection.tune`, in seconds (RabbitMQ's default).
pub const HEARTBEAT_SECS: u16 = 60;

/// RabbitMQ's ceiling for `max_message_size` (512 MiB): larger settings are not accepted.
pub const MAX_MESSAGE_SIZE_CEILING: u32 = 512 * 1024 * 1024;

/// How many publishes a vhost's routing trace keeps unless told otherwise (`--trace-size`).
pub const DEFAULT_TRACE_SIZE: usize = 1_000;

/// The limits a broker enforces on its clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The `channel_max` proposed in `connection.tune`: how many channels a connection may
    /// have open at once (the client may negotiate fewer).
    pub channel_max: u16,
    /// The largest message body accepted, in bytes; at most [`MAX_MESSAGE_SIZE_CEILING`].
    pub max_message_size: u32,
    /// How many consumers one channel may have; `None`: no limit.
    pub consumers_per_channel: Option<u32>,
    /// The limits of every virtual host.
    pub vhost: VHostLimits,
    /// How many publishes each vhost's routing trace keeps (the test controls'); 0: no trace.
    pub trace_size: usize,
}

impl Default for Limits {
    /// RabbitMQ 3.x's defaults.
    fn default() -> Self {
        Limits {
            channel_max: 2047,
            max_message_size: 128 * 1024 * 1024,
            consumers_per_channel: None,
            vhost: VHostLimits::default(),
            trace_size: DEFAULT_TRACE_SIZE,
        }
    }
}

/// What `rabbitmqctl set_vhost_limits` sets: `None` is RabbitMQ's -1, no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VHostLimits {
    /// Open connections (past `connection.open`) in the vhost.
    pub max_connections: Option<u32>,
    /// Queues in the vhost (direct reply-to's private queues are not counted: RabbitMQ has
    /// no queue there).
    pub max_queues: Option<u32>,
}

impl Limits {
    /// The refusal of a body of `size` bytes, if it is over [`Limits::max_message_size`].
    /// RabbitMQ words it differently when the limit is its ceiling.
    pub(crate) fn check_message_size(&self, size: u64) -> AmqpResult<()> {
        let max = self.max_message_size;
        if size <= u64::from(max) {
            return Ok(());
        }
        let which = if max == MAX_MESSAGE_SIZE_CEILING {
            "max size"
        } else {
            "configured max size"
        };
        Err(AmqpError::precondition_failed(format!(
            "message size {size} is larger than {which} {max}"
        )))
    }

    /// The refusal of one more consumer on a channel that has `consumers()` (counted only
    /// when there is a limit), if that is over [`Limits::consumers_per_channel`].
    pub(crate) fn check_consumer_count(&self, consumers: impl FnOnce() -> usize) -> AmqpResult<()> {
        match self.consumers_per_channel {
            Some(max) if consumers() >= max as usize => Err(AmqpError::not_allowed(format!(
                "reached maximum ({max}) of consumers per channel"
            ))),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_size_refusals_read_as_rabbitmq_writes_them() {
        let limits = Limits {
            max_message_size: 10,
            ..Limits::default()
        };
        assert!(limits.check_message_size(10).is_ok());
        let error = limits.check_message_size(11).expect_err("over the limit");
        assert_eq!(
            error.reply_text(),
            "PRECONDITION_FAILED - message size 11 is larger than configured max size 10"
        );
        let ceiling = Limits {
            max_message_size: MAX_MESSAGE_SIZE_CEILING,
            ..Limits::default()
        };
        let error = ceiling
            .check_message_size(u64::from(MAX_MESSAGE_SIZE_CEILING) + 1)
            .expect_err("over the ceiling");
        assert!(error
            .explanation
            .ends_with("is larger than max size 536870912"));
    }
}
