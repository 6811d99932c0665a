//! A stop request (SIGTERM: the pod is being deleted), checked between the agent's steps
//! and awaited during the long ones (the download): before the first host change the run
//! ends with nothing changed; after it, the change is rolled back, so a stopped run never
//! leaves a half-made change behind. A health gate that already passed is not undone: see
//! `docs/node-agent.md#sigterm-during-an-install`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// Shared between the signal handler task and the agent.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    requested: AtomicBool,
    notify: Notify,
}

impl Stop {
    /// Asks the agent to stop at its next step, and wakes whatever awaits [`Stop::wait`].
    pub fn request(&self) {
        self.0.requested.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    /// A stop was asked for.
    pub fn requested(&self) -> bool {
        self.0.requested.load(Ordering::SeqCst)
    }

    /// Returns once a stop was asked for (at once if it already was).
    pub async fn wait(&self) {
        loop {
            let notified = self.0.notify.notified();
            tokio::pin!(notified);
            // Registered before the flag is read, so a request in between is not missed.
            notified.as_mut().enable();
            if self.requested() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn wait_returns_at_once_when_already_requested_and_wakes_on_a_later_request() {
        let s = Stop::default();
        let waiter = tokio::spawn({
            let s = s.clone();
            async move { s.wait().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        s.request();
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("woken")
            .unwrap();
        tokio::time::timeout(Duration::from_millis(50), s.wait())
            .await
            .expect("already requested");
    }
}
