//! Node label writes from the CLI (`--label-workers`, `--label-gpu-nodes`) and uninstall's
//! node clean-up, on the rules of `cococtl_core::node_keys`: a label owned by others is set
//! with cococtl's record that it set it, and uninstall undoes exactly what the records say.

use std::collections::BTreeMap;

use cococtl_core::node_keys::{self, Changes};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Patch, PatchParams};
use kube::Api;

use crate::apply::FIELD_MANAGER;
use crate::client::Cluster;
use crate::error::ClusterError;

/// The JSON merge patch for `c` (`null` removes a key).
pub fn merge_patch(c: &Changes) -> serde_json::Value {
    serde_json::json!({"metadata": {"labels": c.labels, "annotations": c.annotations}})
}

/// A node's labels and annotations.
pub fn keys_of(n: &Node) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    (
        n.metadata.labels.clone().unwrap_or_default(),
        n.metadata.annotations.clone().unwrap_or_default(),
    )
}

/// Patches `node` with `c` (field manager `cococtl`), for `what`.
pub async fn patch(
    cluster: &Cluster,
    node: &str,
    c: &Changes,
    what: &str,
) -> Result<(), ClusterError> {
    let api: Api<Node> = Api::all(cluster.client.clone());
    let body = merge_patch(c);
    let pp = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    let patch = Patch::Merge(&body);
    cluster
        .call(what, || api.patch(node, &pp, &patch))
        .await
        .map(|_| ())
}

/// Sets the foreign label `label=value` on `node` and records that cococtl set it (one GET,
/// and one PATCH unless the node already shows it). `Ok(false)`: nothing was written.
pub async fn set_foreign(
    cluster: &Cluster,
    node: &str,
    label: &str,
    value: &str,
) -> Result<bool, ClusterError> {
    let api: Api<Node> = Api::all(cluster.client.clone());
    let n = cluster
        .call(&format!("reading node {node}"), || api.get(node))
        .await?;
    let (labels, annotations) = keys_of(&n);
    let c = node_keys::set_foreign(label, value, &labels, &annotations);
    if c.is_empty() {
        return Ok(false);
    }
    patch(
        cluster,
        node,
        &c,
        &format!("labelling node {node} {label}={value}"),
    )
    .await?;
    Ok(true)
}
