//! Test controls: what no RabbitMQ has, for the tests that drive a bus. Waits that end the race
//! between "the consumer has bound its queue" and "publish now" (a binding, a consumer, ready
//! messages), a look at a queue's messages that leaves them where they are, the routing trace
//! (where each recent publish went, through which bindings), and a reset of a vhost to its
//! start state. Built on the
//! model's own verbs and change notices; the management door serves them under `/api/warren/`,
//! and a Rust test calls them on the [`Broker`](crate::Broker).

mod peek;
mod reset;
mod trace;
mod wait;

use std::time::Duration;

pub use reset::ResetDone;
pub use trace::{Hop, Route, TracedPublish};
pub use wait::BindingWanted;

/// The longest a wait waits: a longer timeout is cut to this (and the answer says so).
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// The most messages one peek returns.
pub const MAX_PEEK: usize = 1_000;

/// Why a control could not answer what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlError {
    /// No vhost of that name.
    NoVhost(String),
    /// No queue of that name in the vhost (a peek; a wait waits for it instead).
    NoQueue { vhost: String, queue: String },
    /// What was waited for did not happen within the (capped) timeout.
    Timeout {
        waited_for: String,
        timeout: Duration,
    },
}

impl std::fmt::Display for ControlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ControlError::NoVhost(vhost) => write!(f, "no vhost '{vhost}'"),
            ControlError::NoQueue { vhost, queue } => {
                write!(f, "no queue '{queue}' in vhost '{vhost}'")
            }
            ControlError::Timeout {
                waited_for,
                timeout,
            } => write!(f, "no {waited_for} within {} ms", timeout.as_millis()),
        }
    }
}

impl std::error::Error for ControlError {}

/// A timeout as asked, and as a wait uses it: at most [`MAX_WAIT`].
pub fn capped(timeout: Duration) -> Duration {
    timeout.min(MAX_WAIT)
}
