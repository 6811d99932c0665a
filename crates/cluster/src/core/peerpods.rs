//! Peer-pods decisions (docs/peerpods.md#cluster): what install waits for between phases,
//! when uninstall refuses, which namespaces it may delete, and the cluster preflight
//! (cert-manager, worker labels, another cloud-api-adaptor, referenced Secrets). Pure: the
//! edge gathers the facts.

use std::collections::{BTreeMap, BTreeSet};

use cococtl_manifests::{Object, Phase};
use cococtl_profile::peerpods::{PeerPods, Provider, SecretsMode};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

use super::inventory::Item;
use super::preflight::{Finding, ForeignDaemonSet};
use super::snapshot::NodeSnap;

/// The PeerPod CRD.
pub const PEERPOD_CRD: &str = "peerpods.confidentialcontainers.org";
/// The PeerPod API group.
pub const PEERPOD_GROUP: &str = "confidentialcontainers.org";
/// The PeerPod API version.
pub const PEERPOD_VERSION: &str = "v1alpha1";
/// The label CAA's DaemonSet selects nodes with.
pub const WORKER_LABEL: &str = cococtl_core::node_keys::WORKER_LABEL;
/// The extended resource CAA advertises per node and the webhook requests.
pub const VM_RESOURCE: &str = "kata.peerpods.io/vm";
/// The CRDs cert-manager must have installed for the webhook's Issuer and Certificate.
pub const CERT_MANAGER_CRDS: [&str; 2] =
    ["certificates.cert-manager.io", "issuers.cert-manager.io"];
/// The label EndpointSlices name their Service with.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Something install waits for before the next phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// A CRD's `Established` condition is `True`.
    CrdEstablished {
        /// The CRD name.
        name: String,
    },
    /// A Deployment is available with every replica updated.
    DeploymentAvailable {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// A Service has at least one ready endpoint (its EndpointSlices).
    ServiceEndpoints {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// Every webhook of a MutatingWebhookConfiguration has the `caBundle` cert-manager's CA
    /// injector adds (until then the API server cannot verify the webhook: with
    /// `failurePolicy: Fail` every pod creation it intercepts fails).
    CaBundleInjected {
        /// The MutatingWebhookConfiguration.
        name: String,
    },
}

impl std::fmt::Display for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Gate::CrdEstablished { name } => write!(f, "CRD {name} to be Established"),
            Gate::DeploymentAvailable { namespace, name } => {
                write!(f, "Deployment {namespace}/{name} to be available")
            }
            Gate::ServiceEndpoints { namespace, name } => {
                write!(f, "Service {namespace}/{name} to have a ready endpoint")
            }
            Gate::CaBundleInjected { name } => write!(
                f,
                "MutatingWebhookConfiguration {name} to have its caBundle (injected by cert-manager's CA injector)"
            ),
        }
    }
}

/// What install waits for after applying `phase`: every CRD Established (`crds`);
/// peerpod-ctrl available (`peerpod-ctrl`: it must run before CAA creates a VM); the webhook
/// Deployment available and its Service with ready endpoints (`webhook`: the
/// MutatingWebhookConfiguration comes next, and with `failurePolicy: Fail` every pod
/// creation in the cluster would fail while nothing answers behind it).
pub fn gates_after(phase: Phase, objects: &[Object]) -> Vec<Gate> {
    let named = |o: &Object| {
        (
            o.namespace().unwrap_or_default().to_string(),
            o.name().unwrap_or_default().to_string(),
        )
    };
    match phase {
        Phase::Crds => objects
            .iter()
            .filter(|o| o.kind() == "CustomResourceDefinition")
            .map(|o| Gate::CrdEstablished {
                name: o.name().unwrap_or_default().to_string(),
            })
            .collect(),
        Phase::PeerPodCtrl | Phase::Webhook => {
            let mut out: Vec<Gate> = objects
                .iter()
                .filter(|o| o.kind() == "Deployment")
                .map(|o| {
                    let (namespace, name) = named(o);
                    Gate::DeploymentAvailable { namespace, name }
                })
                .collect();
            if phase == Phase::Webhook {
                out.extend(objects.iter().filter(|o| o.kind() == "Service").map(|o| {
                    let (namespace, name) = named(o);
                    Gate::ServiceEndpoints { namespace, name }
                }));
            }
            out
        }
        Phase::WebhookConfiguration => objects
            .iter()
            .filter(|o| o.kind() == "MutatingWebhookConfiguration")
            .map(|o| Gate::CaBundleInjected {
                name: o.name().unwrap_or_default().to_string(),
            })
            .collect(),
        Phase::Namespace
        | Phase::Rbac
        | Phase::Config
        | Phase::NodeAgent
        | Phase::CloudApiAdaptor
        | Phase::Runtime
        | Phase::RuntimeClasses
        | Phase::Cleanup => vec![],
    }
}

/// `Ok` once every webhook of the configuration has a non-empty `caBundle`.
pub fn ca_bundle_injected(
    mwc: &k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration,
) -> Result<(), String> {
    let hooks = mwc.webhooks.clone().unwrap_or_default();
    let missing: Vec<String> = hooks
        .iter()
        .filter(|w| {
            w.client_config
                .ca_bundle
                .as_ref()
                .is_none_or(|c| c.0.is_empty())
        })
        .map(|w| w.name.clone())
        .collect();
    if hooks.is_empty() || !missing.is_empty() {
        Err(format!(
            "no caBundle yet on webhook(s) {} (is cert-manager's cainjector running? kubectl -n cert-manager get deploy)",
            missing.join(", ")
        ))
    } else {
        Ok(())
    }
}

/// Why install waits after `phase`, for the progress line.
pub fn gate_reason(phase: Phase) -> &'static str {
    match phase {
        Phase::Crds => "before anything relies on the CRD",
        Phase::Webhook => {
            "before the MutatingWebhookConfiguration exists, so pod admission never fails cluster-wide"
        }
        Phase::WebhookConfiguration => {
            "before anything creates pods: until the CA is injected the API server cannot verify the webhook, and every pod creation it intercepts fails with x509: certificate signed by unknown authority"
        }
        _ => "before cloud-api-adaptor can create a VM",
    }
}

/// `Ok` once the CRD is `Established`; else what it still says.
pub fn crd_established(crd: &CustomResourceDefinition) -> Result<(), String> {
    let conds = crd
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .cloned()
        .unwrap_or_default();
    match conds.iter().find(|c| c.type_ == "Established") {
        Some(c) if c.status == "True" => Ok(()),
        Some(c) => Err(format!(
            "Established={} ({})",
            c.status,
            c.message.clone().unwrap_or_default()
        )),
        None => Err("no Established condition yet".into()),
    }
}

/// `Ok` once the Deployment's controller saw its generation, every replica is updated and
/// available, at least one is, and `Available` is `True`; else the counts (a Deployment
/// scaled to zero is never available: its `Available` condition is `True` with 0 of 0).
pub fn deployment_available(d: &Deployment) -> Result<(), String> {
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let generation = d.metadata.generation.unwrap_or(0);
    let st = d.status.clone().unwrap_or_default();
    let available = st.available_replicas.unwrap_or(0);
    let updated = st.updated_replicas.unwrap_or(0);
    let cond = st
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Available" && c.status == "True");
    if want <= 0 {
        // A Deployment scaled to zero reports Available with 0 of 0: nothing answers.
        return Err(format!(
            "scaled to zero ({available} of {want} replica(s) available): nothing serves it; at least one available replica is needed (fix: kubectl scale deployment --replicas=1)"
        ));
    }
    if st.observed_generation.unwrap_or(0) >= generation
        && updated >= want
        && available >= want
        && cond
    {
        Ok(())
    } else {
        // The conditions say why (a webhook rejecting the pods, a passed deadline): that is
        // what the user acts on, the counts only say that something is wrong.
        let why = super::admission::deployment_problem(d)
            .map(|p| format!("; {p}"))
            .unwrap_or_default();
        Err(format!(
            "{available} of {want} replica(s) available, {updated} updated{why}"
        ))
    }
}

/// Ready endpoints across a Service's EndpointSlices (an endpoint without `ready` counts
/// as ready, as the API documents; terminating ones do not).
pub fn ready_endpoints(slices: &[EndpointSlice]) -> usize {
    slices
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .filter(|e| {
            let c = e.conditions.as_ref();
            c.and_then(|c| c.ready).unwrap_or(true)
                && !c.and_then(|c| c.terminating).unwrap_or(false)
        })
        .count()
}

/// Whether an inventory has the PeerPod CRD (peerpod-ctrl was installed).
pub fn has_peerpod_crd(inventory: &[Item]) -> bool {
    inventory
        .iter()
        .any(|i| i.kind == "CustomResourceDefinition" && i.name == PEERPOD_CRD)
}

/// One PeerPod object as uninstall and status see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerPodSnap {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The pod it belongs to (ownerReference, else its own name).
    pub pod: String,
    /// `spec.instanceID`, the cloud VM.
    pub instance_id: String,
}

impl std::fmt::Display for PeerPodSnap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PeerPod {}/{} (pod {}",
            self.namespace, self.name, self.pod
        )?;
        if !self.instance_id.is_empty() {
            write!(f, ", VM {}", self.instance_id)?;
        }
        f.write_str(")")
    }
}

impl PeerPodSnap {
    /// From the JSON of a PeerPod.
    pub fn of(v: &serde_json::Value) -> PeerPodSnap {
        let s = |p: &str| {
            v.pointer(p)
                .and_then(|x| x.as_str())
                .unwrap_or("")
                .to_string()
        };
        let owner = v
            .pointer("/metadata/ownerReferences")
            .and_then(|o| o.as_array())
            .and_then(|a| a.iter().find(|r| r["kind"] == "Pod"))
            .and_then(|r| r["name"].as_str())
            .map(str::to_string);
        let name = s("/metadata/name");
        PeerPodSnap {
            namespace: s("/metadata/namespace"),
            pod: owner.unwrap_or_else(|| name.clone()),
            name,
            instance_id: s("/spec/instanceID"),
        }
    }
}

/// PeerPods whose pod no longer exists: leaked VM suspects. `pods`: `namespace/name` of
/// every existing pod.
pub fn leak_suspects<'a>(
    peerpods: &'a [PeerPodSnap],
    pods: &BTreeSet<String>,
) -> Vec<&'a PeerPodSnap> {
    peerpods
        .iter()
        .filter(|p| !pods.contains(&format!("{}/{}", p.namespace, p.pod)))
        .collect()
}

/// Uninstall: refuse while PeerPod objects exist (each is a cloud VM peerpod-ctrl must
/// delete), unless `--force`.
pub fn refuse_peerpods(peerpods: &[PeerPodSnap], force: bool) -> Result<(), String> {
    if peerpods.is_empty() || force {
        return Ok(());
    }
    Err(format!(
        "{} PeerPod object(s) exist; each is a cloud VM that peerpod-ctrl deletes once its pod is gone:\n{}\n  fix: delete the pods that use kata-remote and wait for their PeerPods to go, or rerun with --force (uninstall then waits, up to --timeout, for peerpod-ctrl to delete the VMs before removing it)",
        peerpods.len(),
        peerpods
            .iter()
            .map(|p| format!("    - {p}"))
            .collect::<Vec<_>>()
            .join("\n")
    ))
}

/// Whether uninstall may delete a peer-pods namespace: not while it holds Secrets cococtl did
/// not create (the user's referenced credentials). `foreign`: names of those Secrets.
/// `Err` says why the namespace is kept.
pub fn namespace_deletable(namespace: &str, foreign: &[String]) -> Result<(), String> {
    if foreign.is_empty() {
        return Ok(());
    }
    Err(format!(
        "namespace {namespace} kept: it holds Secret(s) cococtl did not create ({}); cococtl never deletes Secrets it only references",
        foreign.join(", ")
    ))
}

/// Preflight: cert-manager's CRDs and its webhook, needed when the peer-pods webhook is on.
/// `crds`: the CRD names present; `webhook_ready`: cert-manager's webhook Deployment state
/// (`None` when no such Deployment was found).
pub fn check_cert_manager(
    crds: &BTreeSet<String>,
    webhook_ready: Option<Result<(), String>>,
) -> Option<Finding> {
    let missing: Vec<&str> = CERT_MANAGER_CRDS
        .iter()
        .copied()
        .filter(|c| !crds.contains(*c))
        .collect();
    let cost = "or install without the peer-pods webhook: --set peerpods.webhook.enabled=false (pods then keep their own CPU and memory requests, which the scheduler charges to the worker node although the pod runs in a cloud VM, and nothing limits VMs per node through kata.peerpods.io/vm)";
    if !missing.is_empty() {
        return Some(Finding {
            problem: format!(
                "the peer-pods webhook needs cert-manager (its Issuer and Certificate), but the CRD(s) {} are missing",
                missing.join(", ")
            ),
            fix: format!(
                "install cert-manager (https://cert-manager.io/docs/installation/) and rerun, {cost}"
            ),
        });
    }
    match webhook_ready {
        Some(Ok(())) => None,
        Some(Err(why)) => Some(Finding {
            problem: format!("cert-manager's webhook (Deployment cert-manager-webhook) is not ready: {why}"),
            fix: format!("wait until cert-manager is ready (kubectl -n cert-manager get pods) and rerun, {cost}"),
        }),
        None => Some(Finding {
            problem: "cert-manager's CRDs are installed, but its webhook Deployment (cert-manager-webhook) was not found".into(),
            fix: format!("install cert-manager completely and rerun, {cost}"),
        }),
    }
}

/// Preflight: CAA runs only on nodes labelled `node.kubernetes.io/worker`. `label`: the
/// nodes `--label-workers` names (labelled after preflight passes). `Ok` carries a note
/// about the nodes that stay without the label.
pub fn check_workers(nodes: &[NodeSnap], label: &[String]) -> Result<Option<String>, Finding> {
    let names: BTreeSet<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    let unknown: Vec<&str> = label
        .iter()
        .map(String::as_str)
        .filter(|n| !names.contains(n))
        .collect();
    if !unknown.is_empty() {
        return Err(Finding {
            problem: format!(
                "--label-workers names node(s) that do not exist: {}",
                unknown.join(", ")
            ),
            fix: format!(
                "name nodes of this cluster: {}",
                names.into_iter().collect::<Vec<_>>().join(", ")
            ),
        });
    }
    let lacking: Vec<&str> = nodes
        .iter()
        .filter(|n| !n.labels.contains_key(WORKER_LABEL) && !label.contains(&n.name))
        .map(|n| n.name.as_str())
        .collect();
    if lacking.len() == nodes.len() {
        return Err(Finding {
            problem: format!(
                "no node carries the label {WORKER_LABEL}, which the cloud-api-adaptor DaemonSet selects: it would run 0 pods and no peer pod could start (nodes without it: {})",
                lacking.join(", ")
            ),
            fix: format!(
                "rerun with --label-workers NODE... naming the nodes that should run peer pods (e.g. --label-workers {}), or label them yourself: kubectl label node NODE {WORKER_LABEL}=",
                lacking.first().copied().unwrap_or("NODE")
            ),
        });
    }
    Ok((!lacking.is_empty()).then(|| {
        format!(
            "{} node(s) without {WORKER_LABEL} run no peer pods: {} (--label-workers NODE... to add them)",
            lacking.len(),
            lacking.join(", ")
        )
    }))
}

/// Preflight: another cloud-api-adaptor (the operator's or a Helm install) would fight over
/// the same nodes, the `remote` shim's socket and the VM resource.
pub fn check_other_caa(dss: &[ForeignDaemonSet], instance: &str) -> Option<Finding> {
    let others: Vec<String> = dss
        .iter()
        .filter(|d| {
            d.images.iter().any(|i| i.contains("cloud-api-adaptor"))
                && d.instance.as_deref() != Some(instance)
        })
        .map(|d| format!("{}/{}", d.namespace, d.name))
        .collect();
    (!others.is_empty()).then(|| Finding {
        problem: format!(
            "another cloud-api-adaptor DaemonSet runs on this cluster ({}): two would serve the same remote shim socket on each node",
            others.join(", ")
        ),
        fix: "remove it first (helm uninstall peerpods, or delete the operator's PeerPodConfig), then rerun".into(),
    })
}

/// A Secret the release only references, with the keys it must hold (each inner list is
/// a set of alternatives: one complete set suffices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferencedSecret {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// What reads it.
    pub role: &'static str,
    /// Alternatives of key sets; empty: existence is enough.
    pub key_sets: Vec<Vec<&'static str>>,
}

/// The Secrets a reference-mode release needs on the cluster.
pub fn referenced_secrets(pp: &PeerPods) -> Vec<ReferencedSecret> {
    if pp.mode != SecretsMode::Reference {
        return vec![];
    }
    let mut out = vec![];
    let has = |k: &str| pp.config.get(k).is_some_and(|v| !v.is_empty());
    let sa = |k: &str| pp.service_account_annotations.contains_key(k);
    if let Some(name) = &pp.credentials_secret {
        let key_sets: Vec<Vec<&'static str>> = match pp.provider {
            Provider::Aws if !sa("eks.amazonaws.com/role-arn") => {
                vec![
                    vec!["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
                    vec!["AWS_ROLE_ARN"],
                ]
            }
            Provider::Azure if !sa("azure.workload.identity/client-id") => {
                let mut set = vec![];
                if !has("AZURE_CLIENT_ID") {
                    set.push("AZURE_CLIENT_ID");
                }
                if !has("AZURE_TENANT_ID") {
                    set.push("AZURE_TENANT_ID");
                }
                if set.is_empty() {
                    vec![]
                } else {
                    vec![set]
                }
            }
            Provider::Ibmcloud => vec![vec!["IBMCLOUD_API_KEY"], vec!["IBMCLOUD_IAM_PROFILE_ID"]],
            Provider::IbmcloudPowervs => vec![vec!["IBMCLOUD_API_KEY"]],
            _ => vec![],
        };
        out.push(ReferencedSecret {
            namespace: pp.namespace.clone(),
            name: name.clone(),
            role: "credentials (cloud-api-adaptor and peerpod-ctrl)",
            key_sets,
        });
    }
    if let Some(name) = &pp.ssh_key_secret {
        let keys = pp.provider.required_ssh_keys();
        out.push(ReferencedSecret {
            namespace: pp.namespace.clone(),
            name: name.clone(),
            role: "SSH keys",
            key_sets: if keys.is_empty() {
                vec![]
            } else {
                vec![keys.to_vec()]
            },
        });
    }
    if let Some(name) = &pp.tls_secret {
        out.push(ReferencedSecret {
            namespace: pp.namespace.clone(),
            name: name.clone(),
            role: "TLS certificates",
            key_sets: vec![],
        });
    }
    out
}

/// Preflight: each referenced Secret exists and holds one complete key set. `found`: per
/// `namespace/name`, the key names of the live Secret (never values).
pub fn check_secrets(
    wanted: &[ReferencedSecret],
    found: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<Finding> {
    let mut out = vec![];
    for s in wanted {
        let id = format!("{}/{}", s.namespace, s.name);
        match found.get(&id) {
            None => out.push(Finding {
                problem: format!(
                    "Secret {id} ({}) is referenced (secrets.mode=reference) but does not exist",
                    s.role
                ),
                fix: format!(
                    "create it in namespace {} before installing (kubectl -n {} create secret generic {} --from-literal=KEY=...)",
                    s.namespace, s.namespace, s.name
                ),
            }),
            Some(keys) => {
                if s.key_sets.is_empty()
                    || s.key_sets.iter().any(|set| set.iter().all(|k| keys.contains(*k)))
                {
                    continue;
                }
                let want = s
                    .key_sets
                    .iter()
                    .map(|set| set.join(" + "))
                    .collect::<Vec<_>>()
                    .join(", or ");
                let have = if keys.is_empty() {
                    "no keys".to_string()
                } else {
                    format!("keys {}", keys.iter().cloned().collect::<Vec<_>>().join(", "))
                };
                out.push(Finding {
                    problem: format!("Secret {id} ({}) holds {have}, but needs {want}", s.role),
                    fix: format!("add the missing key(s) to Secret {id}"),
                });
            }
        }
    }
    out
}

/// Per worker node: the cloud-api-adaptor pod and the VM capacity it advertises.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerPodsNode {
    /// Node name.
    pub name: String,
    /// The CAA pod's state (`running`, `not ready: <reason>`, `none`).
    pub caa_pod: String,
    /// `status.capacity["kata.peerpods.io/vm"]`.
    pub vm_capacity: Option<String>,
    /// `status.allocatable["kata.peerpods.io/vm"]`.
    pub vm_allocatable: Option<String>,
}

/// The peer-pods part of `cococtl status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerPodsReport {
    /// Worker nodes (and nodes running a CAA pod).
    pub nodes: Vec<PeerPodsNode>,
    /// PeerPod objects (each a cloud VM).
    pub peerpods: usize,
    /// PeerPods whose pod is gone (leaked VM suspects).
    pub leak_suspects: Vec<String>,
    /// Ready endpoints behind the webhook Service (`None`: no webhook).
    pub webhook_ready_endpoints: Option<usize>,
    /// The webhook's cert-manager Certificate: `Ready`, or why not (`None`: no webhook).
    pub certificate: Option<String>,
    /// The release's webhook and any webhook rejecting its workloads' pods.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<super::admission::WebhookHealth>,
    /// What needs attention.
    pub problems: Vec<String>,
}

/// One node's facts for [`report`].
#[derive(Debug, Clone, Default)]
pub struct NodeVm {
    /// Name.
    pub name: String,
    /// Carries `node.kubernetes.io/worker`.
    pub worker: bool,
    /// VM capacity.
    pub capacity: Option<String>,
    /// VM allocatable.
    pub allocatable: Option<String>,
}

/// Aggregates the peer-pods status. `caa_pods`: the CAA DaemonSet's pods; `webhook`:
/// ready endpoints and the Certificate's state when the webhook is installed.
pub fn report(
    nodes: &[NodeVm],
    caa_pods: &[super::snapshot::PodSnap],
    peerpods: &[PeerPodSnap],
    pods: &BTreeSet<String>,
    webhook: Option<(usize, Result<(), String>)>,
) -> PeerPodsReport {
    let mut problems = vec![];
    let mut out_nodes = vec![];
    for n in nodes {
        let pod = caa_pods.iter().find(|p| p.node == n.name && !p.deleting);
        if !n.worker && pod.is_none() {
            continue;
        }
        let caa_pod = match pod {
            None => "none".to_string(),
            Some(p) if p.ready => "running".to_string(),
            Some(p) => {
                let why = if p.reason.is_empty() {
                    &p.phase
                } else {
                    &p.reason
                };
                format!("not ready: {why}")
            }
        };
        if caa_pod != "running" {
            problems.push(format!("node {}: cloud-api-adaptor pod {caa_pod}", n.name));
        } else if n.allocatable.as_deref().is_none_or(|a| a == "0") {
            problems.push(format!(
                "node {}: cloud-api-adaptor runs but the node advertises no {VM_RESOURCE}",
                n.name
            ));
        }
        out_nodes.push(PeerPodsNode {
            name: n.name.clone(),
            caa_pod,
            vm_capacity: n.capacity.clone(),
            vm_allocatable: n.allocatable.clone(),
        });
    }
    if out_nodes.is_empty() {
        problems.push(format!(
            "no node carries {WORKER_LABEL}: cloud-api-adaptor runs nowhere"
        ));
    }
    let leak_suspects: Vec<String> = leak_suspects(peerpods, pods)
        .into_iter()
        .map(ToString::to_string)
        .collect();
    for l in &leak_suspects {
        problems.push(format!("{l}: its pod is gone (leaked VM?)"));
    }
    let (webhook_ready_endpoints, certificate) = match webhook {
        None => (None, None),
        Some((n, cert)) => {
            if n == 0 {
                problems.push("the peer-pods webhook has no ready endpoint: every pod creation in the selected namespaces fails (failurePolicy Fail)".into());
            }
            let c = match cert {
                Ok(()) => "Ready".to_string(),
                Err(w) => {
                    problems.push(format!("the webhook's Certificate is not ready: {w}"));
                    format!("not ready: {w}")
                }
            };
            (Some(n), Some(c))
        }
    };
    PeerPodsReport {
        nodes: out_nodes,
        peerpods: peerpods.len(),
        leak_suspects,
        webhook_ready_endpoints,
        certificate,
        webhooks: vec![],
        problems,
    }
}

/// Adds to `r` the peer-pods Deployments that are not available (with their conditions'
/// reason), every webhook rejecting the pods of the release's workloads (`rejections`:
/// namespace and rejection), and the release's own webhooks (`own`: the names in its
/// MutatingWebhookConfiguration): unhealthy without a ready endpoint or Certificate, or
/// when named in a rejection; healthy otherwise.
pub fn webhook_health(
    r: &mut PeerPodsReport,
    own: &[String],
    rejections: &[(String, super::admission::Rejection)],
    deployments: &[(String, String, Result<(), String>)],
) {
    for (ns, name, state) in deployments {
        if let Err(w) = state {
            r.problems
                .push(format!("Deployment {ns}/{name} is not available: {w}"));
        }
    }
    let mut hooks = super::admission::unhealthy_webhooks(rejections);
    let own_problem = match (r.webhook_ready_endpoints, &r.certificate) {
        (Some(0), _) => Some("no ready endpoint behind its Service: the API server cannot call it, every pod creation it selects fails".to_string()),
        (_, Some(c)) if c != "Ready" => Some(format!("its serving Certificate is {c}")),
        _ => None,
    };
    for name in own {
        if hooks.iter().any(|h| &h.name == name) {
            continue;
        }
        hooks.push(super::admission::WebhookHealth {
            name: name.clone(),
            healthy: own_problem.is_none(),
            reason: own_problem.clone().unwrap_or_default(),
        });
    }
    hooks.sort_by(|a, b| a.name.cmp(&b.name));
    for h in hooks.iter().filter(|h| !h.healthy) {
        r.problems
            .push(format!("webhook {} is unhealthy: {}", h.name, h.reason));
    }
    r.webhooks = hooks;
}

/// `Ok` when a cert-manager Certificate (JSON) has `Ready=True`; else its condition.
pub fn certificate_ready(cert: Option<&serde_json::Value>) -> Result<(), String> {
    let Some(c) = cert else {
        return Err("not found".into());
    };
    let cond = c
        .pointer("/status/conditions")
        .and_then(|c| c.as_array())
        .and_then(|a| a.iter().find(|c| c["type"] == "Ready"));
    match cond {
        Some(c) if c["status"] == "True" => Ok(()),
        Some(c) => Err(format!(
            "Ready={} ({})",
            c["status"].as_str().unwrap_or(""),
            c["message"].as_str().unwrap_or("")
        )),
        None => Err("no Ready condition yet (is cert-manager running?)".into()),
    }
}

/// The stage of a peer pod's start that failed (`cococtl verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The webhook (pod creation refused, or the VM resource not added).
    Admission,
    /// cloud-api-adaptor (no node offers the VM resource, no PeerPod created).
    Caa,
    /// The cloud provider's API (creating the VM failed).
    CloudApi,
    /// The kata agent in the VM, which the shim reaches on port 15150.
    AgentConnection,
    /// peerpod-ctrl (the PeerPod outlived its pod).
    PeerPodCtrl,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Admission => "admission (peer-pods webhook)",
            Stage::Caa => "cloud-api-adaptor",
            Stage::CloudApi => "cloud API (creating the pod VM)",
            Stage::AgentConnection => "agent connection (port 15150 in the pod VM)",
            Stage::PeerPodCtrl => "peerpod-ctrl (deleting the VM)",
        })
    }
}

/// Which stage a peer pod that did not run stopped at, from what could be seen: whether
/// the webhook added the VM resource (or there is no webhook), the scheduler's message,
/// whether a PeerPod appeared (CAA created the VM), and the pod's events.
///
/// No VM resource: admission. Unschedulable for want of `kata.peerpods.io/vm`: no CAA
/// advertises it. Events naming port 15150 or the agent, or a PeerPod that exists (the VM
/// was created): the agent connection. Cloud errors without a PeerPod: the cloud API.
/// Otherwise the shim never got through to CAA.
pub fn failed_stage(
    resource_added: bool,
    unschedulable: Option<&str>,
    peerpod_seen: bool,
    events: &[String],
) -> Stage {
    let ev = events.join("\n").to_ascii_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| ev.contains(w));
    if !resource_added {
        Stage::Admission
    } else if unschedulable.is_some_and(|m| m.contains(VM_RESOURCE)) {
        Stage::Caa
    } else if any(&["15150", "agent"]) || peerpod_seen {
        Stage::AgentConnection
    } else if any(&[
        "createinstance",
        "creating an instance",
        "failed to create",
        "quota",
        "unauthorized",
        "forbidden",
        "credential",
    ]) {
        Stage::CloudApi
    } else {
        Stage::Caa
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_gate() {
        let g = Gate::ServiceEndpoints {
            namespace: "a".into(),
            name: "b".into(),
        };
        assert_eq!(g.to_string(), "Service a/b to have a ready endpoint");
    }

    fn deployment(replicas: i32, available: i32, updated: i32, cond: &str) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "w", "generation": 1},
            "spec": {"replicas": replicas, "selector": {}, "template": {}},
            "status": {"observedGeneration": 1, "replicas": replicas,
                "availableReplicas": available, "updatedReplicas": updated,
                "conditions": [{"type": "Available", "status": cond}]}
        }))
        .unwrap()
    }

    #[test]
    fn a_deployment_is_available_only_with_at_least_one_available_replica() {
        // (wanted, available, updated, Available condition, available?)
        let table = [
            (0, 0, 0, "True", false),
            (1, 0, 1, "True", false),
            (1, 1, 1, "True", true),
            (2, 1, 2, "True", false),
            (2, 2, 2, "False", false),
            (3, 3, 3, "True", true),
        ];
        for (want, avail, upd, cond, ok) in table {
            let r = deployment_available(&deployment(want, avail, upd, cond));
            assert_eq!(r.is_ok(), ok, "{want}/{avail}/{upd}/{cond}: {r:?}");
        }
        let zero = deployment_available(&deployment(0, 0, 0, "True")).unwrap_err();
        assert!(
            zero.contains("scaled to zero") && zero.contains("at least one"),
            "{zero}"
        );
    }
}
