//! Deletion as kube-apiserver and its controllers do it, not as a map removal: a deleted
//! Namespace answers `200` with itself in phase `Terminating` and stays until the
//! namespace controller has removed what it holds; while it terminates, new objects in it
//! are refused (`403`, cause `NamespaceTerminating`) and existing ones can still be
//! written. A foreground deletion answers with the object carrying the
//! `foregroundDeletion` finalizer and keeps it until the garbage collector has removed
//! its dependents. Captured in crates/cluster/tests/fixtures/kube-apiserver-1.36/48-53, 57-59.
//!
//! The controllers run on the stand-in's clock whether or not the kubelet simulation is
//! on (they are part of the control plane): content of a terminating namespace goes
//! after [`super::Sim::namespace_grace`], the namespace itself on the next pass.

use std::time::Instant;

use serde_json::{json, Value};

use super::{key, now, status, State};

const FOREGROUND: &str = "foregroundDeletion";

/// Whether namespace `ns` is being deleted.
pub(super) fn terminating(s: &State, ns: &str) -> bool {
    !ns.is_empty()
        && s.objects
            .get(&key("/api/v1", "namespaces", "", ns))
            .is_some_and(|n| n.pointer("/metadata/deletionTimestamp").is_some())
}

/// The `403` for creating `plural/name` in terminating namespace `ns` (fixture 52).
pub(super) fn refused_in_terminating(plural: &str, name: &str, ns: &str) -> (u16, Value) {
    (
        403,
        status(
            403,
            "Forbidden",
            &format!(
                "{plural} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated"
            ),
            json!({"name": name, "kind": plural, "causes": [{
                "reason": "NamespaceTerminating",
                "message": format!("namespace {ns} is being terminated"),
                "field": "metadata.namespace"
            }]}),
        ),
    )
}

/// DELETE of namespace `name`: marks it Terminating and answers with it (fixture 50).
pub(super) fn delete_namespace(s: &mut State, name: &str) -> (u16, Value) {
    let k = key("/api/v1", "namespaces", "", name);
    let Some(mut ns) = s.objects.get(&k).cloned() else {
        return (404, Value::Null);
    };
    if ns.pointer("/metadata/deletionTimestamp").is_some() {
        return (200, ns);
    }
    ns["metadata"]["deletionTimestamp"] = json!(now());
    ns["status"] = json!({"phase": "Terminating"});
    s.terminating_since.insert(name.to_string(), Instant::now());
    (200, s.put(&k, ns, false))
}

/// Whether a DELETE's options ask for foreground propagation.
pub(super) fn foreground(body: &Value, query: &std::collections::BTreeMap<String, String>) -> bool {
    body["propagationPolicy"] == "Foreground"
        || query
            .get("propagationPolicy")
            .is_some_and(|p| p == "Foreground")
}

/// DELETE with foreground propagation: the object stays, finalized, until its dependents
/// are gone (fixture 48: generation moves, `deletionGracePeriodSeconds: 0`).
pub(super) fn delete_foreground(s: &mut State, k: &str, has_generation: bool) -> Value {
    let Some(mut o) = s.objects.get(k).cloned() else {
        return Value::Null;
    };
    if o.pointer("/metadata/deletionTimestamp").is_none() {
        o["metadata"]["deletionTimestamp"] = json!(now());
        o["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        if has_generation {
            o["metadata"]["generation"] =
                json!(o["metadata"]["generation"].as_i64().unwrap_or(1) + 1);
        }
    }
    let mut fins: Vec<Value> = o["metadata"]["finalizers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !fins.iter().any(|f| f == FOREGROUND) {
        fins.push(json!(FOREGROUND));
    }
    o["metadata"]["finalizers"] = json!(fins);
    s.foreground_since
        .entry(k.to_string())
        .or_insert_with(Instant::now);
    s.put(k, o, false)
}

/// What kube-controller-manager adds on its own: the root-CA publisher's
/// `kube-root-ca.crt` ConfigMap in every active namespace (fixture 30 lists it among a
/// namespace's ConfigMaps), and the TTL controller's `node.alpha.kubernetes.io/ttl`
/// annotation on every Node (45).
fn publishers(s: &mut State) {
    let namespaces: Vec<String> = s
        .all_ns_items("/api/v1", "namespaces")
        .into_iter()
        .filter(|(_, n)| n.pointer("/metadata/deletionTimestamp").is_none())
        .filter_map(|(_, n)| n["metadata"]["name"].as_str().map(String::from))
        .collect();
    for ns in namespaces {
        let k = key("/api/v1", "configmaps", &ns, ROOT_CA);
        if !s.objects.contains_key(&k) {
            let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": ROOT_CA, "namespace": ns,
                    "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."},
                    "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "time": now(), "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:data": {".": {}, "f:ca.crt": {}}, "f:metadata": {"f:annotations": {".": {}, "f:kubernetes.io/description": {}}}}}]},
                "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nstand-in\n-----END CERTIFICATE-----\n"}});
            s.create("/api/v1", "configmaps", &ns, cm);
        }
    }
    for (k, mut n) in s.all_ns_items("/api/v1", "nodes") {
        if n.pointer("/metadata/annotations/node.alpha.kubernetes.io~1ttl")
            .is_none()
        {
            if !n["metadata"]["annotations"].is_object() {
                n["metadata"]["annotations"] = json!({});
            }
            n["metadata"]["annotations"]["node.alpha.kubernetes.io/ttl"] = json!("0");
            s.put(&k, n, false);
        }
    }
}

const ROOT_CA: &str = "kube-root-ca.crt";

/// The quick controllers, before each request: a real one acts within milliseconds of a
/// change, sooner than the client's next request (45 carries the TTL annotation that the
/// create in 44 did not). On the tick alone their timing would decide what a request sees.
pub(super) fn before_request(s: &mut State) {
    publishers(s);
}

/// One pass of the control plane's own controllers: the namespace controller, the
/// garbage collector's foreground part and the publishers.
pub(super) fn controllers(s: &mut State) {
    publishers(s);
    let grace = s.sim.namespace_grace;
    let due: Vec<String> = s
        .terminating_since
        .iter()
        .filter(|(_, t)| t.elapsed() >= grace)
        .map(|(n, _)| n.clone())
        .collect();
    for ns in due {
        let inside: Vec<String> = s
            .objects
            .keys()
            .filter(|k| k.split('|').nth(2) == Some(ns.as_str()))
            .cloned()
            .collect();
        if inside.is_empty() {
            // Content gone on an earlier pass: the `kubernetes` finalizer comes off and
            // the namespace goes (the DELETED object still lists it, fixture 59).
            s.terminating_since.remove(&ns);
            s.remove(&key("/api/v1", "namespaces", "", &ns));
        } else {
            for k in inside {
                let Some(mut o) = s.objects.get(&k).cloned() else {
                    continue;
                };
                let finalized = o["metadata"]["finalizers"]
                    .as_array()
                    .is_some_and(|f| !f.is_empty());
                if !finalized {
                    s.remove(&k);
                } else if o.pointer("/metadata/deletionTimestamp").is_none() {
                    // Whoever owns the finalizer removes it; the namespace waits for that.
                    o["metadata"]["deletionTimestamp"] = json!(now());
                    s.put(&k, o, false);
                }
            }
        }
    }
    let waiting: Vec<(String, Value)> = s
        .objects
        .iter()
        .filter(|(_, o)| {
            o["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == FOREGROUND))
        })
        // Seeded with the finalizer (no entry): due at once.
        .filter(|(k, _)| {
            s.foreground_since
                .get(*k)
                .is_none_or(|t| t.elapsed() >= grace)
        })
        .map(|(k, o)| (k.clone(), o["metadata"]["uid"].clone()))
        .collect();
    for (k, uid) in waiting {
        let has_dependents = s.objects.values().any(|o| {
            o["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
        });
        if !has_dependents {
            // One DELETED event whose object still lists the finalizer (fixture 58).
            s.foreground_since.remove(&k);
            s.remove(&k);
        }
    }
}
