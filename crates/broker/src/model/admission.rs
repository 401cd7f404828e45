//! The count of a vhost's open connections, and its `max-connections` limit.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::error::{AmqpError, AmqpResult};

/// How many connections are open in one vhost.
#[derive(Debug, Default)]
pub(crate) struct ConnectionCount(AtomicU32);

/// A connection's place in its vhost's count, given back when dropped.
#[derive(Debug)]
pub struct Admission(Arc<ConnectionCount>);

impl Admission {
    /// Counts a connection in, or refuses it as RabbitMQ does when the vhost's
    /// `max-connections` is reached.
    pub(crate) fn admit(
        count: &Arc<ConnectionCount>,
        max: Option<u32>,
        vhost: &str,
        user: &str,
    ) -> AmqpResult<Self> {
        let admitted = count
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                max.map_or(true, |max| open < max).then_some(open + 1)
            })
            .is_ok();
        if !admitted {
            return Err(AmqpError::not_allowed(format!(
                "access to vhost '{vhost}' refused for user '{user}': connection limit ({}) is reached",
                max.unwrap_or_default()
            )));
        }
        Ok(Admission(Arc::clone(count)))
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vhost_admits_up_to_its_limit_and_frees_places_on_drop() {
        let count = Arc::new(ConnectionCount::default());
        let admit = || Admission::admit(&count, Some(2), "/", "guest");
        let first = admit().expect("first");
        let _second = admit().expect("second");
        let refused = admit().expect_err("third");
        assert_eq!(
            refused.reply_text(),
            "NOT_ALLOWED - access to vhost '/' refused for user 'guest': connection limit (2) is reached"
        );
        drop(first);
        assert!(admit().is_ok());
    }
}
