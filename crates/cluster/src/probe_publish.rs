//! The probe agent's publication on its own Node: the labels and summary annotation of
//! `cococtl_probe::publish`, in one merge patch (field manager `cococtl`), and only when
//! the Node does not already show them, riding out an API outage for
//! [`retry::AGENT_PATIENCE`]. RBAC: `nodes` `get, patch`.

use cococtl_probe::publish::{self, Summary};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Patch, PatchParams};

use crate::retry;

/// What a publication did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// The Node was patched.
    Patched,
    /// The Node already showed this summary: nothing was written.
    Unchanged,
}

/// Publishes `summary` on `node`.
pub async fn publish(
    client: &kube::Client,
    node: &str,
    summary: &Summary,
    tee_labels: bool,
) -> Result<Published, String> {
    let api: kube::Api<Node> = kube::Api::all(client.clone());
    let get = || async { api.get(node).await };
    let current = retry::with_patience(retry::AGENT_PATIENCE, retry::is_transient, get, |e, d| {
        tracing::warn!("reading node {node}: {e}; retrying in {d:?}")
    })
    .await
    .map_err(|e| describe(node, "reading", e))?;
    let labels = current.metadata.labels.unwrap_or_default();
    let annotations = current.metadata.annotations.unwrap_or_default();
    let Some(body) = publish::patch(&labels, &annotations, summary, tee_labels) else {
        return Ok(Published::Unchanged);
    };
    let params = PatchParams {
        field_manager: Some("cococtl".into()),
        ..Default::default()
    };
    let patch = || async { api.patch(node, &params, &Patch::Merge(&body)).await };
    retry::with_patience(retry::AGENT_PATIENCE, retry::is_transient, patch, |e, d| {
        tracing::warn!("patching node {node}: {e}; retrying in {d:?}")
    })
    .await
    .map(|_| Published::Patched)
    .map_err(|e| describe(node, "patching", e))
}

fn describe(node: &str, what: &str, e: kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{what} node {node}: {} {}", s.code, s.message),
        other => format!("{what} node {node}: {other}"),
    }
}
