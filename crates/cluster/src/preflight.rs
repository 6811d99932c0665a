//! Preflight against the cluster, before the first write: the API answers (and its
//! version), the permissions the install needs (a SelfSubjectRulesReview per namespace), the
//! nodes (architectures, distribution), another kata-deploy, Pod Security on the namespace.
//! The decisions are the pure ones in [`crate::core::preflight`].

use std::collections::BTreeSet;

use cococtl_core::labels::INSTANCE;
use cococtl_core::Distribution;
use cococtl_manifests::Plan;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    SelfSubjectRulesReview, SelfSubjectRulesReviewSpec,
};
use k8s_openapi::api::core::v1::{Namespace, Node, Service};
use k8s_openapi::api::node::v1::RuntimeClass;
use kube::api::PostParams;
use kube::Api;

use crate::client::Cluster;
use crate::core::preflight::{
    self as pf, DistributionDecision, Finding, ForeignDaemonSet, Permission,
};
use crate::core::rbac_rules::{self, Rules, Verdict};
use crate::core::snapshot::NodeSnap;
use crate::error::ClusterError;
use crate::list::list_all;
use crate::spec::ReleaseSpec;

/// What preflight learnt.
#[derive(Debug, Clone)]
pub struct Facts {
    /// `gitVersion` of the server.
    pub server_version: String,
    /// Nodes.
    pub nodes: Vec<NodeSnap>,
    /// The distribution decision.
    pub distribution: DistributionDecision,
    /// Whether the namespace exists already.
    pub namespace_exists: bool,
    /// Node Feature Discovery runs on the cluster.
    pub nfd: bool,
    /// Every DaemonSet on the cluster (for the peer-pods preflight's other-CAA check).
    pub daemonsets: Vec<ForeignDaemonSet>,
    /// What the user should know but is no reason to stop (CRI-O nodes, a custom
    /// containerd whose version the tarball name does not say).
    pub notes: Vec<String>,
}

/// The server's version; also the reachability check.
pub async fn server_version(cluster: &Cluster) -> Result<String, ClusterError> {
    let v = cluster
        .call("reading the server version", || {
            cluster.client.apiserver_version()
        })
        .await?;
    Ok(v.git_version)
}

/// The namespace asked for the cluster-wide rules. A rules review needs a namespace, and
/// the RBAC authorizer adds that namespace's RoleBindings to the ClusterRoleBindings: a
/// namespace nobody creates has none, so its rules are exactly the cluster-wide ones.
const CLUSTER_SCOPE_NAMESPACE: &str = "cococtl-no-such-namespace-cluster-scope";

/// Refuses ([`ClusterError::Preflight`], naming the user and every missing permission)
/// unless the user may do all of `need`.
pub async fn require(cluster: &Cluster, need: &[Permission]) -> Result<(), ClusterError> {
    let missing = denied(cluster, need).await?;
    if missing.is_empty() {
        return Ok(());
    }
    let user = cluster.whoami().await;
    match pf::missing_permissions(&missing, &user) {
        Some(f) => Err(ClusterError::Preflight(vec![f])),
        None => Ok(()),
    }
}

/// Which of `perms` are denied: one SelfSubjectRulesReview for the cluster-wide rules and
/// one per namespace (instead of one access review per permission); what an incomplete
/// rules list (a webhook authorizer) or a refused review leaves undecided is asked with
/// access reviews, eight at a time (docs/cluster-lifecycle.md#permissions).
async fn denied(cluster: &Cluster, perms: &[Permission]) -> Result<Vec<Permission>, ClusterError> {
    let namespaces: BTreeSet<&str> = perms.iter().map(rbac_rules::review_namespace).collect();
    let mut reviews = std::collections::BTreeMap::new();
    for ns in namespaces {
        reviews.insert(ns, rules_review(cluster, ns).await);
    }
    let mut out = vec![];
    let mut undecided = vec![];
    for p in perms {
        let rules = reviews
            .get(rbac_rules::review_namespace(p))
            .and_then(Option::as_ref);
        match rules.map(|r| rbac_rules::decide(r, p)) {
            Some(Verdict::Allowed) => {}
            Some(Verdict::Denied) => out.push(p.clone()),
            Some(Verdict::Unknown) | None => undecided.push(p.clone()),
        }
    }
    out.extend(access_reviews(cluster, &undecided).await?);
    // In the order asked, whichever review decided.
    out.sort_by_key(|d| perms.iter().position(|p| p == d));
    Ok(out)
}

/// The rules the server lists for this user in `namespace` (`""`: cluster-wide); `None`
/// when the review itself was refused or failed (then access reviews decide).
async fn rules_review(cluster: &Cluster, namespace: &str) -> Option<Rules> {
    let api: Api<SelfSubjectRulesReview> = Api::all(cluster.client.clone());
    let ns = if namespace.is_empty() {
        CLUSTER_SCOPE_NAMESPACE
    } else {
        namespace
    };
    let review = SelfSubjectRulesReview {
        spec: SelfSubjectRulesReviewSpec {
            namespace: Some(ns.into()),
        },
        ..Default::default()
    };
    let pp = PostParams::default();
    let what = format!("listing your permissions in {ns}");
    match cluster.call(&what, || api.create(&pp, &review)).await {
        Ok(r) => r.status.map(|s| Rules {
            rules: s.resource_rules,
            incomplete: s.incomplete,
        }),
        Err(e) => {
            tracing::debug!("{what}: {e}; asking one access review per permission instead");
            None
        }
    }
}

/// Asks the server one access review per permission (eight at a time): the denied ones.
async fn access_reviews(
    cluster: &Cluster,
    perms: &[Permission],
) -> Result<Vec<Permission>, ClusterError> {
    let api: Api<SelfSubjectAccessReview> = Api::all(cluster.client.clone());
    let checks = futures::stream::iter(perms.iter().cloned().map(|p| {
        let api = api.clone();
        async move {
            // `pods/eviction`: the review names the subresource in its own field.
            let (resource, subresource) = match p.resource.split_once('/') {
                Some((r, s)) => (r.to_string(), Some(s.to_string())),
                None => (p.resource.clone(), None),
            };
            let review = SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(ResourceAttributes {
                        verb: Some(p.verb.into()),
                        group: Some(p.group.clone()),
                        resource: Some(resource),
                        subresource,
                        namespace: p.namespace.clone(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                ..Default::default()
            };
            let pp = PostParams::default();
            let r = cluster
                .call(&format!("checking permission to {p}"), || {
                    api.create(&pp, &review)
                })
                .await?;
            let allowed = r.status.map(|s| s.allowed).unwrap_or(false);
            Ok::<_, ClusterError>((!allowed).then_some(p))
        }
    }))
    .buffered(8)
    .collect::<Vec<_>>()
    .await;
    let mut out = vec![];
    for c in checks {
        if let Some(p) = c? {
            out.push(p);
        }
    }
    Ok(out)
}

/// How install/upgrade was asked for, as preflight needs it.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// The user gave `k8sDistribution`.
    pub user_set: bool,
    /// The user lets cococtl take fields over (`--force-conflicts`).
    pub force_conflicts: bool,
    /// The profile's name, for the lines to run that a refusal prints.
    pub profile: &'a str,
}

/// Whether the NodeFeatureRule API (`nfd.k8s-sigs.io`, the CRD NFD installs) is registered:
/// one GET of the CRD.
pub async fn node_feature_rule_api(cluster: &Cluster) -> Result<bool, ClusterError> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let api: Api<CustomResourceDefinition> = Api::all(cluster.client.clone());
    let name = "nodefeaturerules.nfd.k8s-sigs.io";
    Ok(cluster
        .call_opt(&format!("reading CustomResourceDefinition {name}"), || {
            api.get(name)
        })
        .await?
        .is_some())
}

/// Settles `nodeFeatureRules.create` for this cluster as the chart's `lookup` does: `auto`
/// becomes on when NFD runs (`nfd`) or its NodeFeatureRule API is registered, off
/// otherwise; `true` without that API is refused (the rule could not be created). Returns
/// a note when `auto` turned the rule on (the caller plans again).
pub async fn settle_node_feature_rules(
    cluster: &Cluster,
    config: &mut cococtl_profile::Config,
    nfd: bool,
) -> Result<Option<String>, ClusterError> {
    use cococtl_profile::config::NodeFeatureRules;
    let nfr = config.node_feature_rules;
    if nfr == NodeFeatureRules::Off {
        return Ok(None);
    }
    let api = node_feature_rule_api(cluster).await?;
    if nfr == NodeFeatureRules::On && !api {
        return Err(ClusterError::Input(
            "nodeFeatureRules.create=true, but the cluster has no NodeFeatureRule API (CRD nodefeaturerules.nfd.k8s-sigs.io): the rule cannot be created\n  fix: install Node Feature Discovery first, or --set nodeFeatureRules.create=auto (or false)".into(),
        ));
    }
    let settled = nfr.resolved(api || nfd);
    config.node_feature_rules = settled;
    Ok((settled != nfr && settled == NodeFeatureRules::On).then(|| {
        "Node Feature Discovery is there: nodeFeatureRules.create=auto renders the kata-tee-keys NodeFeatureRule".to_string()
    }))
}

/// The full preflight for install/upgrade. `configured`: `k8sDistribution`; `opts`: whether
/// the user gave it, whether cococtl may take fields over (the namespace's Pod Security
/// labels among them), the profile's name. Another kata install refuses with what it is
/// (crate::takeover) and the `diff --take-over` line.
pub async fn run(
    cluster: &Cluster,
    spec: &ReleaseSpec,
    plan: &Plan,
    runtime: &crate::core::runtime_versions::Needs,
    configured: Distribution,
    opts: Options<'_>,
) -> Result<Facts, ClusterError> {
    let Options {
        user_set,
        force_conflicts,
        profile,
    } = opts;
    let server_version = server_version(cluster).await?;
    if let Err(f) = pf::check_version(&server_version) {
        return Err(ClusterError::Preflight(vec![f]));
    }
    let mut findings: Vec<Finding> = vec![];

    let kinds: BTreeSet<(String, String, bool)> = plan
        .install()
        .map(|o| {
            let r = o.resource();
            (r.group.clone(), r.plural.clone(), r.namespaced)
        })
        .collect();
    let kinds: Vec<_> = kinds.into_iter().collect();
    let need = pf::install_permissions(&kinds, &spec.namespace);
    // Without the permissions the other checks may fail for the same reason.
    require(cluster, &need).await?;

    let nodes_api: Api<Node> = Api::all(cluster.client.clone());
    let (nodes, _) = list_all(cluster, &nodes_api, None, None, "listing nodes").await?;
    let pod_cidrs: Vec<String> = nodes
        .iter()
        .filter_map(|n| n.spec.as_ref())
        .flat_map(|s| {
            let mut c = s.pod_cidrs.clone().unwrap_or_default();
            c.extend(s.pod_cidr.clone());
            c
        })
        .collect();
    // The probe's published summaries, for the erofs prerequisites the Node's own status
    // does not show (kernel erofs, the host's mkfs.erofs).
    let probed: Vec<crate::core::erofs_published::ProbedNode> = nodes
        .iter()
        .map(|n| crate::core::erofs_published::ProbedNode {
            name: n.metadata.name.clone().unwrap_or_default(),
            arch: n
                .status
                .as_ref()
                .and_then(|s| s.node_info.as_ref())
                .map(|i| i.architecture.clone())
                .unwrap_or_default(),
            report: n
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(cococtl_core::node_keys::PROBE_REPORT))
                .cloned(),
        })
        .collect();
    let nodes_json = crate::takeover::to_json(&nodes);
    let nodes: Vec<NodeSnap> = nodes.iter().map(NodeSnap::of).collect();
    if let Err(f) = pf::check_arches(&nodes, &spec.arches) {
        findings.push(f);
    }
    let (refused, mut notes) = crate::core::runtime_versions::check(&nodes, runtime);
    if spec.proxy.is_set() {
        let net = cococtl_core::proxy::ClusterNetworks {
            pod_cidrs,
            service_ip: kubernetes_service_ip(cluster).await,
        };
        notes.extend(pf::proxy_note(&spec.proxy, &net));
    }
    findings.extend(refused);
    let (erofs_refused, erofs_notes) = crate::core::erofs_published::check(&probed, runtime);
    findings.extend(erofs_refused);
    notes.extend(erofs_notes);
    let distribution = match pf::detect_distribution(&nodes)
        .and_then(|d| pf::check_distribution(d, configured, user_set))
    {
        Ok(d) => d,
        Err(f) => {
            findings.push(f);
            DistributionDecision::Agrees
        }
    };

    let ds_api: Api<DaemonSet> = Api::all(cluster.client.clone());
    let (dss_listed, _) = list_all(cluster, &ds_api, None, None, "listing DaemonSets").await?;
    let dss: Vec<ForeignDaemonSet> = dss_listed.iter().map(ForeignDaemonSet::of).collect();
    let nfd = pf::nfd_detected(&dss);
    let rc_api: Api<RuntimeClass> = Api::all(cluster.client.clone());
    let (rcs, _) = list_all(cluster, &rc_api, None, None, "listing RuntimeClasses").await?;
    let rcs_json = crate::takeover::to_json(&rcs);
    let rcs: Vec<pf::ForeignRuntimeClass> = rcs
        .iter()
        .map(|r| pf::ForeignRuntimeClass {
            name: r.metadata.name.clone().unwrap_or_default(),
            handler: r.handler.clone(),
            instance: r
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(INSTANCE))
                .cloned(),
        })
        .collect();
    let planned: Vec<String> = plan
        .install()
        .filter(|o| o.kind() == "RuntimeClass")
        .filter_map(|o| o.name().map(str::to_string))
        .collect();
    let other = pf::other_kata_deploy(
        &dss,
        &rcs,
        &spec.namespace,
        &spec.names.kata_deploy,
        &spec.instance,
        !spec.suffix.is_empty(),
        &planned,
    );
    if !other.is_empty() {
        // Name what is installed (Helm release, by hand, the operator) and point at the
        // take-over plan; only on this path, so a clean cluster costs no extra requests.
        let have = crate::takeover::Listed {
            daemonsets: Some(crate::takeover::to_json(&dss_listed)),
            runtime_classes: Some(rcs_json),
            nodes: Some(nodes_json),
            with_pods: false,
        };
        match crate::takeover::detect(cluster, have).await {
            Ok((found, _)) if !found.is_empty() => {
                // The user's to resolve: exit 2, like any other owner's objects in the way.
                return Err(ClusterError::Input(crate::takeover::refusal(
                    &found, profile,
                )));
            }
            Ok(_) => findings.extend(other),
            Err(e) => {
                // Without the lists (a 403 on Jobs, say) the old findings still hold.
                tracing::debug!("take-over detection: {e}");
                findings.extend(other);
            }
        }
    }

    let ns_api: Api<Namespace> = Api::all(cluster.client.clone());
    let ns = cluster
        .call_opt(&format!("reading namespace {}", spec.namespace), || {
            ns_api.get(&spec.namespace)
        })
        .await?;
    if let Some(ns) = &ns {
        let since = ns
            .metadata
            .deletion_timestamp
            .as_ref()
            .map(|t| t.0.to_string());
        if let Err(f) = pf::check_namespace_not_terminating(&spec.namespace, since.as_deref()) {
            // Nothing can be installed there until it is gone: the user's to wait for.
            return Err(ClusterError::Input(
                ClusterError::Preflight(vec![f]).to_string(),
            ));
        }
        let enforce = ns
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("pod-security.kubernetes.io/enforce"))
            .cloned();
        // With --force-conflicts cococtl takes the label over: nothing to refuse.
        let ours = force_conflicts || owns_label(ns, "pod-security.kubernetes.io/enforce");
        if let Err(f) = pf::check_pod_security(&spec.namespace, enforce.as_deref(), ours) {
            findings.push(f);
        }
    }
    let owned = foreign_owners(cluster, spec, plan, ns.is_some()).await?;
    if !owned.is_empty() {
        // Someone else's objects are in the way: the user's to resolve (exit 2).
        findings.extend(owned);
        return Err(ClusterError::Input(
            ClusterError::Preflight(findings).to_string(),
        ));
    }
    if !findings.is_empty() {
        return Err(ClusterError::Preflight(findings));
    }
    Ok(Facts {
        server_version,
        nodes,
        distribution,
        namespace_exists: ns.is_some(),
        nfd,
        daemonsets: dss,
        notes,
    })
}

/// The `kubernetes` Service's ClusterIP in `default`: the API publishes no service CIDR,
/// but this address is always in it. `None` when it cannot be read (the check then covers
/// the pod CIDRs and DNS names only).
async fn kubernetes_service_ip(cluster: &Cluster) -> Option<std::net::IpAddr> {
    let api: Api<Service> = Api::namespaced(cluster.client.clone(), "default");
    let svc = match cluster
        .call_opt("reading Service default/kubernetes", || {
            api.get("kubernetes")
        })
        .await
    {
        Ok(s) => s?,
        Err(e) => {
            tracing::debug!("no service CIDR evidence for the noProxy check: {e}");
            return None;
        }
    };
    svc.spec?.cluster_ip?.parse().ok()
}

/// Whether `cococtl` owns `label` in the object's managedFields.
fn owns_label(ns: &Namespace, label: &str) -> bool {
    let needle = format!("f:{label}");
    ns.metadata.managed_fields.iter().flatten().any(|m| {
        m.manager.as_deref() == Some(crate::apply::FIELD_MANAGER)
            && m.fields_v1.as_ref().is_some_and(|f| {
                f.0.pointer("/f:metadata/f:labels")
                    .and_then(|l| l.get(&needle))
                    .is_some()
            })
    })
}

/// Whether Node Feature Discovery runs (one list of DaemonSets), for commands that
/// plan without the full preflight (`diff`).
pub async fn detect_nfd(cluster: &Cluster) -> Result<bool, ClusterError> {
    let api: Api<DaemonSet> = Api::all(cluster.client.clone());
    let (dss, _) = list_all(cluster, &api, None, None, "listing DaemonSets").await?;
    let dss: Vec<ForeignDaemonSet> = dss.iter().map(ForeignDaemonSet::of).collect();
    Ok(pf::nfd_detected(&dss))
}

/// Objects of the plan's names that belong to someone else (a Helm release, another cococtl
/// instance, another tool): one GET per planned name (namespaced ones only when the release
/// namespace exists), plus one list of Helm release Secrets per Helm owner found.
/// DaemonSets and RuntimeClasses are left to [`pf::other_kata_deploy`], the namespace to
/// the Pod Security check (installing into an existing namespace is allowed).
async fn foreign_owners(
    cluster: &Cluster,
    spec: &ReleaseSpec,
    plan: &Plan,
    namespace_exists: bool,
) -> Result<Vec<Finding>, ClusterError> {
    use std::collections::BTreeMap;
    let mut found = vec![];
    for o in plan.install() {
        let item = crate::core::inventory::Item::of(o);
        if matches!(
            item.kind.as_str(),
            "Namespace" | "DaemonSet" | "RuntimeClass"
        ) || (item.namespaced && !namespace_exists)
        {
            continue;
        }
        // One GET per name (the permission check covered `get` on every planned kind).
        let Some(o) = crate::apply::get(cluster, &item).await? else {
            continue;
        };
        let live = pf::LiveObject {
            kind: item.kind.clone(),
            namespace: o.metadata.namespace.clone(),
            name: item.name.clone(),
            labels: o.metadata.labels.clone().unwrap_or_default(),
            annotations: o.metadata.annotations.clone().unwrap_or_default(),
            managers: o
                .metadata
                .managed_fields
                .iter()
                .flatten()
                .filter(|m| m.subresource.as_deref().unwrap_or("").is_empty())
                .filter_map(|m| m.manager.clone())
                .collect(),
        };
        if let Some(owner) = pf::foreign_owner(&live, &spec.instance) {
            found.push((live, owner));
        }
    }
    let mut helm = BTreeMap::new();
    for (_, owner) in &found {
        if let pf::ForeignOwner::Helm { release, namespace } = owner {
            if helm.contains_key(&(release.clone(), namespace.clone())) {
                continue;
            }
            helm.insert(
                (release.clone(), namespace.clone()),
                helm_release(cluster, release, namespace).await,
            );
        }
    }
    Ok(pf::foreign_owner_findings(&found, &helm))
}

/// Whether Helm release `release` is installed in `namespace` (its release Secrets, as
/// Helm labels them: `owner=helm,name=<release>`). A failed read is `Unknown`, never
/// "uninstalled".
async fn helm_release(cluster: &Cluster, release: &str, namespace: &str) -> pf::HelmRelease {
    let api: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(cluster.client.clone(), namespace);
    let selector = format!("owner=helm,name={release}");
    match list_all(
        cluster,
        &api,
        Some(&selector),
        None,
        &format!("listing Helm release Secrets of {release} in {namespace}"),
    )
    .await
    {
        Ok((secrets, _)) => {
            let prefix = format!("sh.helm.release.v1.{release}.");
            if secrets.iter().any(|s| {
                s.metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.starts_with(&prefix))
            }) {
                pf::HelmRelease::Installed
            } else {
                pf::HelmRelease::Uninstalled
            }
        }
        Err(e) => pf::HelmRelease::Unknown(e.to_string()),
    }
}
