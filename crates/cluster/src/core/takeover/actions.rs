//! What `install --take-over` does, as data: per found install, the [`Action`]s in the order
//! they run (the same order as the plan's words in [`super::plan`]). Pure: the edge
//! (`crate::takeover_run`) performs each one and records how far it got, so a rerun after an
//! interruption continues from the step it stopped in. Every action is idempotent: doing it
//! again after it (partly) happened changes nothing more (docs/take-over.md#execution).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{name, namespace, FoundInstall, Inputs, InstallKind, ObjRef};
use crate::core::preflight::Permission;

/// The label cococtl puts on the nodes whose turn it is in a clean-up DaemonSet (the
/// DaemonSet selects it): at most `--max-unavailable` nodes carry it at once.
pub const CLEANUP_NODE_LABEL: &str = cococtl_core::labels::TAKEOVER_CLEANUP;

/// The label on cococtl's clean-up DaemonSets (value: the DaemonSet's name).
pub const CLEANUP_LABEL: &str = "cococtl.confidentialcontainers.org/takeover";

/// The shared kata node label.
const KATA_RUNTIME: &str = cococtl_core::labels::KATA_RUNTIME_LABEL;

/// One step of a take-over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum Action {
    /// Delete a DaemonSet and wait until every pod it selects is gone: pods of kata-deploy
    /// 4.x (SIGTERM) and of the 3.21 manifests (preStop) clean their node as they stop.
    DeleteDaemonSet {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Its pods' label selector (`k=v,k2=v2`).
        selector: String,
    },
    /// The old image's own clean-up on every listed node that still carries `label`: a
    /// DaemonSet made from the old pod template with the clean-up command, selecting
    /// [`CLEANUP_NODE_LABEL`], which cococtl puts on a few nodes at a time and takes off each
    /// node once `label` is gone from it. The DaemonSet is deleted at the end.
    Cleanup {
        /// The DaemonSet, ready to apply.
        daemonset: Value,
        /// The label whose absence says a node is clean.
        label: String,
        /// The nodes the old install served.
        nodes: Vec<String>,
    },
    /// Delete a CcRuntime and wait until the operator's finalizer has cleaned its nodes and
    /// let it go.
    DeleteCcRuntime {
        /// Its name (cluster-scoped).
        name: String,
    },
    /// Wait until none of `nodes` carries any of these label keys.
    WaitNodesUnlabelled {
        /// The nodes.
        nodes: Vec<String>,
        /// Label keys.
        labels: Vec<String>,
    },
    /// Delete these objects and wait until they are gone (already gone is fine).
    Delete {
        /// The objects.
        objects: Vec<ObjRef>,
    },
    /// `--drain`: cordon the node (unless it is cordoned already) and evict these pods
    /// (`namespace/name`), PodDisruptionBudgets respected; wait until they are gone.
    Drain {
        /// The node.
        node: String,
        /// Its pods that use an old RuntimeClass.
        pods: Vec<String>,
    },
    /// Undo the cordons of [`Action::Drain`].
    Uncordon {
        /// The nodes cococtl cordoned.
        nodes: Vec<String>,
    },
    /// Take Helm's ownership marks off namespaces a Helm release rendered, which stay
    /// (cococtl never deletes a namespace): the `meta.helm.sh/*` annotations and the
    /// `app.kubernetes.io/managed-by: Helm` and `helm.sh/chart` labels, so no later Helm
    /// run takes them for its own.
    Disown {
        /// The namespaces.
        namespaces: Vec<String>,
    },
    /// Remove these label keys from these nodes.
    Unlabel {
        /// The nodes.
        nodes: Vec<String>,
        /// Label keys.
        labels: Vec<String>,
    },
}

impl Action {
    /// One line for the live display.
    pub fn title(&self) -> String {
        match self {
            Action::DeleteDaemonSet {
                namespace, name, ..
            } => format!("deleting DaemonSet {namespace}/{name} and waiting for its pods to stop"),
            Action::Cleanup {
                daemonset, nodes, ..
            } => format!(
                "running the old clean-up (DaemonSet {}/{}) on {} node(s)",
                namespace(daemonset),
                name(daemonset),
                nodes.len()
            ),
            Action::DeleteCcRuntime { name } => {
                format!("deleting CcRuntime {name} and waiting for the operator's clean-up")
            }
            Action::WaitNodesUnlabelled { labels, nodes } => format!(
                "waiting until {} node(s) have no {}",
                nodes.len(),
                labels.join(", ")
            ),
            Action::Delete { objects } => format!(
                "deleting {}",
                objects
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Action::Drain { node, pods } => {
                format!("draining node {node}: cordon, evict {}", pods.join(", "))
            }
            Action::Uncordon { nodes } => format!("uncordoning {}", nodes.join(", ")),
            Action::Unlabel { nodes, labels } => {
                format!("removing {} from {}", labels.join(", "), nodes.join(", "))
            }
            Action::Disown { namespaces } => format!(
                "removing Helm's ownership marks from namespace(s) {}",
                namespaces.join(", ")
            ),
        }
    }
}

/// The API group, version and plural of a kind the take-over deletes (`None`: a kind it
/// does not know how to delete).
pub fn resource_of(kind: &str) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match kind {
        "DaemonSet" => ("apps", "v1", "daemonsets"),
        "Deployment" => ("apps", "v1", "deployments"),
        "Job" => ("batch", "v1", "jobs"),
        "RuntimeClass" => ("node.k8s.io", "v1", "runtimeclasses"),
        "ServiceAccount" => ("", "v1", "serviceaccounts"),
        "ConfigMap" => ("", "v1", "configmaps"),
        "Secret" => ("", "v1", "secrets"),
        "Service" => ("", "v1", "services"),
        "ClusterRole" => ("rbac.authorization.k8s.io", "v1", "clusterroles"),
        "ClusterRoleBinding" => ("rbac.authorization.k8s.io", "v1", "clusterrolebindings"),
        "Role" => ("rbac.authorization.k8s.io", "v1", "roles"),
        "RoleBinding" => ("rbac.authorization.k8s.io", "v1", "rolebindings"),
        "CcRuntime" => ("confidentialcontainers.org", "v1beta1", "ccruntimes"),
        "NodeFeatureRule" => ("nfd.k8s-sigs.io", "v1alpha1", "nodefeaturerules"),
        _ => return None,
    })
}

/// Every permission the actions need (and the record in `namespace`), for one access
/// check before the first change: a take-over that would stop half-way on a 403 is refused
/// before it starts.
pub fn permissions(installs: &[InstallActions], namespace: &str) -> Vec<Permission> {
    let mut out: std::collections::BTreeSet<Permission> = Default::default();
    let mut p = |verb: &'static str, group: &str, resource: &str, ns: Option<&str>| {
        out.insert(Permission {
            verb,
            group: group.into(),
            resource: resource.into(),
            namespace: ns.map(str::to_string),
        });
    };
    for verb in ["get", "create", "patch", "delete"] {
        p(verb, "", "configmaps", Some(namespace));
    }
    p("get", "", "namespaces", None);
    p("patch", "", "namespaces", None);
    p("list", "", "nodes", None);
    for a in installs.iter().flat_map(|i| i.actions.iter()) {
        match a {
            Action::DeleteDaemonSet { namespace, .. } => {
                p("delete", "apps", "daemonsets", Some(namespace));
                p("list", "", "pods", Some(namespace));
            }
            Action::Cleanup { daemonset, .. } => {
                let ns = super::namespace(daemonset);
                for verb in ["patch", "delete"] {
                    p(verb, "apps", "daemonsets", Some(ns));
                }
                p("list", "", "pods", Some(ns));
                p("patch", "", "nodes", None);
            }
            Action::DeleteCcRuntime { .. } => {
                for verb in ["get", "delete"] {
                    p(verb, "confidentialcontainers.org", "ccruntimes", None);
                }
            }
            Action::WaitNodesUnlabelled { .. } => {}
            Action::Delete { objects } => {
                for o in objects {
                    if let Some((group, _, plural)) = resource_of(&o.kind) {
                        for verb in ["get", "delete"] {
                            p(verb, group, plural, o.namespace.as_deref());
                        }
                    }
                }
            }
            Action::Drain { pods, .. } => {
                p("patch", "", "nodes", None);
                for id in pods {
                    let ns = id.split_once('/').map_or("default", |(n, _)| n);
                    p("get", "", "pods", Some(ns));
                    p("create", "", "pods/eviction", Some(ns));
                }
            }
            Action::Uncordon { .. } | Action::Unlabel { .. } => p("patch", "", "nodes", None),
            Action::Disown { .. } => {}
        }
    }
    out.into_iter().collect()
}

/// The actions of one found install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallActions {
    /// The install, named for a user.
    pub install: String,
    /// In order.
    pub actions: Vec<Action>,
}

fn find<'a>(list: &'a [Value], r: &ObjRef) -> Option<&'a Value> {
    list.iter()
        .find(|o| name(o) == r.name && r.namespace.as_deref().unwrap_or_default() == namespace(o))
}

fn selector(ds: &Value) -> String {
    ds.pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(",")
}

fn delete_daemonsets(f: &FoundInstall, i: &Inputs, skip: &[&str]) -> Vec<Action> {
    f.of_kind("DaemonSet")
        .into_iter()
        .filter(|d| !skip.contains(&d.name.as_str()))
        .map(|d| Action::DeleteDaemonSet {
            selector: find(&i.daemonsets, &d).map(selector).unwrap_or_default(),
            namespace: d.namespace.clone().unwrap_or_default(),
            name: d.name,
        })
        .collect()
}

/// The clean-up DaemonSet's name for the old DaemonSet `ds` (distinct per old install).
fn cleanup_name(ds: &str) -> String {
    let base = format!("cococtl-takeover-{ds}");
    // A label value and a DaemonSet name: 63 characters at most.
    base.chars()
        .take(63)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

/// The old DaemonSet's pod template with `command` in place of its installer: same image,
/// environment (the script reads what it installed from it), mounts, privileges, service
/// account and tolerations; no probes or hooks (they belong to the installer), scheduled
/// only on the nodes cococtl labels [`CLEANUP_NODE_LABEL`]`=<name>`.
pub fn cleanup_daemonset(old: &Value, command: &[&str], instance: &str) -> Option<Value> {
    let ns = namespace(old);
    let n = cleanup_name(name(old));
    let mut spec = old.pointer("/spec/template/spec")?.clone();
    let spec_obj = spec.as_object_mut()?;
    spec_obj.remove("affinity");
    spec_obj.insert("nodeSelector".into(), json!({ CLEANUP_NODE_LABEL: n }));
    let containers = spec_obj.get_mut("containers")?.as_array_mut()?;
    let first = containers.first_mut()?.as_object_mut()?;
    for k in [
        "args",
        "lifecycle",
        "livenessProbe",
        "readinessProbe",
        "startupProbe",
        "ports",
    ] {
        first.remove(k);
    }
    first.insert("command".into(), json!(command));
    containers.truncate(1);
    let labels = json!({
        "name": n,
        CLEANUP_LABEL: n,
        cococtl_core::labels::INSTANCE: instance,
        "app.kubernetes.io/managed-by": "cococtl",
    });
    let mut meta = Map::new();
    meta.insert("name".into(), json!(n));
    meta.insert("namespace".into(), json!(ns));
    meta.insert("labels".into(), labels.clone());
    Some(json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": meta,
        "spec": {
            "selector": {"matchLabels": {"name": n}},
            "template": {"metadata": {"labels": labels}, "spec": spec},
            "updateStrategy": {"type": "OnDelete"},
        }
    }))
}

/// The clean-up command of a kata-deploy image, from how its installer is started: the 3.x
/// script's `cleanup`, or the 4.x binary's.
fn cleanup_command(ds: &Value) -> &'static [&'static str] {
    let cmd = ds
        .pointer("/spec/template/spec/containers/0/command")
        .map(Value::to_string)
        .unwrap_or_default();
    if cmd.contains("kata-deploy.sh") {
        &[
            "bash",
            "-c",
            "/opt/kata-artifacts/scripts/kata-deploy.sh cleanup",
        ]
    } else {
        &["/usr/bin/kata-deploy", "cleanup"]
    }
}

fn cleanup_for(
    f: &FoundInstall,
    i: &Inputs,
    ds: &ObjRef,
    command: Option<&[&str]>,
    label: &str,
    instance: &str,
) -> Option<Action> {
    let old = find(&i.daemonsets, ds)?;
    let command = command.unwrap_or_else(|| cleanup_command(old));
    Some(Action::Cleanup {
        daemonset: cleanup_daemonset(old, command, instance)?,
        label: label.to_string(),
        nodes: f.nodes.clone(),
    })
}

/// A delete step, never of a Namespace: deleting one deletes whatever else lives there
/// (cococtl's own release may be installed into it); the plan says it stays.
fn delete(objects: Vec<ObjRef>) -> Option<Action> {
    let objects: Vec<ObjRef> = objects
        .into_iter()
        .filter(|o| o.kind != "Namespace")
        .collect();
    (!objects.is_empty()).then_some(Action::Delete { objects })
}

/// The merge patch that takes Helm's ownership marks off an object (see
/// [`Action::Disown`]), or `None` when it carries none. Labels are removed only with Helm's
/// values: `managed-by` set by someone else stays.
pub fn helm_marks_removal(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<Value> {
    let annotations: Map<String, Value> = meta
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| k.starts_with("meta.helm.sh/"))
        .map(|(k, _)| (k.clone(), Value::Null))
        .collect();
    let labels: Map<String, Value> = meta
        .labels
        .iter()
        .flatten()
        .filter(|(k, v)| {
            (k.as_str() == "app.kubernetes.io/managed-by" && v.as_str() == "Helm")
                || k.as_str() == "helm.sh/chart"
        })
        .map(|(k, _)| (k.clone(), Value::Null))
        .collect();
    if annotations.is_empty() && labels.is_empty() {
        return None;
    }
    let mut m = Map::new();
    if !annotations.is_empty() {
        m.insert("annotations".into(), Value::Object(annotations));
    }
    if !labels.is_empty() {
        m.insert("labels".into(), Value::Object(labels));
    }
    Some(json!({ "metadata": m }))
}

/// The Helm-rendered namespaces of `f`, which stay but lose Helm's marks.
fn disown(f: &FoundInstall) -> Option<Action> {
    let namespaces: Vec<String> = f.of_kind("Namespace").into_iter().map(|n| n.name).collect();
    (!namespaces.is_empty()).then_some(Action::Disown { namespaces })
}

fn classes(f: &FoundInstall) -> Option<Action> {
    delete(
        f.runtime_classes
            .iter()
            .map(|n| ObjRef {
                kind: "RuntimeClass".into(),
                namespace: None,
                name: n.clone(),
            })
            .collect(),
    )
}

/// The actions for every found install, in the order found. `instance`: cococtl's
/// instance label value (the clean-up DaemonSets carry it, so detection and uninstall know
/// them as cococtl's). `drain`: each install's kata pods are evicted, node by node, before
/// its clean-up, and the nodes cordoned for it are uncordoned after it.
pub fn actions(
    found: &[FoundInstall],
    i: &Inputs,
    instance: &str,
    drain: bool,
) -> Vec<InstallActions> {
    found
        .iter()
        .map(|f| {
            let (drains, cordoned) = if drain {
                drains(f, i)
            } else {
                (vec![], vec![])
            };
            let mut actions = drains;
            actions.extend(install_actions(f, i, instance));
            if !cordoned.is_empty() {
                actions.push(Action::Uncordon { nodes: cordoned });
            }
            InstallActions {
                install: f.title(),
                actions,
            }
        })
        .collect()
}

/// One [`Action::Drain`] per node running the install's kata pods, and the nodes it
/// cordons (not those the user had cordoned: theirs stay as they were).
fn drains(f: &FoundInstall, i: &Inputs) -> (Vec<Action>, Vec<String>) {
    let mut by_node: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for p in &i.pods {
        let id = format!("{}/{}", namespace(p), name(p));
        if !f.kata_pods.contains(&id) {
            continue;
        }
        let node = p
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        by_node.entry(node).or_default().push(id);
    }
    let mut out = vec![];
    let mut cordoned = vec![];
    for (node, pods) in by_node {
        let already = i.nodes.iter().any(|n| {
            name(n) == node && n.pointer("/spec/unschedulable") == Some(&Value::Bool(true))
        });
        if !already && !node.is_empty() {
            cordoned.push(node.clone());
        }
        out.push(Action::Drain { node, pods });
    }
    (out, cordoned)
}

fn install_actions(f: &FoundInstall, i: &Inputs, instance: &str) -> Vec<Action> {
    let mut out: Vec<Action> = vec![];
    match &f.kind {
        InstallKind::HelmKataDeploy { suffix, .. } => {
            let marker = format!(
                "{}/{}",
                cococtl_core::labels::KATA_INSTANCE_LABEL_PREFIX,
                suffix.as_deref().unwrap_or("default")
            );
            let dss = f.of_kind("DaemonSet");
            out.extend(delete_daemonsets(f, i, &[]));
            // Its pods' SIGTERM clean-up took the marker off; a node that kept it (the
            // clean-up failed there) gets the image's own `cleanup`, with the RBAC still in
            // place.
            out.extend(
                dss.first()
                    .and_then(|d| cleanup_for(f, i, d, None, &marker, instance)),
            );
            out.extend(delete(f.except(&["DaemonSet", "RuntimeClass", "Secret"])));
            out.extend(classes(f));
            out.extend(disown(f));
            out.extend(delete(f.of_kind("Secret")));
        }
        InstallKind::CocoChart { .. } | InstallKind::ManifestKataDeploy { .. } => {
            let dss = f.of_kind("DaemonSet");
            out.extend(delete_daemonsets(f, i, &[]));
            out.extend(
                dss.first()
                    .and_then(|d| cleanup_for(f, i, d, None, KATA_RUNTIME, instance)),
            );
            out.extend(delete(f.except(&["DaemonSet", "RuntimeClass", "Secret"])));
            out.extend(classes(f));
            out.extend(disown(f));
            out.extend(delete(f.of_kind("Secret")));
        }
        InstallKind::LegacyKataDeploy { .. } => {
            // The installer's preStop marks its node `cleanup`; kata-cleanup's `reset` (its
            // own DaemonSet when there is one, else cococtl's copy) clears it.
            let legacy_label = "kata-containers.io/kata-runtime";
            let dss = f.of_kind("DaemonSet");
            let reset_from = dss
                .iter()
                .find(|d| d.name.contains("kata-cleanup"))
                .or_else(|| dss.iter().find(|d| d.name.starts_with("kata-deploy")));
            out.extend(delete_daemonsets(
                f,
                i,
                &["kata-cleanup", "runtime-labeler"],
            ));
            out.extend(reset_from.and_then(|d| {
                cleanup_for(
                    f,
                    i,
                    d,
                    Some(&[
                        "bash",
                        "-c",
                        "/opt/kata-artifacts/scripts/kata-deploy.sh reset",
                    ]),
                    legacy_label,
                    instance,
                )
            }));
            out.extend(delete(f.of_kind("DaemonSet")));
            out.push(Action::Unlabel {
                nodes: f.nodes.clone(),
                labels: vec![
                    legacy_label.into(),
                    "kata-containers.io/container-runtime".into(),
                ],
            });
            out.extend(classes(f));
        }
        InstallKind::Operator { ccruntimes, .. } => {
            for c in ccruntimes {
                out.push(Action::DeleteCcRuntime { name: c.clone() });
            }
            if !ccruntimes.is_empty() {
                out.push(Action::WaitNodesUnlabelled {
                    nodes: f.nodes.clone(),
                    labels: vec![
                        KATA_RUNTIME.into(),
                        "confidentialcontainers.org/startuninstall".into(),
                    ],
                });
                out.extend(classes(f));
            }
        }
        InstallKind::Leftovers { what, .. } => {
            if f.objects.is_empty() && what.starts_with("kata node labels") {
                out.push(Action::Unlabel {
                    nodes: f.nodes.clone(),
                    labels: leftover_label_keys(what),
                });
            } else {
                out.extend(delete(f.objects.clone()));
            }
        }
        InstallKind::Unknown { .. } => {}
    }
    out
}

/// The label keys named in a "kata node labels (node: k=v,k2=v2; …)" leftover.
fn leftover_label_keys(what: &str) -> Vec<String> {
    let inner = what
        .split_once('(')
        .map(|(_, r)| r.trim_end_matches(')'))
        .unwrap_or_default();
    let mut keys: Vec<String> = inner
        .split(';')
        .filter_map(|part| part.split_once(": ").map(|(_, l)| l))
        .flat_map(|l| l.split(','))
        .filter_map(|kv| kv.split('=').next())
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_is_never_deleted() {
        let ns = ObjRef {
            kind: "Namespace".into(),
            namespace: None,
            name: "coco-system".into(),
        };
        assert_eq!(delete(vec![ns.clone()]), None);
        let sa = ObjRef {
            kind: "ServiceAccount".into(),
            namespace: Some("coco-system".into()),
            name: "x".into(),
        };
        assert_eq!(
            delete(vec![ns, sa.clone()]),
            Some(Action::Delete { objects: vec![sa] })
        );
    }

    #[test]
    fn helm_marks_come_off_and_nothing_else() {
        let meta: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta =
            serde_json::from_value(json!({
                "name": "kata-system",
                "annotations": {
                    "meta.helm.sh/release-name": "kata",
                    "meta.helm.sh/release-namespace": "kata-system",
                    "owner": "team-a",
                },
                "labels": {
                    "app.kubernetes.io/managed-by": "Helm",
                    "helm.sh/chart": "kata-deploy-4.1.0",
                    "kubernetes.io/metadata.name": "kata-system",
                },
            }))
            .unwrap();
        assert_eq!(
            helm_marks_removal(&meta),
            Some(json!({"metadata": {
                "annotations": {"meta.helm.sh/release-name": null, "meta.helm.sh/release-namespace": null},
                "labels": {"app.kubernetes.io/managed-by": null, "helm.sh/chart": null},
            }}))
        );
        // Someone else's managed-by and a namespace Helm's --create-namespace made (no marks).
        let theirs: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta =
            serde_json::from_value(json!({
                "name": "coco-system",
                "labels": {"app.kubernetes.io/managed-by": "argocd", "name": "coco-system"},
            }))
            .unwrap();
        assert_eq!(helm_marks_removal(&theirs), None);
    }

    #[test]
    fn leftover_label_keys_are_read_back_from_the_description() {
        assert_eq!(
            leftover_label_keys(
                "kata node labels (bf-node-1: katacontainers.io/kata-runtime=true; bf-node-2: katacontainers.io/kata-runtime=true,kata-deploy.katacontainers.io/default=true)"
            ),
            vec![
                "kata-deploy.katacontainers.io/default".to_string(),
                "katacontainers.io/kata-runtime".to_string()
            ]
        );
    }

    #[test]
    fn the_cleanup_daemonset_keeps_what_the_script_reads_and_drops_the_installer_parts() {
        let old = json!({
            "metadata": {"name": "kata-deploy", "namespace": "kube-system"},
            "spec": {"selector": {"matchLabels": {"name": "kata-deploy"}}, "template": {
                "metadata": {"labels": {"name": "kata-deploy"}},
                "spec": {
                    "serviceAccountName": "kata-deploy-sa", "hostPID": true,
                    "nodeSelector": {"a": "b"}, "affinity": {"x": 1},
                    "containers": [{"name": "kube-kata", "image": "quay.io/kata-containers/kata-deploy:3.22.0",
                        "command": ["bash", "-c", "/opt/kata-artifacts/scripts/kata-deploy.sh install"],
                        "env": [{"name": "SHIMS", "value": "qemu"}],
                        "lifecycle": {"preStop": {}}, "readinessProbe": {}}]
                }}}
        });
        let ds = cleanup_daemonset(&old, cleanup_command(&old), "default").unwrap();
        let spec = &ds["spec"]["template"]["spec"];
        assert_eq!(ds["metadata"]["name"], "cococtl-takeover-kata-deploy");
        assert_eq!(ds["metadata"]["namespace"], "kube-system");
        assert_eq!(spec["serviceAccountName"], "kata-deploy-sa");
        assert_eq!(spec["hostPID"], true);
        assert_eq!(
            spec["nodeSelector"],
            json!({CLEANUP_NODE_LABEL: "cococtl-takeover-kata-deploy"})
        );
        assert!(spec.get("affinity").is_none());
        let c = &spec["containers"][0];
        assert_eq!(
            c["command"],
            json!([
                "bash",
                "-c",
                "/opt/kata-artifacts/scripts/kata-deploy.sh cleanup"
            ])
        );
        assert_eq!(c["env"][0]["name"], "SHIMS");
        assert!(c.get("lifecycle").is_none() && c.get("readinessProbe").is_none());
    }
}
