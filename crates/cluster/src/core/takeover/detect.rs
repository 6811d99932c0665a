//! Which kata installs the listed objects show, following the brownfield captures
//! (crates/cluster/tests/fixtures/brownfield/INDEX.md): Helm's release payload says chart
//! and version; kubectl-applied DaemonSets are the plain manifests; an ownerReference to a
//! CcRuntime is the operator's; what an uninstall left is reported as leftovers. The
//! shared node label `katacontainers.io/kata-runtime` alone never decides who owns a node
//! (docs/take-over.md#recognised).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::helm_release::{self, HelmRelease, Releases};
use super::{
    annotation, label, name, namespace, FoundInstall, HelmRef, Inputs, InstallKind, ObjRef,
    TakeoverError,
};

const RELEASE_NAME: &str = "meta.helm.sh/release-name";
const RELEASE_NS: &str = "meta.helm.sh/release-namespace";
const KATA_RUNTIME: &str = cococtl_core::labels::KATA_RUNTIME_LABEL;
const INSTANCE_PREFIX: &str = "kata-deploy.katacontainers.io/";
/// The legacy generation's node label (`true`, then `cleanup` on the way out).
const LEGACY_RUNTIME: &str = "kata-containers.io/kata-runtime";

/// Every install found, in a stable order (kind of install, then name), and the release
/// Secrets that did not decode.
pub fn detect(i: &Inputs) -> (Vec<FoundInstall>, Vec<TakeoverError>) {
    let (releases, errors) = helm_release::current(&i.helm_secrets);
    let mut out: Vec<FoundInstall> = vec![];
    // DaemonSets some install claims; what is left running kata-deploy is Unknown.
    let mut claimed: BTreeSet<ObjRef> = BTreeSet::new();

    for ((ns, rel), (r, secrets)) in &releases {
        let kind = match r.chart.as_str() {
            "kata-deploy" => Chart::KataDeploy,
            "confidential-containers" => Chart::Coco,
            _ => continue,
        };
        let found = helm_install(i, ns, rel, r, secrets, kind);
        claimed.extend(found.objects.iter().cloned());
        out.push(found);
    }

    if let Some(op) = operator(i) {
        claimed.extend(op.objects.iter().cloned());
        out.push(op);
    }

    for ds in &i.daemonsets {
        let r = ObjRef::of("DaemonSet", ds);
        if claimed.contains(&r) || ours(ds) || !images(ds).iter().any(|i| is_kata_deploy(i)) {
            continue;
        }
        let found = manual_install(i, ds);
        claimed.extend(found.objects.iter().cloned());
        out.push(found);
    }

    out.extend(leftovers(i, &releases, &out));
    out.sort_by_cached_key(|f| (order(&f.kind), f.title(), f.objects.clone()));
    (out, errors)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Chart {
    KataDeploy,
    Coco,
}

fn order(k: &InstallKind) -> u8 {
    match k {
        InstallKind::HelmKataDeploy { .. } => 0,
        InstallKind::CocoChart { .. } => 1,
        InstallKind::ManifestKataDeploy { .. } => 2,
        InstallKind::LegacyKataDeploy { .. } => 3,
        InstallKind::Operator { .. } => 4,
        InstallKind::Unknown { .. } => 5,
        InstallKind::Leftovers { .. } => 6,
    }
}

fn is_kata_deploy(image: &str) -> bool {
    image.contains("kata-deploy")
}

/// cococtl's own objects carry its instance label: never someone else's install.
fn ours(o: &Value) -> bool {
    label(o, cococtl_core::labels::INSTANCE).is_some()
}

fn pod_spec(ds: &Value) -> Option<&Value> {
    ds.pointer("/spec/template/spec")
}

fn images(ds: &Value) -> Vec<String> {
    pod_spec(ds)
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("image").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

fn env<'a>(ds: &'a Value, key: &str) -> Option<&'a str> {
    pod_spec(ds)
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("env").and_then(Value::as_array))
        .flatten()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(key))
        .and_then(|e| e.get("value").and_then(Value::as_str))
}

fn tag(image: &str) -> Option<String> {
    let last = image.rsplit('/').next()?;
    let t = last.split('@').next()?.split_once(':')?.1;
    Some(t.to_string())
}

fn helm_owned(o: &Value, ns: &str, rel: &str) -> bool {
    annotation(o, RELEASE_NAME) == Some(rel) && annotation(o, RELEASE_NS) == Some(ns)
}

/// Every listed object with a kind name, for owner scans.
fn all(i: &Inputs) -> Vec<(&'static str, &Value)> {
    let lists: [(&'static str, &Vec<Value>); 12] = [
        ("DaemonSet", &i.daemonsets),
        ("Deployment", &i.deployments),
        ("Job", &i.jobs),
        ("RuntimeClass", &i.runtime_classes),
        ("ServiceAccount", &i.service_accounts),
        ("ClusterRole", &i.cluster_roles),
        ("ClusterRoleBinding", &i.cluster_role_bindings),
        ("ConfigMap", &i.config_maps),
        ("Namespace", &i.namespaces),
        ("CcRuntime", &i.ccruntimes),
        ("CustomResourceDefinition", &i.crds),
        ("Secret", &i.helm_secrets),
    ];
    lists
        .into_iter()
        .flat_map(|(k, l)| l.iter().map(move |o| (k, o)))
        .collect()
}

/// Nodes a selector (`matchLabels` / `nodeSelector` map) picks; `None`: every node.
fn select(nodes: &[Value], sel: Option<&Value>) -> Vec<String> {
    let sel = sel.and_then(Value::as_object);
    let mut out: Vec<String> = nodes
        .iter()
        .filter(|n| {
            sel.is_none_or(|m| {
                m.iter()
                    .all(|(k, v)| label(n, k) == Some(v.as_str().unwrap_or_default()))
            })
        })
        .map(|n| name(n).to_string())
        .collect();
    out.sort();
    out
}

fn selector_text(sel: Option<&Value>) -> String {
    match sel.and_then(Value::as_object) {
        Some(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(","),
        _ => "none".into(),
    }
}

/// The RuntimeClasses a kata-deploy script made: `kata-<shim>` for its `SHIMS`, and `kata`
/// when it creates the default one; only those that exist and are not cococtl's.
fn script_classes(i: &Inputs, ds: &Value) -> Vec<ObjRef> {
    let mut names: BTreeSet<String> = env(ds, "SHIMS")
        .unwrap_or_default()
        .split_whitespace()
        .map(|s| format!("kata-{s}"))
        .collect();
    if env(ds, "CREATE_DEFAULT_RUNTIMECLASS") == Some("true") {
        names.insert("kata".into());
    }
    i.runtime_classes
        .iter()
        .filter(|r| !ours(r) && names.contains(name(r)) && annotation(r, RELEASE_NAME).is_none())
        .map(|r| ObjRef::of("RuntimeClass", r))
        .collect()
}

fn class_names(objects: &[ObjRef]) -> Vec<String> {
    let mut v: Vec<String> = objects
        .iter()
        .filter(|o| o.kind == "RuntimeClass")
        .map(|o| o.name.clone())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Pods whose `runtimeClassName` is one of `classes`.
fn kata_pods(i: &Inputs, classes: &[String]) -> Vec<String> {
    let mut v: Vec<String> = i
        .pods
        .iter()
        .filter(|p| {
            p.pointer("/spec/runtimeClassName")
                .and_then(Value::as_str)
                .is_some_and(|c| classes.iter().any(|x| x == c))
        })
        .map(|p| format!("{}/{}", namespace(p), name(p)))
        .collect();
    v.sort();
    v
}

fn finish(
    i: &Inputs,
    kind: InstallKind,
    mut objects: Vec<ObjRef>,
    nodes: Vec<String>,
    nodes_by: String,
) -> FoundInstall {
    objects.sort();
    objects.dedup();
    let runtime_classes = class_names(&objects);
    let kata_pods = kata_pods(i, &runtime_classes);
    FoundInstall {
        kind,
        objects,
        nodes,
        nodes_by,
        runtime_classes,
        kata_pods,
    }
}

fn helm_install(
    i: &Inputs,
    ns: &str,
    rel: &str,
    r: &HelmRelease,
    secrets: &[String],
    chart: Chart,
) -> FoundInstall {
    let mut objects: Vec<ObjRef> = all(i)
        .into_iter()
        .filter(|(k, o)| *k != "Secret" && helm_owned(o, ns, rel))
        .map(|(k, o)| ObjRef::of(k, o))
        .collect();
    // Hook objects carry no meta.helm.sh/* annotations: the release is their instance label.
    let hooks: Vec<&Value> = i
        .jobs
        .iter()
        .filter(|j| {
            namespace(j) == ns
                && annotation(j, "helm.sh/hook").is_some()
                && label(j, "app.kubernetes.io/instance") == Some(rel)
        })
        .collect();
    objects.extend(hooks.iter().map(|j| ObjRef::of("Job", j)));
    objects.extend(secrets.iter().map(|s| ObjRef {
        kind: "Secret".into(),
        namespace: Some(ns.into()),
        name: s.clone(),
    }));
    let ds = i
        .daemonsets
        .iter()
        .find(|d| helm_owned(d, ns, rel) && images(d).iter().any(|m| is_kata_deploy(m)));
    let image = ds.and_then(|d| images(d).into_iter().find(|m| is_kata_deploy(m)));
    let release = HelmRef {
        name: r.name.clone(),
        namespace: r.namespace.clone(),
        revision: r.revision,
        status: r.status.clone(),
        chart: r.chart.clone(),
        chart_version: r.chart_version.clone(),
        values: r.config.clone(),
    };
    match chart {
        Chart::KataDeploy => {
            let suffix = ds
                .and_then(|d| env(d, "MULTI_INSTALL_SUFFIX"))
                .filter(|s| !s.is_empty())
                .map(str::to_string);
            let inst = suffix.clone().unwrap_or_else(|| "default".into());
            let key = format!("{INSTANCE_PREFIX}{inst}");
            let mut nodes: Vec<String> = i
                .nodes
                .iter()
                .filter(|n| label(n, &key) == Some("true"))
                .map(|n| name(n).to_string())
                .collect();
            nodes.sort();
            finish(
                i,
                InstallKind::HelmKataDeploy {
                    release,
                    suffix,
                    image,
                },
                objects,
                nodes,
                format!("node label {key}=true (kata-deploy 4.x marks the nodes it installed)"),
            )
        }
        Chart::Coco => {
            if let Some(d) = ds {
                objects.extend(script_classes(i, d));
            }
            let custom = hooks
                .iter()
                .find(|j| label(j, "app.kubernetes.io/component") == Some("containerd-installer"))
                .map(|j| name(j).to_string());
            let kata_deploy_version = r
                .dependencies
                .get("kata-as-coco-runtime")
                .cloned()
                .or_else(|| image.as_deref().and_then(tag));
            let sel = ds
                .and_then(|d| pod_spec(d))
                .and_then(|s| s.get("nodeSelector"));
            let (nodes, by) = match ds {
                Some(d) => (
                    select(&i.nodes, sel),
                    format!(
                        "DaemonSet {}/{} nodeSelector: {}",
                        namespace(d),
                        name(d),
                        selector_text(sel)
                    ),
                ),
                None => (vec![], "no DaemonSet".into()),
            };
            finish(
                i,
                InstallKind::CocoChart {
                    release,
                    kata_deploy_version,
                    image,
                    custom_containerd_job: custom,
                },
                objects,
                nodes,
                by,
            )
        }
    }
}

/// The CoCo operator: its Deployment (image `.../confidential-containers/operator`), its
/// CcRuntimes and what they own (ownerReference), the CRD, `cc-operator-*` RBAC.
fn operator(i: &Inputs) -> Option<FoundInstall> {
    let dep = i.deployments.iter().find(|d| {
        images(d)
            .iter()
            .any(|m| m.contains("confidential-containers/operator"))
    });
    let crd = i
        .crds
        .iter()
        .find(|c| name(c) == "ccruntimes.confidentialcontainers.org");
    if dep.is_none() && crd.is_none() && i.ccruntimes.is_empty() {
        return None;
    }
    let op_ns = dep.map(namespace);
    let mut objects: Vec<ObjRef> = vec![];
    if let Some(d) = dep {
        objects.push(ObjRef::of("Deployment", d));
    }
    if let Some(c) = crd {
        objects.push(ObjRef::of("CustomResourceDefinition", c));
    }
    let prefixed = |o: &Value| name(o).starts_with("cc-operator-");
    objects.extend(
        i.cluster_roles
            .iter()
            .filter(|o| prefixed(o))
            .map(|o| ObjRef::of("ClusterRole", o)),
    );
    objects.extend(
        i.cluster_role_bindings
            .iter()
            .filter(|o| prefixed(o))
            .map(|o| ObjRef::of("ClusterRoleBinding", o)),
    );
    if let Some(ns) = op_ns {
        for (k, l) in [
            ("ServiceAccount", &i.service_accounts),
            ("ConfigMap", &i.config_maps),
        ] {
            objects.extend(
                l.iter()
                    .filter(|o| namespace(o) == ns && prefixed(o))
                    .map(|o| ObjRef::of(k, o)),
            );
        }
        objects.extend(
            i.namespaces
                .iter()
                .filter(|n| name(n) == ns)
                .map(|n| ObjRef::of("Namespace", n)),
        );
    }
    let mut ccruntimes = vec![];
    let mut deleting = false;
    let mut nodes = BTreeSet::new();
    let mut by = vec![];
    let mut classes: BTreeSet<String> = BTreeSet::new();
    for cr in &i.ccruntimes {
        let n = name(cr).to_string();
        objects.push(ObjRef::of("CcRuntime", cr));
        deleting |= cr.pointer("/metadata/deletionTimestamp").is_some();
        let sel = cr.pointer("/spec/ccNodeSelector/matchLabels");
        nodes.extend(select(&i.nodes, sel));
        by.push(format!(
            "CcRuntime {n} ccNodeSelector: {}",
            selector_text(sel)
        ));
        classes.extend(
            cr.pointer("/status/runtimeClass")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
        classes.extend(
            cr.pointer("/spec/config/runtimeClasses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("name").and_then(Value::as_str))
                .map(str::to_string),
        );
        for ds in &i.daemonsets {
            let owned = ds
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|o| {
                    o.get("kind").and_then(Value::as_str) == Some("CcRuntime")
                        && o.get("name").and_then(Value::as_str) == Some(n.as_str())
                });
            if owned {
                objects.push(ObjRef::of("DaemonSet", ds));
                if env(ds, "CREATE_DEFAULT_RUNTIMECLASS") == Some("true") {
                    classes.insert("kata".into());
                }
            }
        }
        ccruntimes.push(n);
    }
    ccruntimes.sort();
    objects.extend(
        i.runtime_classes
            .iter()
            .filter(|r| !ours(r) && classes.contains(name(r)))
            .map(|r| ObjRef::of("RuntimeClass", r)),
    );
    let version = dep.and_then(|d| {
        images(d)
            .iter()
            .find(|m| m.contains("confidential-containers/operator"))
            .and_then(|m| tag(m))
    });
    let nodes_by = if by.is_empty() {
        "no CcRuntime: the operator serves no node".into()
    } else {
        by.join("; ")
    };
    Some(finish(
        i,
        InstallKind::Operator {
            version,
            ccruntimes,
            deleting,
        },
        objects,
        nodes.into_iter().collect(),
        nodes_by,
    ))
}

/// A kata-deploy DaemonSet no Helm release or CcRuntime claims: the plain manifests (one
/// `kata-deploy` DaemonSet, `SHIMS`, kubectl-applied), the legacy runtime-labeler /
/// kata-cleanup shape, or Unknown.
fn manual_install(i: &Inputs, ds: &Value) -> FoundInstall {
    let image = images(ds)
        .into_iter()
        .find(|m| is_kata_deploy(m))
        .unwrap_or_default();
    let ns = namespace(ds);
    let n = name(ds);
    let kubectl = annotation(ds, "kubectl.kubernetes.io/last-applied-configuration").is_some();
    let helm = annotation(ds, RELEASE_NAME);
    let sel = pod_spec(ds).and_then(|s| s.get("nodeSelector"));
    let nodes = select(&i.nodes, sel);
    let by = format!("DaemonSet {ns}/{n} nodeSelector: {}", selector_text(sel));
    let ds_ref = ObjRef::of("DaemonSet", ds);
    let legacy = |x: &str| x.contains("runtime-labeler") || x.contains("kata-cleanup");
    // The installer of the legacy family is a plain `kata-deploy` DaemonSet: it belongs to
    // the family when a labeler or clean-up DaemonSet sits next to it.
    let family = legacy(n)
        || (n == "kata-deploy"
            && i.daemonsets
                .iter()
                .any(|d| namespace(d) == ns && legacy(name(d))));
    if family {
        // The legacy manifests: every DaemonSet of that family in the namespace.
        let mut objects: Vec<ObjRef> = i
            .daemonsets
            .iter()
            .filter(|d| namespace(d) == ns && (legacy(name(d)) || name(d) == "kata-deploy"))
            .map(|d| ObjRef::of("DaemonSet", d))
            .collect();
        objects.push(ds_ref);
        let mut imgs: Vec<String> = i
            .daemonsets
            .iter()
            .filter(|d| namespace(d) == ns && legacy(name(d)))
            .flat_map(images)
            .collect();
        imgs.sort();
        imgs.dedup();
        // Served: what its installer selects, and every node carrying the family's own
        // label (`true` installed, `cleanup` half-way out).
        let installer = i
            .daemonsets
            .iter()
            .find(|d| namespace(d) == ns && name(d) == "kata-deploy");
        let mut nodes: Vec<String> = installer
            .map(|d| select(&i.nodes, pod_spec(d).and_then(|s| s.get("nodeSelector"))))
            .unwrap_or(nodes);
        nodes.extend(
            i.nodes
                .iter()
                .filter(|n| label(n, LEGACY_RUNTIME).is_some())
                .map(|n| name(n).to_string()),
        );
        nodes.sort();
        nodes.dedup();
        let by = format!("the legacy installer's nodeSelector and the node label {LEGACY_RUNTIME}");
        return finish(
            i,
            InstallKind::LegacyKataDeploy { images: imgs },
            objects,
            nodes,
            by,
        );
    }
    let shape = helm.is_none()
        && kubectl
        && env(ds, "SHIMS").is_some()
        && n.starts_with("kata-deploy")
        && env(ds, "DAEMONSET_NAME").is_none();
    if !shape {
        let why = if let Some(rel) = helm {
            format!(
                "DaemonSet {ns}/{n} ({image}) names Helm release {rel}, whose release Secret is \
                 not in {}",
                annotation(ds, RELEASE_NS).unwrap_or(ns)
            )
        } else if !kubectl {
            format!(
                "DaemonSet {ns}/{n} ({image}): no Helm release, no CcRuntime owner and not \
                 applied with kubectl"
            )
        } else {
            format!("DaemonSet {ns}/{n} ({image}): not the shape of kata-deploy's manifests")
        };
        return finish(
            i,
            InstallKind::Unknown { reason: why },
            vec![ds_ref],
            nodes,
            by,
        );
    }
    let mut objects = vec![ds_ref];
    // The manifests' RBAC names (kata-rbac.yaml), when they are not Helm's.
    let sa = n.replacen("kata-deploy", "kata-deploy-sa", 1);
    let role = n.replacen("kata-deploy", "kata-deploy-role", 1);
    let rb = n.replacen("kata-deploy", "kata-deploy-rb", 1);
    let not_helm = |o: &&Value| annotation(o, RELEASE_NAME).is_none() && !ours(o);
    objects.extend(
        i.service_accounts
            .iter()
            .filter(not_helm)
            .filter(|o| namespace(o) == ns && name(o) == sa)
            .map(|o| ObjRef::of("ServiceAccount", o)),
    );
    objects.extend(
        i.cluster_roles
            .iter()
            .filter(not_helm)
            .filter(|o| name(o) == role)
            .map(|o| ObjRef::of("ClusterRole", o)),
    );
    objects.extend(
        i.cluster_role_bindings
            .iter()
            .filter(not_helm)
            .filter(|o| name(o) == rb)
            .map(|o| ObjRef::of("ClusterRoleBinding", o)),
    );
    objects.extend(script_classes(i, ds));
    let version = tag(&image).filter(|t| t != "latest");
    finish(
        i,
        InstallKind::ManifestKataDeploy { image, version },
        objects,
        nodes,
        by,
    )
}

/// What uninstalls left: Helm-annotated kata objects whose release has no Secret any more,
/// the CoCo chart's hook Jobs of such a release, kata RuntimeClasses nobody claims, and
/// kata node labels on nodes no install serves.
fn leftovers(i: &Inputs, releases: &Releases, found: &[FoundInstall]) -> Vec<FoundInstall> {
    let mut out = vec![];
    let kataish = |s: &str| s.contains("kata") || s.contains("coco") || s.contains("confidential");
    let mut orphans: BTreeMap<(String, String), Vec<ObjRef>> = BTreeMap::new();
    for (k, o) in all(i) {
        if k == "Secret" || ours(o) {
            continue;
        }
        let owner = match (annotation(o, RELEASE_NAME), annotation(o, RELEASE_NS)) {
            (Some(r), Some(ns)) => Some((ns.to_string(), r.to_string())),
            // Hook Jobs: no meta.helm.sh/*, the release is their instance label.
            _ if k == "Job"
                && annotation(o, "helm.sh/hook").is_some()
                && label(o, "app.kubernetes.io/managed-by") == Some("Helm") =>
            {
                label(o, "app.kubernetes.io/instance")
                    .map(|r| (namespace(o).to_string(), r.to_string()))
            }
            _ => None,
        };
        let Some(owner) = owner else { continue };
        if releases.contains_key(&owner) || !(kataish(name(o)) || kataish(&owner.1)) {
            continue;
        }
        // An object with release annotations whose release is gone.
        if k == "DaemonSet" && images(o).iter().any(|m| is_kata_deploy(m)) {
            continue; // reported as Unknown: it still runs
        }
        orphans.entry(owner).or_default().push(ObjRef::of(k, o));
    }
    for ((ns, rel), objects) in orphans {
        let jobs: Vec<&ObjRef> = objects.iter().filter(|o| o.kind == "Job").collect();
        let what = if !jobs.is_empty() && jobs.len() == objects.len() {
            "Helm hook Jobs (a custom containerd they installed may remain on its node)".to_string()
        } else {
            format!(
                "{} object(s) kept after `helm uninstall` (helm.sh/resource-policy: keep)",
                objects.len()
            )
        };
        out.push(finish(
            i,
            InstallKind::Leftovers {
                what,
                owner: format!(
                    "Helm release {rel} (namespace {ns}), uninstalled: no release Secret is left"
                ),
            },
            objects,
            vec![],
            "none: nothing runs".into(),
        ));
    }
    let claimed: BTreeSet<&str> = found
        .iter()
        .flat_map(|f| f.runtime_classes.iter().map(String::as_str))
        .collect();
    let stray: Vec<ObjRef> = i
        .runtime_classes
        .iter()
        .filter(|r| {
            !ours(r)
                && !claimed.contains(name(r))
                && (name(r).starts_with("kata")
                    || r.get("handler")
                        .and_then(Value::as_str)
                        .is_some_and(|h| h.starts_with("kata")))
        })
        .map(|r| ObjRef::of("RuntimeClass", r))
        .collect();
    if !stray.is_empty() {
        out.push(finish(
            i,
            InstallKind::Leftovers {
                what: "kata RuntimeClasses".into(),
                owner: "no install found that made them".into(),
            },
            stray,
            vec![],
            "none: nothing runs".into(),
        ));
    }
    let mut served: BTreeSet<String> = found
        .iter()
        .filter(|f| !matches!(f.kind, InstallKind::Leftovers { .. }))
        .flat_map(|f| f.nodes.iter().cloned())
        .collect();
    // cococtl's own kata-deploy labels the nodes it serves too: those labels are not left
    // over from anyone.
    for ds in i.daemonsets.iter().filter(|d| ours(d)) {
        if images(ds).iter().any(|m| is_kata_deploy(m)) {
            let sel = pod_spec(ds).and_then(|s| s.get("nodeSelector"));
            served.extend(select(&i.nodes, sel));
        }
    }
    let mut labelled = vec![];
    for n in &i.nodes {
        if served.contains(name(n)) {
            continue;
        }
        let keys: Vec<String> = n
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter(|(k, _)| {
                k.as_str() == KATA_RUNTIME
                    || k.starts_with("kata-containers.io/")
                    || k.starts_with(INSTANCE_PREFIX)
                    || k.starts_with("confidentialcontainers.org/")
            })
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect();
        if !keys.is_empty() {
            labelled.push(format!("{}: {}", name(n), keys.join(",")));
        }
    }
    if !labelled.is_empty() {
        labelled.sort();
        let nodes: Vec<String> = labelled
            .iter()
            .filter_map(|l| l.split(':').next())
            .map(str::to_string)
            .collect();
        out.push(finish(
            i,
            InstallKind::Leftovers {
                what: format!("kata node labels ({})", labelled.join("; ")),
                owner: "no install found that serves these nodes".into(),
            },
            vec![],
            nodes,
            "the node labels themselves".into(),
        ));
    }
    out
}

/// Nodes two or more installs (leftovers aside) serve, with the installs' titles.
pub fn shared_nodes(found: &[FoundInstall]) -> BTreeMap<String, Vec<String>> {
    let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in found {
        if matches!(f.kind, InstallKind::Leftovers { .. }) {
            continue;
        }
        for n in &f.nodes {
            by.entry(n.clone()).or_default().push(f.title());
        }
    }
    by.retain(|_, v| v.len() > 1);
    by
}
