//! Preflight decisions before the first write: the distribution the nodes show, the
//! architectures they have, another kata-deploy on the cluster, Pod Security enforcement,
//! and missing permissions. The edge gathers the facts; each check here turns them into a
//! [`Finding`] a user can act on.

use std::collections::BTreeSet;
use std::fmt;

use cococtl_core::Distribution;

use super::snapshot::NodeSnap;

/// A reason to stop before writing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What is wrong.
    pub problem: String,
    /// What to do.
    pub fix: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n  fix: {}", self.problem, self.fix)
    }
}

/// The distribution one node shows: the kubelet version's build suffix (`+k3s1`,
/// `+rke2r1`, `+k0s`), or MicroK8s's node label.
pub fn node_distribution(n: &NodeSnap) -> Distribution {
    let k = n.kubelet.to_ascii_lowercase();
    if k.contains("+k3s") {
        Distribution::K3s
    } else if k.contains("+rke2") {
        Distribution::Rke2
    } else if k.contains("+k0s") {
        Distribution::K0s
    } else if n.labels.contains_key("microk8s.io/cluster")
        || n.labels
            .keys()
            .any(|k| k.starts_with("node.kubernetes.io/microk8s"))
    {
        Distribution::Microk8s
    } else {
        Distribution::K8s
    }
}

/// The distribution of the cluster: what its nodes agree on (`Err` lists the mix).
pub fn detect_distribution(nodes: &[NodeSnap]) -> Result<Distribution, Finding> {
    let found: BTreeSet<&'static str> = nodes
        .iter()
        .map(|n| node_distribution(n).as_str())
        .collect();
    match found.len() {
        0 => Ok(Distribution::K8s),
        1 => Ok(found
            .iter()
            .next()
            .and_then(|d| Distribution::parse(d))
            .unwrap_or_default()),
        _ => Err(Finding {
            problem: format!(
                "the nodes show several Kubernetes distributions ({}); kata-deploy's \
                 k8sDistribution is one per install",
                found.into_iter().collect::<Vec<_>>().join(", ")
            ),
            fix: "install per node pool with a nodeSelector and a multi-install suffix".into(),
        }),
    }
}

/// What to do about `k8sDistribution`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DistributionDecision {
    /// The values agree with the nodes.
    Agrees,
    /// The user did not set it: use the detected one.
    AutoSet(Distribution),
}

/// Compares the detected distribution with `k8sDistribution` (`user_set`: the user gave
/// it in a profile, file or `--set`).
pub fn check_distribution(
    detected: Distribution,
    configured: Distribution,
    user_set: bool,
) -> Result<DistributionDecision, Finding> {
    if detected == configured {
        Ok(DistributionDecision::Agrees)
    } else if !user_set {
        Ok(DistributionDecision::AutoSet(detected))
    } else {
        Err(Finding {
            problem: format!(
                "k8sDistribution is {configured}, but the nodes run {detected}; kata-deploy \
                 would look for containerd's configuration in the wrong place \
                 (docs/kata-deploy-contract.md#g14)"
            ),
            fix: format!("--set k8sDistribution={detected}, or leave it unset to detect it"),
        })
    }
}

/// Nodes of the profile's architectures exist (`arches` in Kubernetes spelling).
pub fn check_arches(nodes: &[NodeSnap], arches: &[String]) -> Result<(), Finding> {
    if nodes.iter().any(|n| arches.iter().any(|a| a == n.arch())) {
        return Ok(());
    }
    let have: BTreeSet<&str> = nodes.iter().map(NodeSnap::arch).collect();
    Err(Finding {
        problem: format!(
            "no node has an architecture this profile installs for ({}); the cluster has: {}",
            arches.join(", "),
            if have.is_empty() {
                "no nodes".to_string()
            } else {
                have.into_iter().collect::<Vec<_>>().join(", ")
            }
        ),
        fix: "choose the profile for the cluster's architecture (cococtl profiles list)".into(),
    })
}

/// A DaemonSet found on the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignDaemonSet {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Its container images.
    pub images: Vec<String>,
    /// Its `cococtl.confidentialcontainers.org/instance` label.
    pub instance: Option<String>,
}

impl ForeignDaemonSet {
    /// From a listed DaemonSet.
    pub fn of(d: &k8s_openapi::api::apps::v1::DaemonSet) -> ForeignDaemonSet {
        ForeignDaemonSet {
            namespace: d.metadata.namespace.clone().unwrap_or_default(),
            name: d.metadata.name.clone().unwrap_or_default(),
            images: d
                .spec
                .as_ref()
                .and_then(|s| s.template.spec.as_ref())
                .map(|s| {
                    s.containers
                        .iter()
                        .filter_map(|c| c.image.clone())
                        .collect()
                })
                .unwrap_or_default(),
            instance: d
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(cococtl_core::labels::INSTANCE))
                .cloned(),
        }
    }
}

/// Node Feature Discovery runs (an `nfd-worker` DaemonSet or a node-feature-discovery
/// image): the chart's Helm `lookup` that adds the NFD TEE selectors to pure-TEE
/// RuntimeClasses (docs/kata-deploy-contract.md#g18).
pub fn nfd_detected(daemonsets: &[ForeignDaemonSet]) -> bool {
    daemonsets.iter().any(|d| {
        d.name.contains("nfd-worker")
            || d.images
                .iter()
                .any(|i| i.contains("node-feature-discovery"))
    })
}

/// A RuntimeClass found on the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignRuntimeClass {
    /// Name.
    pub name: String,
    /// Handler.
    pub handler: String,
    /// Its `cococtl.confidentialcontainers.org/instance` label.
    pub instance: Option<String>,
}

/// Another kata-deploy: a DaemonSet running a kata-deploy image that is not this release's
/// (`namespace`/`ds_name` with our instance label), or kata RuntimeClasses not owned by it.
/// With a multi-install suffix (`suffixed`), another install under another DaemonSet name
/// is a legitimate neighbour (docs/kata-deploy-contract.md#g15); without one, any
/// other kata-deploy stops the install.
pub fn other_kata_deploy(
    daemonsets: &[ForeignDaemonSet],
    runtime_classes: &[ForeignRuntimeClass],
    namespace: &str,
    ds_name: &str,
    instance: &str,
    suffixed: bool,
    planned_classes: &[String],
) -> Vec<Finding> {
    let mut out = vec![];
    for ds in daemonsets {
        let kata = ds.images.iter().any(|i| i.contains("kata-deploy"));
        let ours = ds.namespace == namespace
            && ds.name == ds_name
            && ds.instance.as_deref() == Some(instance);
        let neighbour = suffixed && ds.name != ds_name;
        if kata && !ours && !neighbour {
            out.push(Finding {
                problem: format!(
                    "another kata-deploy runs on this cluster: DaemonSet {}/{} ({}){}",
                    ds.namespace,
                    ds.name,
                    ds.images.join(", "),
                    match &ds.instance {
                        Some(i) => format!(", installed by cococtl as instance `{i}`"),
                        None => String::new(),
                    }
                ),
                fix:
                    "uninstall it first (helm uninstall, or cococtl uninstall -n <its namespace>), \
                      or install side by side with --set env.multiInstallSuffix=<name>"
                        .into(),
            });
        }
    }
    for rc in runtime_classes {
        let kata = rc.handler.starts_with("kata") || rc.name.starts_with("kata");
        let ours = rc.instance.as_deref() == Some(instance);
        if kata && !ours && planned_classes.contains(&rc.name) {
            out.push(Finding {
                problem: format!(
                    "RuntimeClass {} (handler {}) exists and is not this release's{}",
                    rc.name,
                    rc.handler,
                    match &rc.instance {
                        Some(i) => format!(" (cococtl instance `{i}`)"),
                        None => " (not installed by cococtl)".into(),
                    }
                ),
                fix: "remove the other kata installation first, or use a multi-install suffix"
                    .into(),
            });
        }
    }
    out
}

/// Pod Security: a namespace that enforces `baseline` or `restricted` forbids the
/// privileged pods (host paths). `ours`: cococtl owns the label (it will set `privileged`).
pub fn check_pod_security(
    namespace: &str,
    enforce: Option<&str>,
    ours: bool,
) -> Result<(), Finding> {
    match enforce {
        Some(level @ ("baseline" | "restricted")) if !ours => Err(Finding {
            problem: format!(
                "namespace {namespace} enforces Pod Security `{level}` (label \
                 pod-security.kubernetes.io/enforce, set by another field manager): the \
                 kata-deploy and containerd agent pods mount host paths and would be \
                 forbidden"
            ),
            fix: format!(
                "install into a namespace of its own (-n coco-system), or label it \
                 privileged yourself: kubectl label --overwrite ns {namespace} \
                 pod-security.kubernetes.io/enforce=privileged, or rerun with \
                 --force-conflicts to let cococtl take the label over"
            ),
        }),
        _ => Ok(()),
    }
}

/// A permission the operation needs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Permission {
    /// Verb.
    pub verb: &'static str,
    /// API group.
    pub group: String,
    /// Resource (plural).
    pub resource: String,
    /// Namespace (None: cluster-wide).
    pub namespace: Option<String>,
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = if self.group.is_empty() {
            String::new()
        } else {
            format!(".{}", self.group)
        };
        match &self.namespace {
            Some(ns) => write!(f, "{} {}{} in {ns}", self.verb, self.resource, g),
            None => write!(f, "{} {}{} (cluster-wide)", self.verb, self.resource, g),
        }
    }
}

/// The permissions `install` needs: apply (get, create, patch) every kind it applies, plus
/// what waits, preflight and the release record use.
pub fn install_permissions(kinds: &[(String, String, bool)], namespace: &str) -> Vec<Permission> {
    let mut out = BTreeSet::new();
    let p = |verb, group: &str, resource: &str, ns: Option<&str>| Permission {
        verb,
        group: group.into(),
        resource: resource.into(),
        namespace: ns.map(str::to_string),
    };
    for (group, plural, namespaced) in kinds {
        let ns = namespaced.then_some(namespace);
        for verb in ["get", "create", "patch"] {
            out.insert(p(verb, group, plural, ns));
        }
    }
    for verb in ["list", "watch"] {
        out.insert(p(verb, "", "nodes", None));
        out.insert(p(verb, "", "pods", Some(namespace)));
    }
    out.insert(p("list", "apps", "daemonsets", None));
    out.insert(p("list", "node.k8s.io", "runtimeclasses", None));
    for verb in ["get", "list", "create", "update", "delete"] {
        out.insert(p(verb, "", "secrets", Some(namespace)));
    }
    out.into_iter().collect()
}

/// `denied` as one finding naming each.
pub fn missing_permissions(denied: &[Permission], user: &str) -> Option<Finding> {
    if denied.is_empty() {
        return None;
    }
    Some(Finding {
        problem: format!(
            "{user} is missing {} permission(s) this needs:\n{}",
            denied.len(),
            denied
                .iter()
                .map(|d| format!("    - {d}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
        fix: "run as a cluster admin, or grant these verbs with a ClusterRole".into(),
    })
}

/// The oldest Kubernetes this supports: server-side apply, `node.k8s.io/v1` RuntimeClasses
/// and Pod Security admission labels are all GA from 1.25.
pub const MIN_KUBERNETES: (u32, u32) = (1, 25);

/// Checks the server's `gitVersion` (`v1.36.0`, `v1.33.1+k3s1`) against [`MIN_KUBERNETES`].
pub fn check_version(git_version: &str) -> Result<(), Finding> {
    let v = git_version.trim_start_matches('v');
    let mut parts = v.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().and_then(|p| p.parse::<u32>().ok());
    let minor = parts.next().and_then(|p| p.parse::<u32>().ok());
    match (major, minor) {
        (Some(ma), Some(mi)) if (ma, mi) >= MIN_KUBERNETES => Ok(()),
        (Some(_), Some(_)) => Err(Finding {
            problem: format!(
                "the API server runs Kubernetes {git_version}; cococtl needs {}.{} or newer \
                 (server-side apply, node.k8s.io/v1 RuntimeClasses, Pod Security labels)",
                MIN_KUBERNETES.0, MIN_KUBERNETES.1
            ),
            fix: "upgrade the cluster, or render the objects (cococtl render) and apply them yourself".into(),
        }),
        // An unparsable version is the server's business: go on.
        _ => Ok(()),
    }
}
