//! How the agent tells the cluster what happened on its node. The state label is what the
//! kata-deploy DaemonSet waits for ([`crate::labels::CONTAINERD_STATE`] = `ready`).

use crate::labels;

/// The agent's outcome on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Installing,
    Ready,
    Failed,
    RolledBack,
    Restored,
}

impl State {
    pub fn label(self) -> &'static str {
        match self {
            State::Installing => "installing",
            State::Ready => labels::CONTAINERD_READY,
            State::Failed => "failed",
            State::RolledBack => "rolled-back",
            State::Restored => "restored",
        }
    }
}

pub trait Reporter {
    /// Sets the state label and annotations (version, sha256, message) on this node.
    fn report(&self, state: State, version: &str, sha256: &str, message: &str);
}

/// Reports on stderr only: tests, or a run without `NODE_NAME`.
pub struct LogReporter;

impl Reporter for LogReporter {
    fn report(&self, state: State, version: &str, sha256: &str, message: &str) {
        eprintln!(
            "node: {}={} {}={version} {}={sha256}{}",
            labels::CONTAINERD_STATE,
            state.label(),
            labels::CONTAINERD_VERSION,
            labels::CONTAINERD_SHA256,
            if message.is_empty() {
                String::new()
            } else {
                format!(" ({message})")
            }
        );
    }
}
