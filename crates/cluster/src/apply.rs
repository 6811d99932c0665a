//! Server-side apply of any object (field manager `cococtl`), dry runs, deletes and gets,
//! all through `Api<DynamicObject>` so kinds without a k8s-openapi type apply the same way.

use cococtl_manifests::{Object, ResourceType};
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PropagationPolicy};
use std::time::{Duration, Instant};

use kube::Api;

use crate::client::Cluster;
use crate::core::inventory::Item;
use crate::error::ClusterError;

/// The field manager of everything cococtl applies.
pub const FIELD_MANAGER: &str = "cococtl";

/// The `Api` for a resource type, in `namespace` when namespaced.
pub fn api(cluster: &Cluster, r: &ResourceType, namespace: Option<&str>) -> Api<DynamicObject> {
    let ar = r.api_resource();
    match (r.namespaced, namespace) {
        (true, Some(ns)) => Api::namespaced_with(cluster.client.clone(), ns, &ar),
        _ => Api::all_with(cluster.client.clone(), &ar),
    }
}

/// How to apply.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// Server-side dry run (`dryRun=All`): validated and defaulted, nothing stored.
    pub dry_run: bool,
    /// Take over fields another manager owns (`force=true`).
    pub force_conflicts: bool,
}

/// Applies one object; returns the server's result (with uid and managedFields).
pub async fn apply(
    cluster: &Cluster,
    o: &Object,
    opts: ApplyOptions,
) -> Result<DynamicObject, ClusterError> {
    let id = o.id();
    let body = o
        .to_dynamic()
        .map_err(|e| ClusterError::Input(e.to_string()))?;
    let name = o.name().unwrap_or_default().to_string();
    let api = api(cluster, o.resource(), o.namespace());
    let mut pp = PatchParams::apply(FIELD_MANAGER);
    pp.force = opts.force_conflicts;
    pp.dry_run = opts.dry_run;
    let what = format!("applying {id}");
    let patch = Patch::Apply(&body);
    cluster.call(&what, || api.patch(&name, &pp, &patch)).await
}

/// Gets the live copy of an item (`None` when it does not exist).
pub async fn get(cluster: &Cluster, i: &Item) -> Result<Option<DynamicObject>, ClusterError> {
    let api = api(cluster, &i.resource(), i.namespace.as_deref());
    cluster
        .call_opt(&format!("reading {}", i.id()), || api.get(&i.name))
        .await
}

/// Deletes an item; `Ok(false)` when it was already gone. Dependents are deleted in the
/// background (pods of a DaemonSet get their grace period).
pub async fn delete(cluster: &Cluster, i: &Item) -> Result<bool, ClusterError> {
    let api = api(cluster, &i.resource(), i.namespace.as_deref());
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..Default::default()
    };
    Ok(cluster
        .call_opt(&format!("deleting {}", i.id()), || api.delete(&i.name, &dp))
        .await?
        .is_some())
}

/// Waits until `i` is gone (a deleted namespace stays Terminating while the namespace
/// controller empties it; an object with finalizers stays until they are done).
pub async fn wait_gone(cluster: &Cluster, i: &Item, timeout: Duration) -> Result<(), ClusterError> {
    let deadline = Instant::now() + timeout;
    loop {
        if get(cluster, i).await?.is_none() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ClusterError::Timeout {
                what: format!("{} to be deleted (finalizers still running?)", i.id()),
                after: timeout,
                still: vec![],
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Gives up every field cococtl applied to an object (server-side apply of a body with
/// only its identity): fields only cococtl owned are removed, the object stays.
pub async fn release_fields(cluster: &Cluster, i: &Item) -> Result<(), ClusterError> {
    let api = api(cluster, &i.resource(), i.namespace.as_deref());
    let mut meta = serde_json::json!({"name": i.name});
    if let Some(ns) = &i.namespace {
        meta["namespace"] = serde_json::json!(ns);
    }
    let body = serde_json::json!({
        "apiVersion": i.resource().api_version(),
        "kind": i.kind,
        "metadata": meta,
    });
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    let patch = Patch::Apply(&body);
    cluster
        .call_opt(&format!("releasing cococtl's fields of {}", i.id()), || {
            api.patch(&i.name, &pp, &patch)
        })
        .await
        .map(|_| ())
}
