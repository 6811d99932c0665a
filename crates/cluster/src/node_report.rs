//! The node agent's report on its own Node: one merge patch of the state label and the
//! annotations (field manager `cococtl`), riding out an API outage for
//! [`retry::AGENT_PATIENCE`] (an agent must not crash-loop because the API server
//! restarted). RBAC: `nodes`
//! `get, patch`, rendered with the agent's DaemonSet.

use async_trait::async_trait;
use cococtl_containerd::report::{self, LogReporter, Report, Reporter};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Patch, PatchParams};

use crate::retry;

/// Patches this node's Node object.
pub struct KubeReporter {
    node: String,
    client: kube::Client,
}

impl KubeReporter {
    /// In-cluster configuration (the agent's ServiceAccount), or KUBECONFIG.
    pub async fn new(node: &str) -> Result<Self, String> {
        let client = crate::agent_client()
            .await
            .map_err(|e| format!("node reporting: {e}"))?;
        Ok(Self::with_client(node, client))
    }

    /// With a given client (tests, or a caller that already has one).
    pub fn with_client(node: &str, client: kube::Client) -> Self {
        KubeReporter {
            node: node.into(),
            client,
        }
    }
}

#[async_trait]
impl Reporter for KubeReporter {
    async fn report(&self, r: &Report) -> Result<(), String> {
        LogReporter.report(r).await?;
        let api: kube::Api<Node> = kube::Api::all(self.client.clone());
        let body = report::patch(r);
        let params = PatchParams {
            field_manager: Some("cococtl".into()),
            ..Default::default()
        };
        let patch = || async { api.patch(&self.node, &params, &Patch::Merge(&body)).await };
        retry::with_patience(retry::AGENT_PATIENCE, retry::is_transient, patch, |e, d| {
            tracing::warn!("patching node {}: {e}; retrying in {d:?}", self.node)
        })
        .await
        .map(|_| ())
        .map_err(|e| match e {
            kube::Error::Api(s) => {
                format!("patching node {}: {} {}", self.node, s.code, s.message)
            }
            other => format!("patching node {}: {other}", self.node),
        })
    }
}
