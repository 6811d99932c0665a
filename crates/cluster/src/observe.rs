//! How an operation tells the user what it is doing: the CLI implements [`Observer`] with a
//! live display or plain lines; tests record the calls.

use crate::core::readiness::Progress;

/// Receives progress from long operations.
pub trait Observer {
    /// A step starts (`applying rbac`, `waiting for kata-deploy pods to clean their nodes`).
    fn step(&mut self, what: &str);
    /// A line of detail (an object applied, a node restored, a note).
    fn line(&mut self, text: &str);
    /// The per-node evaluation changed (waits).
    fn progress(&mut self, p: &Progress);
    /// A wait ended; a live display can be cleared.
    fn done(&mut self) {}
}

/// Logs through `tracing` (for callers without a terminal).
#[derive(Debug, Default)]
pub struct LogObserver;

impl Observer for LogObserver {
    fn step(&mut self, what: &str) {
        tracing::info!("{what}");
    }
    fn line(&mut self, text: &str) {
        tracing::info!("  {text}");
    }
    fn progress(&mut self, p: &Progress) {
        tracing::info!(
            "  {}/{} nodes ready, {} waiting, {} failed",
            p.ready(),
            p.nodes.len(),
            p.waiting(),
            p.failed()
        );
    }
}
