//! API discovery as kube-apiserver v1.36 serves it, for the resources the stand-in serves:
//! the legacy documents (`/api` APIVersions, `/apis` APIGroupList, `/api/v1` and
//! `/apis/<group>/<version>` APIResourceList, with subresources as `<plural>/<sub>` entries)
//! and the aggregated ones (`Accept: application/json;g=apidiscovery.k8s.io;v=v2;
//! as=APIGroupDiscoveryList` on `/api` and `/apis`). Captured in
//! crates/cluster/tests/fixtures/kube-apiserver-1.36/02-06, 73, 74. Groups of custom
//! resources appear once their CustomResourceDefinition is stored, as on a real cluster.

use serde_json::{json, Map, Value};

use super::State;

/// The aggregated discovery media type, as the server names it in its answer.
pub(super) const AGGREGATED: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

const RW: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const STATUS: &[&str] = &["get", "patch", "update"];

/// A subresource: its name, its response kind's (group, version, kind) when not the
/// resource's own, its verbs.
type Sub = (
    &'static str,
    Option<(&'static str, &'static str, &'static str)>,
    &'static [&'static str],
);

/// The subresources of a workload with replicas.
const SCALABLE: &[Sub] = &[
    ("scale", Some(("autoscaling", "v1", "Scale")), STATUS),
    ("status", None, STATUS),
];

/// One resource as discovery describes it.
struct Res {
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    verbs: &'static [&'static str],
    short: &'static [&'static str],
    categories: &'static [&'static str],
    /// Subresources.
    subs: &'static [Sub],
}

const fn res(
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
) -> Res {
    Res {
        plural,
        singular,
        kind,
        namespaced,
        verbs: RW,
        short: &[],
        categories: &[],
        subs: &[],
    }
}

/// The built-in groups, in the server's order (core first, then apps, ...), each with its
/// version and the resources the stand-in serves, sorted by name as the server sorts them.
fn builtin() -> Vec<(&'static str, &'static str, Vec<Res>)> {
    vec![
        (
            "",
            "v1",
            vec![
                Res {
                    short: &["cm"],
                    ..res("configmaps", "configmap", "ConfigMap", true)
                },
                Res {
                    short: &["ev"],
                    ..res("events", "event", "Event", true)
                },
                Res {
                    verbs: &[
                        "create", "delete", "get", "list", "patch", "update", "watch",
                    ],
                    short: &["ns"],
                    subs: &[("finalize", None, &["update"]), ("status", None, STATUS)],
                    ..res("namespaces", "namespace", "Namespace", false)
                },
                Res {
                    short: &["no"],
                    subs: &[
                        (
                            "proxy",
                            Some(("", "", "NodeProxyOptions")),
                            &["create", "delete", "get", "patch", "update"],
                        ),
                        ("status", None, STATUS),
                    ],
                    ..res("nodes", "node", "Node", false)
                },
                Res {
                    short: &["po"],
                    categories: &["all"],
                    subs: &[
                        ("eviction", Some(("policy", "v1", "Eviction")), &["create"]),
                        ("log", None, &["get"]),
                        ("status", None, STATUS),
                    ],
                    ..res("pods", "pod", "Pod", true)
                },
                res("secrets", "secret", "Secret", true),
                Res {
                    short: &["sa"],
                    subs: &[(
                        "token",
                        Some(("authentication.k8s.io", "v1", "TokenRequest")),
                        &["create"],
                    )],
                    ..res("serviceaccounts", "serviceaccount", "ServiceAccount", true)
                },
                Res {
                    short: &["svc"],
                    categories: &["all"],
                    subs: &[("status", None, STATUS)],
                    ..res("services", "service", "Service", true)
                },
            ],
        ),
        (
            "apps",
            "v1",
            vec![
                res(
                    "controllerrevisions",
                    "controllerrevision",
                    "ControllerRevision",
                    true,
                ),
                Res {
                    short: &["ds"],
                    categories: &["all"],
                    subs: &[("status", None, STATUS)],
                    ..res("daemonsets", "daemonset", "DaemonSet", true)
                },
                Res {
                    short: &["deploy"],
                    categories: &["all"],
                    subs: SCALABLE,
                    ..res("deployments", "deployment", "Deployment", true)
                },
                Res {
                    short: &["rs"],
                    categories: &["all"],
                    subs: SCALABLE,
                    ..res("replicasets", "replicaset", "ReplicaSet", true)
                },
            ],
        ),
        (
            "events.k8s.io",
            "v1",
            vec![Res {
                short: &["ev"],
                ..res("events", "event", "Event", true)
            }],
        ),
        (
            "authorization.k8s.io",
            "v1",
            vec![
                Res {
                    verbs: &["create"],
                    ..res(
                        "selfsubjectaccessreviews",
                        "selfsubjectaccessreview",
                        "SelfSubjectAccessReview",
                        false,
                    )
                },
                Res {
                    verbs: &["create"],
                    ..res(
                        "selfsubjectrulesreviews",
                        "selfsubjectrulesreview",
                        "SelfSubjectRulesReview",
                        false,
                    )
                },
            ],
        ),
        (
            "batch",
            "v1",
            vec![Res {
                categories: &["all"],
                subs: &[("status", None, STATUS)],
                ..res("jobs", "job", "Job", true)
            }],
        ),
        (
            "policy",
            "v1",
            vec![Res {
                short: &["pdb"],
                subs: &[("status", None, STATUS)],
                ..res(
                    "poddisruptionbudgets",
                    "poddisruptionbudget",
                    "PodDisruptionBudget",
                    true,
                )
            }],
        ),
        (
            "rbac.authorization.k8s.io",
            "v1",
            vec![
                res(
                    "clusterrolebindings",
                    "clusterrolebinding",
                    "ClusterRoleBinding",
                    false,
                ),
                res("clusterroles", "clusterrole", "ClusterRole", false),
                res("rolebindings", "rolebinding", "RoleBinding", true),
                res("roles", "role", "Role", true),
            ],
        ),
        (
            "admissionregistration.k8s.io",
            "v1",
            vec![res(
                "mutatingwebhookconfigurations",
                "mutatingwebhookconfiguration",
                "MutatingWebhookConfiguration",
                false,
            )],
        ),
        (
            "apiextensions.k8s.io",
            "v1",
            vec![Res {
                short: &["crd", "crds"],
                categories: &["api-extensions"],
                subs: &[("status", None, STATUS)],
                ..res(
                    "customresourcedefinitions",
                    "customresourcedefinition",
                    "CustomResourceDefinition",
                    false,
                )
            }],
        ),
        (
            "node.k8s.io",
            "v1",
            vec![res("runtimeclasses", "runtimeclass", "RuntimeClass", false)],
        ),
        (
            "discovery.k8s.io",
            "v1",
            vec![res(
                "endpointslices",
                "endpointslice",
                "EndpointSlice",
                true,
            )],
        ),
    ]
}

/// A group of custom resources, from the stored CRDs: (group, version, resources as
/// discovery entries of the legacy form, and of the aggregated form).
fn custom(s: &State) -> Vec<(String, String, Vec<Value>, Vec<Value>)> {
    let mut out: Vec<(String, String, Vec<Value>, Vec<Value>)> = vec![];
    for (_, crd) in s.all_ns_items("/apis/apiextensions.k8s.io/v1", "customresourcedefinitions") {
        let spec = &crd["spec"];
        let group = spec["group"].as_str().unwrap_or_default().to_string();
        let names = &spec["names"];
        let namespaced = spec["scope"] == json!("Namespaced");
        for v in spec["versions"].as_array().into_iter().flatten() {
            if v["served"] == json!(false) {
                continue;
            }
            let version = v["name"].as_str().unwrap_or_default().to_string();
            let mut legacy = json!({"name": names["plural"], "singularName": names["singular"],
                "namespaced": namespaced, "kind": names["kind"], "verbs": RW});
            let mut aggregated = json!({"resource": names["plural"],
                "responseKind": {"group": "", "version": "", "kind": names["kind"]},
                "scope": if namespaced { "Namespaced" } else { "Cluster" },
                "singularResource": names["singular"], "verbs": RW});
            if let Some(short) = names.get("shortNames") {
                legacy["shortNames"] = short.clone();
                aggregated["shortNames"] = short.clone();
            }
            let at = out
                .iter()
                .position(|(g, ver, _, _)| *g == group && *ver == version);
            match at {
                Some(i) => {
                    out[i].2.push(legacy);
                    out[i].3.push(aggregated);
                }
                None => out.push((group.clone(), version, vec![legacy], vec![aggregated])),
            }
        }
    }
    out
}

fn legacy_entries(r: &Res) -> Vec<Value> {
    let mut main = json!({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
        "kind": r.kind, "verbs": r.verbs});
    if !r.short.is_empty() {
        main["shortNames"] = json!(r.short);
    }
    if !r.categories.is_empty() {
        main["categories"] = json!(r.categories);
    }
    // The server's per-resource storage hash: an opaque string clients compare.
    main["storageVersionHash"] = json!(format!("standin-{}", r.plural));
    let mut out = vec![main];
    for (sub, other, verbs) in r.subs {
        let mut e = json!({"name": format!("{}/{sub}", r.plural), "singularName": "",
            "namespaced": r.namespaced, "kind": other.map_or(r.kind, |(_, _, k)| k), "verbs": verbs});
        if let Some((g, v, _)) = other {
            e["group"] = json!(g);
            e["version"] = json!(v);
        }
        out.push(e);
    }
    out
}

fn aggregated_entry(r: &Res) -> Value {
    let mut e = json!({"resource": r.plural,
        "responseKind": {"group": "", "version": "", "kind": r.kind},
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular, "verbs": r.verbs});
    if !r.short.is_empty() {
        e["shortNames"] = json!(r.short);
    }
    if !r.categories.is_empty() {
        e["categories"] = json!(r.categories);
    }
    if !r.subs.is_empty() {
        let subs: Vec<Value> = r
            .subs
            .iter()
            .map(|(sub, other, verbs)| {
                let (g, v, k) = other.unwrap_or(("", "", r.kind));
                json!({"subresource": sub, "responseKind": {"group": g, "version": v, "kind": k}, "verbs": verbs})
            })
            .collect();
        e["subresources"] = json!(subs);
    }
    e
}

/// The discovery document at `path` (`None`: not a discovery path), aggregated when the
/// client asked for it.
pub(super) fn document(s: &State, path: &str, aggregated: bool) -> Option<Value> {
    let groups = builtin();
    let custom = custom(s);
    match path {
        "/api" if aggregated => {
            let core = &groups[0];
            let resources: Vec<Value> = core.2.iter().map(aggregated_entry).collect();
            Some(
                json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
                "metadata": {}, "items": [{"metadata": {}, "versions": [
                    {"version": "v1", "resources": resources, "freshness": "Current"}]}]}),
            )
        }
        "/api" => Some(json!({"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})),
        "/apis" if aggregated => {
            let mut items: Vec<Value> = groups[1..]
                .iter()
                .map(|(g, v, rs)| {
                    let resources: Vec<Value> = rs.iter().map(aggregated_entry).collect();
                    json!({"metadata": {"name": g}, "versions": [
                        {"version": v, "resources": resources, "freshness": "Current"}]})
                })
                .collect();
            for (g, v, _, agg) in &custom {
                items.push(json!({"metadata": {"name": g}, "versions": [
                    {"version": v, "resources": agg, "freshness": "Current"}]}));
            }
            Some(
                json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
                "metadata": {}, "items": items}),
            )
        }
        "/apis" => {
            let gv = |g: &str, v: &str| json!({"groupVersion": format!("{g}/{v}"), "version": v});
            let mut list: Vec<Value> = groups[1..]
                .iter()
                .map(|(g, v, _)| json!({"name": g, "versions": [gv(g, v)], "preferredVersion": gv(g, v)}))
                .collect();
            for (g, v, _, _) in &custom {
                list.push(json!({"name": g, "versions": [gv(g, v)], "preferredVersion": gv(g, v)}));
            }
            Some(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": list}))
        }
        "/api/v1" => {
            let resources: Vec<Value> = groups[0].2.iter().flat_map(legacy_entries).collect();
            // The core group's list has no apiVersion (05).
            Some(json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": resources}))
        }
        other => {
            let gv = other.strip_prefix("/apis/")?;
            let (g, v) = gv.split_once('/')?;
            if v.contains('/') {
                return None;
            }
            let resources: Vec<Value> = if let Some((_, _, rs)) =
                groups[1..].iter().find(|(gg, vv, _)| *gg == g && *vv == v)
            {
                rs.iter().flat_map(legacy_entries).collect()
            } else {
                custom
                    .iter()
                    .find(|(gg, vv, _, _)| gg == g && vv == v)
                    .map(|(_, _, l, _)| l.clone())?
            };
            let mut m = Map::new();
            m.insert("kind".into(), json!("APIResourceList"));
            m.insert("apiVersion".into(), json!("v1"));
            m.insert("groupVersion".into(), json!(gv));
            m.insert("resources".into(), json!(resources));
            Some(Value::Object(m))
        }
    }
}
