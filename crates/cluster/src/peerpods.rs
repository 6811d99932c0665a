//! Peer pods against the API: the install gates (CRD Established, Deployments available,
//! the webhook's Service with ready endpoints), PeerPod objects, the cluster preflight, and
//! the Secrets uninstall must not delete. The decisions are in
//! [`crate::core::peerpods`]; docs/peerpods.md#cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cococtl_core::labels::INSTANCE;
use cococtl_profile::peerpods::PeerPods;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod, Secret};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject};
use kube::Api;
use tokio::time::Instant;

use crate::client::Cluster;
use crate::core::admission::{self, DeploymentProblem, Persistence};
use crate::core::inventory::Item;
use crate::core::peerpods::{self as pp, Gate, PeerPodSnap};
use crate::core::preflight::{Finding, ForeignDaemonSet};
use crate::core::snapshot::NodeSnap;
use crate::error::ClusterError;
use crate::list::list_all;
use crate::observe::Observer;

/// How often a gate is polled.
const POLL: Duration = Duration::from_millis(500);

/// The state of one gate now: `Ok` passed, `Err` what it still says.
pub async fn gate_state(cluster: &Cluster, g: &Gate) -> Result<Result<(), String>, ClusterError> {
    match g {
        Gate::CrdEstablished { name } => {
            let api: Api<CustomResourceDefinition> = Api::all(cluster.client.clone());
            Ok(
                match cluster
                    .call_opt(&format!("reading CRD {name}"), || api.get(name))
                    .await?
                {
                    Some(c) => pp::crd_established(&c),
                    None => Err("not found".into()),
                },
            )
        }
        Gate::DeploymentAvailable { namespace, name } => {
            let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), namespace);
            Ok(
                match cluster
                    .call_opt(&format!("reading Deployment {namespace}/{name}"), || {
                        api.get(name)
                    })
                    .await?
                {
                    Some(d) => pp::deployment_available(&d),
                    None => Err("not found".into()),
                },
            )
        }
        Gate::CaBundleInjected { name } => {
            let api: Api<
                k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration,
            > = Api::all(cluster.client.clone());
            Ok(
                match cluster
                    .call_opt(
                        &format!("reading MutatingWebhookConfiguration {name}"),
                        || api.get(name),
                    )
                    .await?
                {
                    Some(m) => pp::ca_bundle_injected(&m),
                    None => Err("not found".into()),
                },
            )
        }
        Gate::ServiceEndpoints { namespace, name } => {
            let n = ready_endpoints(cluster, namespace, name).await?;
            Ok(if n > 0 {
                Ok(())
            } else {
                Err("no ready endpoint (no pod behind the Service is ready)".into())
            })
        }
    }
}

/// Ready endpoints of a Service (its EndpointSlices).
pub async fn ready_endpoints(
    cluster: &Cluster,
    namespace: &str,
    service: &str,
) -> Result<usize, ClusterError> {
    let api: Api<EndpointSlice> = Api::namespaced(cluster.client.clone(), namespace);
    let (slices, _) = list_all(
        cluster,
        &api,
        Some(&format!("{}={service}", pp::SERVICE_NAME_LABEL)),
        None,
        &format!("listing the EndpointSlices of Service {namespace}/{service}"),
    )
    .await?;
    Ok(pp::ready_endpoints(&slices))
}

/// Waits for every gate, polling, until `timeout`.
pub async fn wait_gates(
    cluster: &Cluster,
    gates: &[Gate],
    timeout: Duration,
    why: &str,
    obs: &mut dyn Observer,
) -> Result<(), ClusterError> {
    if gates.is_empty() {
        return Ok(());
    }
    let deadline = Instant::now() + timeout;
    obs.step(&format!(
        "waiting up to {} for {} ({why})",
        crate::deploy::human(timeout),
        gates
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let started = Instant::now();
    let mut persistence = Persistence::default();
    let mut pending: Vec<Gate> = gates.to_vec();
    loop {
        let mut still = vec![];
        let mut left = vec![];
        for g in pending {
            if let Gate::DeploymentAvailable { namespace, name } = &g {
                if let Some(e) =
                    deployment_verdict(cluster, namespace, name, &mut persistence, started).await?
                {
                    return Err(e);
                }
            }
            match gate_state(cluster, &g).await? {
                Ok(()) => obs.line(&format!("{g}: yes")),
                Err(w) => {
                    still.push(format!("{g}: {w}"));
                    left.push(g);
                }
            }
        }
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ClusterError::Timeout {
                what: format!("peer-pods components ({why})"),
                after: timeout,
                still,
            });
        }
        pending = left;
        tokio::time::sleep(POLL).await;
    }
}

/// A Deployment that will not become available without a change: its ReplicaSet's pods
/// refused by admission for [`admission::PERSIST_FOR`], or its progress deadline passed
/// for the generation just applied.
async fn deployment_verdict(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    persistence: &mut Persistence,
    started: Instant,
) -> Result<Option<ClusterError>, ClusterError> {
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), namespace);
    let Some(d) = cluster
        .call_opt(&format!("reading Deployment {namespace}/{name}"), || {
            api.get(name)
        })
        .await?
    else {
        return Ok(None);
    };
    // Conditions of an older generation say nothing about what was just applied.
    let observed = d
        .status
        .as_ref()
        .and_then(|s| s.observed_generation)
        .unwrap_or(0)
        >= d.metadata.generation.unwrap_or(0);
    let after = Duration::from_secs(started.elapsed().as_secs());
    match admission::deployment_problem(&d)
        .filter(|_| observed && pp::deployment_available(&d).is_err())
    {
        Some(DeploymentProblem::ReplicaFailure(r)) => {
            if persistence.observe(&r, None, started.elapsed()) {
                return Ok(Some(ClusterError::Rejected {
                    explanation: r.explain(namespace),
                    after,
                }));
            }
        }
        Some(p @ DeploymentProblem::DeadlineExceeded(_)) => {
            return Ok(Some(ClusterError::Rejected {
                explanation: format!("Deployment {namespace}/{name}: {p}\n  fix: `kubectl describe deployment -n {namespace} {name}` and `kubectl get events -n {namespace}` say what its pods wait for"),
                after,
            }));
        }
        None => persistence.clear("Deployment", name),
    }
    Ok(None)
}

fn peerpod_resource() -> ApiResource {
    ApiResource {
        group: pp::PEERPOD_GROUP.into(),
        version: pp::PEERPOD_VERSION.into(),
        api_version: format!("{}/{}", pp::PEERPOD_GROUP, pp::PEERPOD_VERSION),
        kind: "PeerPod".into(),
        plural: "peerpods".into(),
    }
}

/// Every PeerPod object in the cluster (none when the CRD is not installed).
pub async fn peerpods(cluster: &Cluster) -> Result<Vec<PeerPodSnap>, ClusterError> {
    let api: Api<DynamicObject> = Api::all_with(cluster.client.clone(), &peerpod_resource());
    match list_all(cluster, &api, None, None, "listing PeerPod objects").await {
        Ok((items, _)) => Ok(items
            .iter()
            .filter_map(|o| serde_json::to_value(o).ok())
            .map(|v| PeerPodSnap::of(&v))
            .collect()),
        Err(ClusterError::NotFound { .. }) => Ok(vec![]),
        Err(e) => Err(e),
    }
}

/// Waits until no PeerPod object is left (peerpod-ctrl deleted their VMs), or `timeout`.
pub async fn wait_peerpods_gone(
    cluster: &Cluster,
    timeout: Duration,
    obs: &mut dyn Observer,
) -> Result<(), ClusterError> {
    let deadline = Instant::now() + timeout;
    let mut shown = usize::MAX;
    loop {
        let left = peerpods(cluster).await?;
        if left.is_empty() {
            return Ok(());
        }
        if left.len() != shown {
            obs.line(&format!(
                "{} PeerPod(s) left for peerpod-ctrl to delete",
                left.len()
            ));
            shown = left.len();
        }
        if Instant::now() >= deadline {
            return Err(ClusterError::Timeout {
                what: "peerpod-ctrl to delete the peer-pod VMs (PeerPod objects); peerpod-ctrl and the rest of the release are left in place so it can finish: delete the pods named below, then rerun `cococtl uninstall --force`".into(),
                after: timeout,
                still: left.iter().map(ToString::to_string).collect(),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Names of the Secrets in `namespace` cococtl did not create: neither labelled for
/// `instance` nor issued by cert-manager for one of the release's Certificates.
pub async fn foreign_secrets(
    cluster: &Cluster,
    namespace: &str,
    instance: &str,
    inventory: &[Item],
) -> Result<Vec<String>, ClusterError> {
    let api: Api<Secret> = Api::namespaced(cluster.client.clone(), namespace);
    let secrets = match list_all(
        cluster,
        &api,
        None,
        None,
        &format!("listing Secrets in {namespace}"),
    )
    .await
    {
        Ok((s, _)) => s,
        Err(ClusterError::NotFound { .. }) => return Ok(vec![]),
        Err(e) => return Err(e),
    };
    let certs: BTreeSet<&str> = inventory
        .iter()
        .filter(|i| i.kind == "Certificate" && i.namespace.as_deref() == Some(namespace))
        .map(|i| i.name.as_str())
        .collect();
    Ok(secrets
        .iter()
        .filter(|s| {
            let ours = s
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(INSTANCE))
                .is_some_and(|i| i == instance);
            let issued = s
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("cert-manager.io/certificate-name"))
                .is_some_and(|c| certs.contains(c.as_str()));
            let token = s.type_.as_deref() == Some("kubernetes.io/service-account-token");
            // The release records of this and other instances (never the user's).
            let record = s
                .type_
                .as_deref()
                .is_some_and(|t| t.starts_with("cococtl.confidentialcontainers.org/"));
            let token = token || record;
            !(ours || issued || token)
        })
        .filter_map(|s| s.metadata.name.clone())
        .collect())
}

/// What the peer-pods preflight learnt.
#[derive(Debug, Clone, Default)]
pub struct PreflightFacts {
    /// Nodes labelled by `--label-workers`.
    pub labelled: Vec<String>,
    /// A note on nodes without the worker label.
    pub note: Option<String>,
}

/// The peer-pods preflight: cert-manager (webhook on), worker labels, another CAA, the
/// referenced Secrets (key names only). Labels the `--label-workers` nodes once everything
/// else passes. `nodes` and `daemonsets` are what the main preflight listed.
/// `apply_labels` false (a dry run): the nodes count as labelled, nothing is written.
pub async fn preflight(
    cluster: &Cluster,
    p: &PeerPods,
    instance: &str,
    nodes: &[NodeSnap],
    daemonsets: &[ForeignDaemonSet],
    label_workers: &[String],
    apply_labels: bool,
) -> Result<PreflightFacts, ClusterError> {
    let mut findings: Vec<Finding> = vec![];
    // Without cert-manager (`webhook.certManager.enabled=false`) the user supplies the
    // serving certificate and the CA bundle: cert-manager is not required then.
    if p.webhook.as_ref().is_some_and(|w| w.cert_manager) {
        findings.extend(cert_manager_finding(cluster).await?);
    }
    let note = match pp::check_workers(nodes, label_workers) {
        Ok(n) => n,
        Err(f) => {
            findings.push(f);
            None
        }
    };
    findings.extend(pp::check_other_caa(daemonsets, instance));
    let wanted = pp::referenced_secrets(p);
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in &wanted {
        let api: Api<Secret> = Api::namespaced(cluster.client.clone(), &s.namespace);
        // Only the key names are kept; the values are dropped here and never printed.
        if let Some(secret) = cluster
            .call_opt(
                &format!("reading Secret {}/{}", s.namespace, s.name),
                || api.get(&s.name),
            )
            .await
            .or_else(|e| match e {
                ClusterError::NotFound { .. } => Ok(None),
                e => Err(e),
            })?
        {
            let mut keys: BTreeSet<String> = secret.data.unwrap_or_default().into_keys().collect();
            keys.extend(secret.string_data.unwrap_or_default().into_keys());
            found.insert(format!("{}/{}", s.namespace, s.name), keys);
        }
    }
    findings.extend(pp::check_secrets(&wanted, &found));
    if !findings.is_empty() {
        return Err(ClusterError::Preflight(findings));
    }
    let mut labelled = vec![];
    for n in label_workers.iter().filter(|_| apply_labels) {
        label_worker(cluster, n).await?;
        labelled.push(n.clone());
    }
    Ok(PreflightFacts { labelled, note })
}

async fn cert_manager_finding(cluster: &Cluster) -> Result<Option<Finding>, ClusterError> {
    let crd_api: Api<CustomResourceDefinition> = Api::all(cluster.client.clone());
    let mut crds = BTreeSet::new();
    for name in pp::CERT_MANAGER_CRDS {
        if cluster
            .call_opt(&format!("reading CRD {name}"), || crd_api.get(name))
            .await?
            .is_some()
        {
            crds.insert(name.to_string());
        }
    }
    let webhook = if crds.len() == pp::CERT_MANAGER_CRDS.len() {
        // cert-manager's webhook: usually cert-manager/cert-manager-webhook; else any
        // Deployment labelled as its webhook component.
        let api: Api<Deployment> = Api::all(cluster.client.clone());
        let (ds, _) = list_all(
            cluster,
            &api,
            Some("app.kubernetes.io/name=webhook,app.kubernetes.io/instance=cert-manager"),
            None,
            "listing cert-manager's webhook Deployment",
        )
        .await?;
        let ds = if ds.is_empty() {
            let (all, _) = list_all(
                cluster,
                &api,
                None,
                Some("metadata.name=cert-manager-webhook"),
                "listing cert-manager's webhook Deployment",
            )
            .await?;
            all
        } else {
            ds
        };
        ds.first().map(pp::deployment_available)
    } else {
        None
    };
    Ok(pp::check_cert_manager(&crds, webhook))
}

/// Labels one node `node.kubernetes.io/worker=` (a merge patch of that label and its record).
pub async fn label_worker(cluster: &Cluster, node: &str) -> Result<(), ClusterError> {
    // Recorded as set by cococtl, so uninstall removes it only where cococtl added it.
    crate::node_labels::set_foreign(cluster, node, pp::WORKER_LABEL, "")
        .await
        .map(|_| ())
}

/// `namespace/name` of every pod (for leak suspects).
pub async fn all_pods(cluster: &Cluster) -> Result<BTreeSet<String>, ClusterError> {
    let api: Api<Pod> = Api::all(cluster.client.clone());
    let (pods, _) = list_all(cluster, &api, None, None, "listing pods").await?;
    Ok(pods
        .iter()
        .map(|p| {
            format!(
                "{}/{}",
                p.metadata.namespace.as_deref().unwrap_or_default(),
                p.metadata.name.as_deref().unwrap_or_default()
            )
        })
        .collect())
}

/// The peer-pods status of a release (from its inventory: the CAA DaemonSet, the webhook
/// Service and Certificate); `None` when it has no CAA.
pub async fn status(
    cluster: &Cluster,
    inventory: &[Item],
) -> Result<Option<pp::PeerPodsReport>, ClusterError> {
    let Some(caa) = inventory
        .iter()
        .find(|i| i.kind == "DaemonSet" && i.name == "cloud-api-adaptor-daemonset")
    else {
        return Ok(None);
    };
    let ns = caa.namespace.clone().unwrap_or_default();
    let nodes_api: Api<Node> = Api::all(cluster.client.clone());
    let (nodes, _) = list_all(cluster, &nodes_api, None, None, "listing nodes").await?;
    let vm = |m: Option<
        &BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    >| { m.and_then(|m| m.get(pp::VM_RESOURCE)).map(|q| q.0.clone()) };
    let nodes: Vec<pp::NodeVm> = nodes
        .iter()
        .map(|n| pp::NodeVm {
            name: n.metadata.name.clone().unwrap_or_default(),
            worker: n
                .metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key(pp::WORKER_LABEL)),
            capacity: vm(n.status.as_ref().and_then(|s| s.capacity.as_ref())),
            allocatable: vm(n.status.as_ref().and_then(|s| s.allocatable.as_ref())),
        })
        .collect();
    let pods_api: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    let (pods, _) = list_all(
        cluster,
        &pods_api,
        None,
        None,
        &format!("listing pods in {ns}"),
    )
    .await?;
    let caa_pods: Vec<crate::core::snapshot::PodSnap> = pods
        .iter()
        .filter(|p| {
            p.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.kind == "DaemonSet" && o.name == caa.name)
        })
        .map(crate::core::snapshot::PodSnap::of)
        .collect();
    let peer = peerpods(cluster).await?;
    let all = if peer.is_empty() {
        BTreeSet::new()
    } else {
        all_pods(cluster).await?
    };
    let webhook = match inventory
        .iter()
        // `<webhook.namePrefix>webhook-service`: the only Service of that name ending.
        .find(|i| i.kind == "Service" && i.name.ends_with("webhook-service"))
    {
        None => None,
        Some(svc) => {
            let sns = svc.namespace.clone().unwrap_or_default();
            let n = ready_endpoints(cluster, &sns, &svc.name).await?;
            let cert = match inventory.iter().find(|i| i.kind == "Certificate") {
                Some(c) => crate::apply::get(cluster, c)
                    .await?
                    .and_then(|o| serde_json::to_value(o).ok()),
                None => None,
            };
            Some((n, pp::certificate_ready(cert.as_ref())))
        }
    };
    let mut rep = pp::report(&nodes, &caa_pods, &peer, &all, webhook);
    // Admission: the Deployments' conditions, the CAA DaemonSet's FailedCreate events (one
    // list in its namespace) while a worker lacks its pod, the webhook configuration.
    let mut rejections = vec![];
    let mut deployments = vec![];
    for d in inventory.iter().filter(|i| i.kind == "Deployment") {
        let dns = d.namespace.clone().unwrap_or_default();
        let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &dns);
        let Some(live) = cluster
            .call_opt(&format!("reading Deployment {dns}/{}", d.name), || {
                api.get(&d.name)
            })
            .await?
        else {
            deployments.push((dns, d.name.clone(), Err("not found".to_string())));
            continue;
        };
        if let Some(DeploymentProblem::ReplicaFailure(r)) = admission::deployment_problem(&live) {
            rejections.push((dns.clone(), r));
        }
        deployments.push((dns, d.name.clone(), pp::deployment_available(&live)));
    }
    if rep.nodes.iter().any(|n| n.caa_pod == "none") {
        let evs = crate::wait::warnings(cluster, &ns).await?;
        if let Some(r) = evs
            .iter()
            .filter(|e| e.kind == "DaemonSet" && e.name == caa.name)
            .filter_map(|e| admission::Rejection::of_event(e).map(|r| (e, r)))
            .max_by(|a, b| a.0.last.cmp(&b.0.last))
            .map(|(_, r)| r)
        {
            rejections.push((ns.clone(), r));
        }
    }
    let mut own = vec![];
    if let Some(m) = inventory
        .iter()
        .find(|i| i.kind == "MutatingWebhookConfiguration")
    {
        if let Some(o) = crate::apply::get(cluster, m).await? {
            let v = serde_json::to_value(o).unwrap_or_default();
            own = v["webhooks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|w| w["name"].as_str().map(String::from))
                .collect();
        }
    }
    pp::webhook_health(&mut rep, &own, &rejections, &deployments);
    Ok(Some(rep))
}
