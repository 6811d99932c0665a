//! How the agent tells the cluster what happened on its node: the state label that the
//! kata-deploy DaemonSet waits for ([`labels::CONTAINERD_STATE`] = `ready`) and annotations
//! with the version, tarball digest and failure message. The trait is here; the kube-rs
//! implementation lives with the cluster code (`cococtl-cluster`).

use async_trait::async_trait;
use cococtl_core::labels;

/// The agent's outcome on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// A change is being made.
    Installing,
    /// The custom containerd runs and passed the gate.
    Ready,
    /// The node needs attention.
    Failed,
    /// The install failed and the previous containerd is back.
    RolledBack,
    /// The distribution's containerd is back.
    Restored,
}

impl State {
    /// The label value.
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

/// One report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The outcome.
    pub state: State,
    /// The version answering on the node's socket (empty when unknown).
    pub version: String,
    /// The installed tarball's SHA-256 (empty when none).
    pub sha256: String,
    /// Why, on failure.
    pub message: String,
}

/// Publishes reports.
#[async_trait]
pub trait Reporter: Send + Sync {
    /// Sets the state label and annotations on this node.
    async fn report(&self, r: &Report) -> Result<(), String>;
}

/// Reports through the log only: tests, or a run without `NODE_NAME`.
pub struct LogReporter;

#[async_trait]
impl Reporter for LogReporter {
    async fn report(&self, r: &Report) -> Result<(), String> {
        tracing::info!(
            "node: {}={} {}={} {}={}{}",
            labels::CONTAINERD_STATE,
            r.state.label(),
            labels::CONTAINERD_VERSION,
            r.version,
            labels::CONTAINERD_SHA256,
            r.sha256,
            if r.message.is_empty() {
                String::new()
            } else {
                format!(" ({})", r.message)
            }
        );
        Ok(())
    }
}

/// The merge patch for a report; empty values remove their annotation.
pub fn patch(r: &Report) -> serde_json::Value {
    let ann = |v: &str| {
        if v.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::Value::from(v)
        }
    };
    serde_json::json!({
        "metadata": {
            "labels": { labels::CONTAINERD_STATE: r.state.label() },
            "annotations": {
                labels::CONTAINERD_VERSION: ann(&r.version),
                labels::CONTAINERD_SHA256: ann(&r.sha256),
                labels::CONTAINERD_MESSAGE: ann(&r.message),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cococtl_core::node_keys::{listed, Kind};

    #[test]
    fn every_key_a_node_report_writes_is_in_the_core_list() {
        for state in [
            State::Installing,
            State::Ready,
            State::Failed,
            State::RolledBack,
            State::Restored,
        ] {
            let p = patch(&Report {
                state,
                version: "2.1.9".into(),
                sha256: "ab".into(),
                message: "why".into(),
            });
            for (kind, field) in [(Kind::Label, "labels"), (Kind::Annotation, "annotations")] {
                for k in p["metadata"][field]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k)
                {
                    assert!(
                        listed(kind, k).is_some(),
                        "{field} key {k} is not in cococtl_core::node_keys::KEYS"
                    );
                }
            }
        }
    }
}
