//! `managedFields[].fieldsV1` as kube-apiserver's structured-merge-diff writes it for the
//! types cococtl applies (crates/cluster/tests/fixtures/kube-apiserver-1.36/09-11, 44, 48): every
//! leaf a manager set, keyed list items as `k:{"name":…}` with a `"."` entry for the item
//! itself, atomic fields (label selectors, node selectors, required node affinity, RBAC
//! rules and subjects, tolerations, lists of scalars and unkeyed lists) as one leaf, and
//! `metadata` reduced to labels, annotations, finalizers and owner references. An Update
//! (create, merge patch) also marks each map it touched with `"."`; an Apply does not.
//!
//! cococtl reads these sets to tell its own fields from others' (`managed_diff`), so a
//! stand-in that wrote two levels of field names would hide every bug in that reading.

use serde_json::{json, Map, Value};

/// Fields whose whole value is one leaf, wherever they appear.
const ATOMIC: &[&str] = &[
    "selector",
    "nodeSelector",
    "requiredDuringSchedulingIgnoredDuringExecution",
    "rules",
    "subjects",
    "roleRef",
    "tolerations",
    "envFrom",
    "matchExpressions",
    "fieldRef",
    "resourceFieldRef",
    "configMapKeyRef",
    "secretKeyRef",
];

/// Maps (not structs) that an Update marks with `"."`.
const MAPS: &[&str] = &[
    "labels",
    "annotations",
    "data",
    "binaryData",
    "stringData",
    "requests",
    "limits",
    "podFixed",
    "capacity",
    "allocatable",
];

/// Struct-typed (not pointer) fields: an Update does not mark them with `"."`.
const VALUE_STRUCTS: &[&str] = &["metadata", "spec", "template", "resources", "status"];

/// The union of two fieldsV1 sets (an Update manager's entry accumulates what it set).
pub(super) fn union(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut out = x.clone();
            for (k, v) in y {
                let merged = match out.get(k) {
                    Some(old) => union(old, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        _ => b.clone(),
    }
}

/// The key fields of a keyed (associative) list, by the list's field name.
pub(super) fn list_keys(field: &str) -> Option<&'static [&'static str]> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "webhooks" => &["name"],
        "volumeMounts" => &["mountPath"],
        "ports" => &["containerPort", "protocol"],
        "conditions" => &["type"],
        "ownerReferences" => &["uid"],
        _ => return None,
    })
}

/// The fieldsV1 set of `body` (a whole object as sent).
pub(super) fn fields_v1(body: &Value, update: bool) -> Value {
    let mut out = Map::new();
    let Some(o) = body.as_object() else {
        return json!({});
    };
    for (k, v) in o {
        match k.as_str() {
            "apiVersion" | "kind" | "status" => {}
            "metadata" => {
                let mut meta = Map::new();
                for f in ["labels", "annotations", "finalizers", "ownerReferences"] {
                    if let Some(x) = v.get(f).filter(|x| !x.is_null()) {
                        meta.insert(format!("f:{f}"), field(f, x, update));
                    }
                }
                if !meta.is_empty() {
                    out.insert("f:metadata".into(), Value::Object(meta));
                }
            }
            _ if v.is_null() => {}
            _ => {
                out.insert(format!("f:{k}"), field(k, v, update));
            }
        }
    }
    Value::Object(out)
}

fn field(name: &str, v: &Value, update: bool) -> Value {
    if ATOMIC.contains(&name) {
        return json!({});
    }
    match v {
        Value::Object(m) if m.is_empty() => json!({}),
        Value::Object(m) => {
            let mut out = children(m, update);
            // An Update marks maps and pointer-typed structs it set with "." (fixtures 39,
            // 44); the value-typed structs below never get one.
            if update && (MAPS.contains(&name) || !VALUE_STRUCTS.contains(&name)) {
                out.insert(".".into(), json!({}));
            }
            Value::Object(out)
        }
        Value::Array(items) => match list_keys(name) {
            Some(keys) if items.iter().all(Value::is_object) => {
                let mut out = Map::new();
                for item in items {
                    let mut key = Map::new();
                    for k in keys {
                        let kv = match item.get(*k) {
                            Some(x) => x.clone(),
                            // The server keys ports by their defaulted protocol.
                            None if *k == "protocol" => json!("TCP"),
                            None => continue,
                        };
                        key.insert((*k).to_string(), kv);
                    }
                    let mut entry = children(item.as_object().unwrap_or(&Map::new()), update);
                    entry.insert(".".into(), json!({}));
                    out.insert(format!("k:{}", Value::Object(key)), Value::Object(entry));
                }
                Value::Object(out)
            }
            // Lists of scalars and unkeyed lists are atomic.
            _ => json!({}),
        },
        _ => json!({}),
    }
}

fn children(m: &Map<String, Value>, update: bool) -> Map<String, Value> {
    m.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (format!("f:{k}"), field(k, v, update)))
        .collect()
}

/// The fieldsV1 set of conflict-style paths (`.spec.replicas`,
/// `.metadata.labels.pod-security.kubernetes.io/enforce`: a label or annotation key is
/// the rest of the path).
pub(super) fn of_paths(paths: &[&str]) -> Value {
    let mut set = json!({});
    for path in paths {
        let mut cur = &mut set;
        let mut rest = path.trim_start_matches('.');
        loop {
            let (seg, tail) = match rest.split_once('.') {
                Some((a, b)) if !(a == "labels" || a == "annotations") => (a, Some(b)),
                Some((a, b)) => {
                    cur = &mut cur[format!("f:{a}")];
                    (b, None)
                }
                None => (rest, None),
            };
            cur = &mut cur[format!("f:{seg}")];
            if !cur.is_object() {
                *cur = json!({});
            }
            match tail {
                Some(t) => rest = t,
                None => break,
            }
        }
    }
    set
}

/// Leaf paths of a fieldsV1 set, as segments (`f:spec`, `k:{"name":"c"}`, ...).
pub(super) fn leaves(set: &Value) -> Vec<Vec<String>> {
    fn walk(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        let children: Vec<(&String, &Value)> = v
            .as_object()
            .map(|m| m.iter().filter(|(k, _)| k.as_str() != ".").collect())
            .unwrap_or_default();
        if children.is_empty() {
            if !path.is_empty() {
                out.push(path.clone());
            }
            return;
        }
        for (k, c) in children {
            path.push(k.clone());
            walk(c, path, out);
            path.pop();
        }
    }
    let mut out = vec![];
    walk(set, &mut vec![], &mut out);
    out
}

/// The value a leaf path points at in an object, if it is there.
pub(super) fn value_at<'a>(o: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = o;
    for seg in path {
        if let Some(f) = seg.strip_prefix("f:") {
            cur = cur.get(f)?;
        } else if let Some(k) = seg.strip_prefix("k:") {
            let key: Map<String, Value> = serde_json::from_str(k).ok()?;
            cur = cur.as_array()?.iter().find(|item| {
                key.iter().all(|(kf, kv)| {
                    item.get(kf) == Some(kv)
                        || (kf == "protocol" && kv == "TCP" && item.get(kf).is_none())
                })
            })?;
        } else {
            return None;
        }
    }
    Some(cur)
}

/// A leaf path as the API server names it in a conflict
/// (`.spec.template.spec.containers[name="c"].image`).
pub(super) fn display(path: &[String]) -> String {
    let mut out = String::new();
    for seg in path {
        if let Some(f) = seg.strip_prefix("f:") {
            out.push('.');
            out.push_str(f);
        } else if let Some(k) = seg.strip_prefix("k:") {
            let key: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
            let inner: Vec<String> = key.iter().map(|(a, b)| format!("{a}={b}")).collect();
            out.push_str(&format!("[{}]", inner.join(",")));
        }
    }
    out
}

/// Leaves of another manager's set that an apply of `body` (set `applied`) sets to a
/// different value than `live` holds: the server's field-manager conflicts.
pub(super) fn conflicts(
    applied: &Value,
    other: &Value,
    body: &Value,
    live: &Value,
) -> Vec<Vec<String>> {
    let ours = leaves(applied);
    leaves(other)
        .into_iter()
        .filter(|p| ours.contains(p))
        .filter(|p| value_at(body, p) != value_at(live, p))
        .collect()
}

/// `set` without the leaves in `taken` (ownership moved by a forced apply); `None` when
/// nothing is left.
pub(super) fn without(set: &Value, taken: &[Vec<String>]) -> Option<Value> {
    fn remove(v: &mut Value, path: &[String]) {
        let Some(m) = v.as_object_mut() else { return };
        match path {
            [] => {}
            [leaf] => {
                m.remove(leaf);
            }
            [head, rest @ ..] => {
                if let Some(c) = m.get_mut(head) {
                    remove(c, rest);
                    let empty = c.as_object().is_some_and(|cm| cm.keys().all(|k| k == "."));
                    if empty {
                        m.remove(head);
                    }
                }
            }
        }
    }
    let mut out = set.clone();
    for p in taken {
        remove(&mut out, p);
    }
    (!leaves(&out).is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_applied_daemonset_is_recorded_as_fixture_10_shows() {
        let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "kd", "namespace": "x", "labels": {"a": "b"}},
            "spec": {"selector": {"matchLabels": {"name": "kd"}},
                "template": {"metadata": {"labels": {"name": "kd"}}, "spec": {
                    "containers": [{"name": "c", "command": ["/x"], "env": [{"name": "E", "value": "1"}],
                        "ports": [{"containerPort": 80}],
                        "resources": {"requests": {"cpu": "1"}}}],
                    "volumes": [{"name": "tmp", "emptyDir": {}}]}}}});
        let f = fields_v1(&ds, false);
        assert_eq!(f["f:metadata"], json!({"f:labels": {"f:a": {}}}));
        assert_eq!(f["f:spec"]["f:selector"], json!({}));
        let c = &f["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"c\"}"];
        assert_eq!(c["."], json!({}));
        assert_eq!(c["f:command"], json!({}));
        assert_eq!(
            c["f:env"]["k:{\"name\":\"E\"}"],
            json!({".": {}, "f:name": {}, "f:value": {}})
        );
        assert!(c["f:ports"]
            .get("k:{\"containerPort\":80,\"protocol\":\"TCP\"}")
            .is_some());
        assert_eq!(c["f:resources"], json!({"f:requests": {"f:cpu": {}}}));
        assert_eq!(
            f["f:spec"]["f:template"]["f:spec"]["f:volumes"]["k:{\"name\":\"tmp\"}"],
            json!({".": {}, "f:emptyDir": {}, "f:name": {}})
        );
    }

    #[test]
    fn a_different_value_under_another_managers_leaf_conflicts_and_an_equal_one_is_shared() {
        let live = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "c", "image": "a"}]}}}});
        let other = fields_v1(&live, true);
        let same = live.clone();
        assert!(conflicts(&fields_v1(&same, false), &other, &same, &live).is_empty());
        let changed = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "c", "image": "b"}]}}}});
        let c = conflicts(&fields_v1(&changed, false), &other, &changed, &live);
        assert_eq!(c.len(), 1);
        assert_eq!(
            display(&c[0]),
            ".spec.template.spec.containers[name=\"c\"].image"
        );
        let rest = without(&other, &c).unwrap();
        assert!(leaves(&rest).iter().all(|p| display(p) != display(&c[0])));
    }

    #[test]
    fn conflict_paths_become_the_set_a_label_command_records() {
        assert_eq!(
            of_paths(&[
                ".metadata.labels.pod-security.kubernetes.io/enforce",
                ".spec.replicas"
            ]),
            json!({"f:metadata": {"f:labels": {"f:pod-security.kubernetes.io/enforce": {}}},
                   "f:spec": {"f:replicas": {}}})
        );
    }

    #[test]
    fn an_update_marks_the_maps_it_touched() {
        let n = json!({"metadata": {"labels": {"k": "v"}}});
        assert_eq!(
            fields_v1(&n, true),
            json!({"f:metadata": {"f:labels": {".": {}, "f:k": {}}}})
        );
    }
}
