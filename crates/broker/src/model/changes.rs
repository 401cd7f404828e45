//! Waking whoever waits for part of the model to change (the test controls' waits for a
//! binding, a consumer, messages). Free when nobody waits: the changer reads one counter.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

#[derive(Debug, Default)]
pub struct Changes {
    /// How many [`Changes::until`] calls are waiting: `changed` notifies only when some are.
    waiters: AtomicUsize,
    notify: Notify,
}

impl Changes {
    /// Something a waiter may be looking for has changed. Called after the change is made (and
    /// its lock released), so a waiter that checks next sees it.
    pub fn changed(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.notify.notify_waiters();
        }
    }

    /// Calls `check` now and after each change until it answers `Some`, or until `timeout`
    /// (a future: the caller's clock) completes; then answers what `check` says a last time.
    pub async fn until<T>(
        &self,
        timeout: impl Future<Output = ()>,
        mut check: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        let _waiting = Waiting::enter(&self.waiters);
        let mut timeout = std::pin::pin!(timeout);
        loop {
            // Registered before the check: a change made after it wakes this waiter.
            let mut notified = std::pin::pin!(self.notify.notified());
            notified.as_mut().enable();
            if let Some(found) = check() {
                return Some(found);
            }
            tokio::select! {
                () = &mut notified => {}
                () = &mut timeout => return check(),
            }
        }
    }
}

/// One waiter counted for as long as it waits (also when its future is dropped: a client that
/// hung up).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn enter(waiters: &'a AtomicUsize) -> Self {
        waiters.fetch_add(1, Ordering::SeqCst);
        Waiting(waiters)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_change_wakes_the_waiter_and_a_timeout_ends_the_wait() {
        let changes = Arc::new(Changes::default());
        let flag = Arc::new(AtomicBool::new(false));
        let check = {
            let flag = Arc::clone(&flag);
            move || flag.load(Ordering::SeqCst).then_some("found")
        };
        let waiter = tokio::spawn({
            let changes = Arc::clone(&changes);
            async move { changes.until(std::future::pending(), check).await }
        });
        while changes.waiters.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        flag.store(true, Ordering::SeqCst);
        changes.changed();
        assert_eq!(waiter.await.ok().flatten(), Some("found"));
        assert_eq!(changes.waiters.load(Ordering::SeqCst), 0);

        let nothing = changes.until(std::future::ready(()), || None::<()>).await;
        assert_eq!(nothing, None);
    }
}
