//! The release records in the cluster: Secrets of type
//! `cococtl.confidentialcontainers.org/release.v1` in the release namespace, written with
//! server-side apply (so a rerun after an interruption simply overwrites its own record).

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::Api;

use crate::apply::FIELD_MANAGER;
use crate::client::Cluster;
use crate::core::release::{self, History, Release};
use crate::error::ClusterError;
use crate::list::list_all;

/// Every record of every instance in `namespace` (one list).
pub async fn load_all(cluster: &Cluster, namespace: &str) -> Result<Vec<Release>, ClusterError> {
    let api: Api<Secret> = Api::namespaced(cluster.client.clone(), namespace);
    let (secrets, _) = list_all(
        cluster,
        &api,
        Some(&format!("{}=cococtl", release::OWNER_LABEL)),
        Some(&format!("type={}", release::SECRET_TYPE)),
        &format!("listing release records in {namespace}"),
    )
    .await?;
    let mut out = vec![];
    for s in &secrets {
        match Release::from_secret(s) {
            Ok(r) => out.push(r),
            Err(e) => tracing::warn!("skipping {e}"),
        }
    }
    Ok(out)
}

/// The history of one instance in `namespace`.
pub async fn history(
    cluster: &Cluster,
    namespace: &str,
    instance: &str,
) -> Result<History, ClusterError> {
    let all = load_all(cluster, namespace).await?;
    Ok(History::new(
        all.into_iter().filter(|r| r.instance == instance).collect(),
    ))
}

/// Writes (creates or overwrites) a record.
pub async fn save(cluster: &Cluster, r: &Release) -> Result<(), ClusterError> {
    let api: Api<Secret> = Api::namespaced(cluster.client.clone(), &r.namespace);
    let mut s = r.to_secret();
    s.metadata.namespace = None;
    let body = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": s.metadata,
        "type": s.type_,
        "data": s.data,
    });
    let name = r.secret_name();
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    let patch = Patch::Apply(&body);
    cluster
        .call(
            &format!("writing release record {}/{name}", r.namespace),
            || api.patch(&name, &pp, &patch),
        )
        .await
        .map(|_| ())
}

/// Deletes one revision's record (gone already is fine).
pub async fn delete(
    cluster: &Cluster,
    namespace: &str,
    instance: &str,
    revision: u32,
) -> Result<(), ClusterError> {
    let api: Api<Secret> = Api::namespaced(cluster.client.clone(), namespace);
    let name = release::secret_name(instance, revision);
    let dp = Default::default();
    cluster
        .call_opt(
            &format!("deleting release record {namespace}/{name}"),
            || api.delete(&name, &dp),
        )
        .await
        .map(|_| ())
}
