//! A stop request (SIGTERM: the pod is being deleted), checked between the agent's steps:
//! before the first host change the run ends with nothing changed; after it, the change
//! is rolled back, so a stopped run never leaves a half-made change behind.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Shared between the signal handler task and the agent.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// Asks the agent to stop at its next step.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// A stop was asked for.
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
