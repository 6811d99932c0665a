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
/// When either has a multi-install suffix (`suffixed`, or the other's instance or name),
/// another install under another DaemonSet name is a legitimate neighbour
/// (docs/kata-deploy-contract.md#g15); when neither has one, any other kata-deploy stops
/// the install.
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
        // Two installs collide only when neither has a suffix (same handlers, host paths
        // and drop-in): a suffixed one, this or the other (a cococtl instance other than
        // `default`, or the chart's `kata-deploy-<sfx>` name), lives next to it.
        let other_suffixed = ds.instance.as_deref().is_some_and(|i| i != "default")
            || ds.name.starts_with("kata-deploy-");
        let neighbour = (suffixed || other_suffixed) && ds.name != ds_name;
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

/// A namespace being deleted takes no new objects (the API server answers `403` with
/// cause `NamespaceTerminating`), and whatever was applied to it would go with it.
pub fn check_namespace_not_terminating(
    namespace: &str,
    deletion_timestamp: Option<&str>,
) -> Result<(), Finding> {
    match deletion_timestamp {
        Some(since) => Err(Finding {
            problem: format!(
                "namespace {namespace} is being deleted (Terminating since {since}): the API \
                 server refuses new objects in it, and what is in it is being removed"
            ),
            fix: format!(
                "wait until `kubectl get namespace {namespace}` says NotFound, then run \
                 again; if it stays Terminating, `kubectl get namespace {namespace} -o yaml` \
                 shows the conditions (finalizers) holding it; or install into another \
                 namespace with -n"
            ),
        }),
        None => Ok(()),
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

/// A live object with the name of one the plan would apply, as ownership sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveObject {
    /// Kind.
    pub kind: String,
    /// Namespace (None: cluster-scoped).
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Annotations.
    pub annotations: std::collections::BTreeMap<String, String>,
    /// Field managers of the object itself (not of a subresource such as `status`).
    pub managers: Vec<String>,
}

impl LiveObject {
    /// `Kind/ns/name` or `Kind/name`.
    pub fn id(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{ns}/{}", self.kind, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }

    /// `kind/name` as `kubectl delete` takes it.
    fn kubectl_ref(&self) -> String {
        format!("{}/{}", self.kind.to_ascii_lowercase(), self.name)
    }
}

/// Who owns an object cococtl would apply, when it is not this release.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ForeignOwner {
    /// A Helm release (`meta.helm.sh/release-name`/`-namespace`).
    Helm {
        /// Release name.
        release: String,
        /// Release namespace.
        namespace: String,
    },
    /// Another cococtl instance.
    Cococtl {
        /// Its instance.
        instance: String,
    },
    /// `app.kubernetes.io/managed-by`, or field managers other than cococtl.
    Other {
        /// The tool(s).
        by: String,
    },
}

/// Field managers that are the control plane's own, never an installer.
const SYSTEM_MANAGERS: &[&str] = &[
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
];

/// Who owns `o` if not this release `instance` (`None`: this release's, or nobody's).
pub fn foreign_owner(o: &LiveObject, instance: &str) -> Option<ForeignOwner> {
    let helm = (
        o.annotations.get("meta.helm.sh/release-name"),
        o.annotations.get("meta.helm.sh/release-namespace"),
    );
    if let (Some(release), Some(namespace)) = helm {
        return Some(ForeignOwner::Helm {
            release: release.clone(),
            namespace: namespace.clone(),
        });
    }
    match o.labels.get(cococtl_core::labels::INSTANCE) {
        Some(i) if i == instance => return None,
        Some(i) => {
            return Some(ForeignOwner::Cococtl {
                instance: i.clone(),
            })
        }
        None => {}
    }
    if let Some(m) = o
        .labels
        .get("app.kubernetes.io/managed-by")
        .filter(|m| !m.eq_ignore_ascii_case("cococtl"))
    {
        return Some(ForeignOwner::Other {
            by: format!("app.kubernetes.io/managed-by={m}"),
        });
    }
    let others: BTreeSet<&str> = o
        .managers
        .iter()
        .map(String::as_str)
        .filter(|m| *m != "cococtl" && !SYSTEM_MANAGERS.contains(m))
        .collect();
    (!others.is_empty()).then(|| ForeignOwner::Other {
        by: format!(
            "field manager(s) {}",
            others.into_iter().collect::<Vec<_>>().join(", ")
        ),
    })
}

/// Whether a Helm release is still installed: its `sh.helm.release.v1.<name>.v<n>` Secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelmRelease {
    /// A release Secret exists.
    Installed,
    /// No release Secret is left: the objects are what `helm uninstall` kept.
    Uninstalled,
    /// Could not tell (the Secrets could not be listed), with why.
    Unknown(String),
}

/// One finding per foreign owner of the objects cococtl would apply, naming the objects,
/// the owner and the fix. `helm`: per `(release, namespace)`, whether it is installed.
pub fn foreign_owner_findings(
    objects: &[(LiveObject, ForeignOwner)],
    helm: &std::collections::BTreeMap<(String, String), HelmRelease>,
) -> Vec<Finding> {
    let mut by_owner: std::collections::BTreeMap<&ForeignOwner, Vec<&LiveObject>> =
        Default::default();
    for (o, owner) in objects {
        by_owner.entry(owner).or_default().push(o);
    }
    by_owner
        .into_iter()
        .map(|(owner, objs)| {
            let ids = objs.iter().map(|o| o.id()).collect::<Vec<_>>().join(", ");
            let delete = kubectl_delete(&objs);
            match owner {
                ForeignOwner::Helm { release, namespace } => {
                    match helm.get(&(release.clone(), namespace.clone())) {
                        Some(HelmRelease::Uninstalled) => Finding {
                            problem: format!(
                                "{ids}: left behind by Helm release {release} (namespace {namespace}), which is uninstalled: no sh.helm.release.v1.{release}.* Secret is left in {namespace} (helm.sh/resource-policy: keep, and its clean-up Job did not remove them); cococtl would apply objects of the same name"
                            ),
                            fix: format!("delete the leftovers, then install again: {delete}"),
                        },
                        Some(HelmRelease::Unknown(why)) => Finding {
                            problem: format!(
                                "{ids}: owned by Helm release {release} (namespace {namespace}); whether that release is still installed could not be read: {why}"
                            ),
                            fix: format!(
                                "if `helm status {release} -n {namespace}` shows it, `helm uninstall {release} -n {namespace}` first; if not, delete the leftovers: {delete}"
                            ),
                        },
                        _ => Finding {
                            problem: format!(
                                "{ids}: owned by Helm release {release} (namespace {namespace}), which is installed"
                            ),
                            fix: format!(
                                "`helm uninstall {release} -n {namespace}` first (then delete what its resource policy keeps: {delete}), or install side by side with --set env.multiInstallSuffix=<name>"
                            ),
                        },
                    }
                }
                ForeignOwner::Cococtl { instance } => Finding {
                    problem: format!("{ids}: belongs to cococtl instance `{instance}`"),
                    fix: format!(
                        "uninstall that instance first (cococtl uninstall --instance {instance}), or install side by side with another --set env.multiInstallSuffix=<name>"
                    ),
                },
                ForeignOwner::Other { by } => Finding {
                    problem: format!("{ids}: exists and is managed by {by}, not by cococtl"),
                    fix: format!(
                        "remove the other installation (or, if these are leftovers: {delete}), or install side by side with --set env.multiInstallSuffix=<name>"
                    ),
                },
            }
        })
        .collect()
}

/// The `kubectl delete` lines for `objs`: the cluster-scoped ones in one, each namespace's
/// in one.
fn kubectl_delete(objs: &[&LiveObject]) -> String {
    let mut groups: std::collections::BTreeMap<Option<&str>, Vec<String>> = Default::default();
    for o in objs {
        groups
            .entry(o.namespace.as_deref())
            .or_default()
            .push(o.kubectl_ref());
    }
    groups
        .into_iter()
        .map(|(ns, refs)| match ns {
            Some(ns) => format!("kubectl delete -n {ns} {}", refs.join(" ")),
            None => format!("kubectl delete {}", refs.join(" ")),
        })
        .collect::<Vec<_>>()
        .join(" && ")
}

/// The warning when `proxy.noProxy` would send in-cluster traffic (pods, Services, the API
/// server's ClusterIP, cluster DNS names) to the proxy, naming each missing entry; `None`
/// when no proxy is set or nothing is missing. A warning, not a refusal: the proxy may
/// well forward such traffic, or the nodes may route around it.
pub fn proxy_note(
    proxy: &cococtl_core::proxy::Proxy,
    net: &cococtl_core::proxy::ClusterNetworks,
) -> Option<String> {
    if !proxy.is_set() {
        return None;
    }
    let missing = cococtl_core::proxy::missing_no_proxy(&proxy.no_proxy, net);
    if missing.is_empty() {
        return None;
    }
    Some(format!(
        "proxy.noProxy lacks {}: traffic inside the cluster (the node agent's and CAA's API calls, the guests' in-cluster pulls) would be sent to the proxy\n  fix: add them to proxy.noProxy (with --set, escape each comma as `\\,`)",
        missing.join(", ")
    ))
}

#[cfg(test)]
mod ownership_tests {
    use super::*;

    fn obj(
        kind: &str,
        ns: Option<&str>,
        labels: &[(&str, &str)],
        ann: &[(&str, &str)],
        managers: &[&str],
    ) -> LiveObject {
        LiveObject {
            kind: kind.into(),
            namespace: ns.map(String::from),
            name: "kata-deploy-rb".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: ann
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            managers: managers.iter().map(|m| m.to_string()).collect(),
        }
    }

    const HELM: &[(&str, &str)] = &[
        ("meta.helm.sh/release-name", "kata-deploy"),
        ("meta.helm.sh/release-namespace", "kube-system"),
    ];

    #[test]
    fn the_owner_is_found_from_helm_annotations_the_instance_label_managed_by_or_managers() {
        let inst = cococtl_core::labels::INSTANCE;
        let cases: Vec<(LiveObject, Option<&str>)> = vec![
            (obj("ClusterRole", None, &[], HELM, &["helm"]), Some("Helm")),
            (
                obj(
                    "ClusterRole",
                    None,
                    &[(inst, "default")],
                    HELM,
                    &["cococtl"],
                ),
                Some("Helm"),
            ),
            (
                obj(
                    "ClusterRole",
                    None,
                    &[(inst, "default")],
                    &[],
                    &["cococtl", "kube-controller-manager"],
                ),
                None,
            ),
            (
                obj("ClusterRole", None, &[(inst, "teamb")], &[], &["cococtl"]),
                Some("Cococtl"),
            ),
            (
                obj(
                    "ClusterRole",
                    None,
                    &[("app.kubernetes.io/managed-by", "argocd")],
                    &[],
                    &[],
                ),
                Some("Other"),
            ),
            (
                obj(
                    "ClusterRole",
                    None,
                    &[],
                    &[],
                    &["kubectl-client-side-apply"],
                ),
                Some("Other"),
            ),
            (
                obj("ClusterRole", None, &[], &[], &["kube-apiserver"]),
                None,
            ),
            (obj("ClusterRole", None, &[], &[], &["cococtl"]), None),
        ];
        for (o, want) in cases {
            let got = foreign_owner(&o, "default");
            let kind = got.as_ref().map(|g| match g {
                ForeignOwner::Helm { .. } => "Helm",
                ForeignOwner::Cococtl { .. } => "Cococtl",
                ForeignOwner::Other { .. } => "Other",
            });
            assert_eq!(kind, want, "{o:?}");
        }
    }

    #[test]
    fn an_uninstalled_helm_release_is_named_with_the_exact_delete_lines() {
        let objs = vec![
            (
                obj("ClusterRoleBinding", None, &[], HELM, &["helm"]),
                ForeignOwner::Helm {
                    release: "kata-deploy".into(),
                    namespace: "kube-system".into(),
                },
            ),
            (
                obj("ServiceAccount", Some("kube-system"), &[], HELM, &["helm"]),
                ForeignOwner::Helm {
                    release: "kata-deploy".into(),
                    namespace: "kube-system".into(),
                },
            ),
        ];
        let key = ("kata-deploy".to_string(), "kube-system".to_string());
        for (state, says) in [
            (HelmRelease::Uninstalled, "which is uninstalled"),
            (HelmRelease::Installed, "which is installed"),
            (HelmRelease::Unknown("403".into()), "could not be read: 403"),
        ] {
            let f = foreign_owner_findings(&objs, &[(key.clone(), state)].into());
            assert_eq!(f.len(), 1);
            let t = f[0].to_string();
            assert!(t.contains(says), "{t}");
            assert!(
                t.contains("Helm release kata-deploy (namespace kube-system)"),
                "{t}"
            );
            assert!(t.contains("ClusterRoleBinding/kata-deploy-rb"), "{t}");
            assert!(t.contains("kubectl delete clusterrolebinding/kata-deploy-rb && kubectl delete -n kube-system serviceaccount/kata-deploy-rb"), "{t}");
        }
    }
}

#[cfg(test)]
mod proxy_tests {
    use super::*;
    use cococtl_core::proxy::{ClusterNetworks, Proxy};

    fn net() -> ClusterNetworks {
        ClusterNetworks {
            pod_cidrs: vec!["10.244.0.0/24".into()],
            service_ip: Some("10.96.0.1".parse().unwrap()),
        }
    }

    fn proxy(no: &str) -> Proxy {
        Proxy {
            https_proxy: "http://p:3128".into(),
            http_proxy: String::new(),
            no_proxy: no.into(),
        }
    }

    #[test]
    fn a_no_proxy_without_the_cluster_networks_is_a_note_naming_what_is_missing() {
        let n = proxy_note(&proxy(".svc"), &net()).unwrap();
        assert!(n.starts_with("proxy.noProxy lacks 10.244.0.0/24"), "{n}");
        assert!(n.contains("10.96.0.1"), "{n}");
        assert!(n.contains(".cluster.local"), "{n}");
        assert!(!n.contains(".svc ("), "{n}");
        assert!(n.contains("fix: add them to proxy.noProxy"), "{n}");
    }

    #[test]
    fn a_complete_no_proxy_or_no_proxy_at_all_says_nothing() {
        let ok = proxy("10.0.0.0/8,.svc,.cluster.local");
        assert_eq!(proxy_note(&ok, &net()), None);
        assert_eq!(proxy_note(&Proxy::default(), &net()), None);
    }
}
