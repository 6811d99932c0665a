//! The edge of take-over detection: lists what [`crate::core::takeover`] reads (one list per
//! kind, Helm's release Secrets by their `owner=helm` label, CcRuntimes only when their CRD
//! exists) as JSON, and asks the pure core what is installed and what a take-over would do.
//! Nothing here writes.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Secret, ServiceAccount};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject};
use kube::Api;
use serde_json::Value;

use crate::client::Cluster;
use crate::core::takeover::{self, FoundInstall, Inputs, TakeoverError};
use crate::error::ClusterError;
use crate::list::list_all;

/// The CcRuntime CRD's name.
const CCRUNTIME_CRD: &str = "ccruntimes.confidentialcontainers.org";

/// What the caller listed already (preflight lists these anyway): not asked again.
#[derive(Debug, Default)]
pub struct Listed {
    /// DaemonSets, as JSON.
    pub daemonsets: Option<Vec<Value>>,
    /// RuntimeClasses, as JSON.
    pub runtime_classes: Option<Vec<Value>>,
    /// Nodes, as JSON.
    pub nodes: Option<Vec<Value>>,
    /// Also list every pod (the kata pods an old install runs refuse a take-over).
    pub with_pods: bool,
}

/// Typed objects as JSON (k8s-openapi writes `apiVersion` and `kind`).
pub fn to_json<K: serde::Serialize>(items: &[K]) -> Vec<Value> {
    items
        .iter()
        .filter_map(|o| serde_json::to_value(o).ok())
        .collect()
}

async fn all<K>(
    cluster: &Cluster,
    what: &str,
    labels: Option<&str>,
) -> Result<Vec<Value>, ClusterError>
where
    K: kube::Resource
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug
        + Send
        + 'static,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::all(cluster.client.clone());
    let (items, _) = list_all(cluster, &api, labels, None, what).await?;
    Ok(to_json(&items))
}

/// Lists what detection reads: one list per kind (cluster-wide), plus one GET of the
/// CcRuntime CRD and, when it exists, one list of CcRuntimes; pods only when asked
/// (`diff --take-over`, `install --take-over`: one more list).
pub async fn gather(cluster: &Cluster, have: Listed) -> Result<Inputs, ClusterError> {
    let daemonsets = match have.daemonsets {
        Some(d) => d,
        None => all::<DaemonSet>(cluster, "listing DaemonSets", None).await?,
    };
    let runtime_classes = match have.runtime_classes {
        Some(r) => r,
        None => all::<RuntimeClass>(cluster, "listing RuntimeClasses", None).await?,
    };
    let nodes = match have.nodes {
        Some(n) => n,
        None => all::<Node>(cluster, "listing nodes", None).await?,
    };
    let crd_api: Api<CustomResourceDefinition> = Api::all(cluster.client.clone());
    let crd = cluster
        .call_opt(
            &format!("reading CustomResourceDefinition {CCRUNTIME_CRD}"),
            || crd_api.get(CCRUNTIME_CRD),
        )
        .await?;
    let mut ccruntimes = vec![];
    let mut crds = vec![];
    if let Some(crd) = crd {
        // The version the server stores is one it serves.
        let version = crd
            .spec
            .versions
            .iter()
            .find(|v| v.storage)
            .or_else(|| crd.spec.versions.first())
            .map(|v| v.name.clone())
            .unwrap_or_else(|| "v1beta1".into());
        let ar = ApiResource {
            group: crd.spec.group.clone(),
            version: version.clone(),
            api_version: format!("{}/{version}", crd.spec.group),
            kind: crd.spec.names.kind.clone(),
            plural: crd.spec.names.plural.clone(),
        };
        let api: Api<DynamicObject> = Api::all_with(cluster.client.clone(), &ar);
        let lp = kube::api::ListParams::default();
        let list = cluster.call("listing CcRuntimes", || api.list(&lp)).await?;
        ccruntimes = list
            .items
            .iter()
            .filter_map(|o| serde_json::to_value(o).ok())
            .collect();
        crds = to_json(std::slice::from_ref(&crd));
    }
    Ok(Inputs {
        daemonsets,
        deployments: all::<Deployment>(cluster, "listing Deployments", None).await?,
        jobs: all::<Job>(cluster, "listing Jobs", None).await?,
        runtime_classes,
        service_accounts: all::<ServiceAccount>(cluster, "listing ServiceAccounts", None).await?,
        cluster_roles: all::<ClusterRole>(cluster, "listing ClusterRoles", None).await?,
        cluster_role_bindings: all::<ClusterRoleBinding>(
            cluster,
            "listing ClusterRoleBindings",
            None,
        )
        .await?,
        config_maps: all::<ConfigMap>(cluster, "listing ConfigMaps", None).await?,
        helm_secrets: all::<Secret>(cluster, "listing Helm release Secrets", Some("owner=helm"))
            .await?,
        namespaces: all::<Namespace>(cluster, "listing namespaces", None).await?,
        ccruntimes,
        crds,
        nodes,
        pods: if have.with_pods {
            all::<k8s_openapi::api::core::v1::Pod>(cluster, "listing pods", None).await?
        } else {
            vec![]
        },
    })
}

/// The installs on the cluster and the Helm release Secrets that did not decode.
pub async fn detect(
    cluster: &Cluster,
    have: Listed,
) -> Result<(Vec<FoundInstall>, Vec<TakeoverError>), ClusterError> {
    let i = gather(cluster, have).await?;
    Ok(takeover::detect(&i))
}

/// Like [`detect`], with the listed objects (the take-over's actions copy the old pod
/// templates from them).
pub async fn detect_with_inputs(
    cluster: &Cluster,
    have: Listed,
) -> Result<(Vec<FoundInstall>, Vec<TakeoverError>, Inputs), ClusterError> {
    let i = gather(cluster, have).await?;
    let (found, errors) = takeover::detect(&i);
    Ok((found, errors, i))
}

/// The refusal `install` gives when installs were found: what they are (kind, version,
/// owner), ending with the line that shows the plan.
pub fn refusal(found: &[FoundInstall], profile: &str) -> String {
    let mut out = String::from(
        "this cluster already has kata installed, and cococtl does not install over it:\n",
    );
    for f in found {
        out.push_str(&format!("  - {}\n", f.title()));
    }
    out.push_str(&format!(
        "  fix: see what taking it over would remove and keep: cococtl diff --profile {profile} --take-over"
    ));
    out
}
