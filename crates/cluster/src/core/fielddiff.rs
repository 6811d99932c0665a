//! Field-by-field differences between two JSON objects (live and server-side dry-run
//! result), for `diff`. [`managed_diff`] looks only at the fields one field manager owns
//! (its `managedFields` entry), so what the server sets — defaults, `status`, the
//! DaemonSet's `deprecated.daemonset.template.generation` — never shows; [`diff`] looks at
//! everything but server-owned metadata and `status`.

use serde_json::Value;

/// One changed field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// `.spec.template.spec.containers[0].image`.
    pub path: String,
    /// The live value (`None`: absent).
    pub old: Option<String>,
    /// The value after applying (`None`: removed).
    pub new: Option<String>,
}

const IGNORED: &[&str] = &[
    ".metadata.managedFields",
    ".metadata.resourceVersion",
    ".metadata.generation",
    ".metadata.creationTimestamp",
    ".metadata.uid",
    ".metadata.selfLink",
    ".status",
];

/// The changes from `old` to `new`, in path order.
pub fn diff(old: &Value, new: &Value) -> Vec<FieldChange> {
    let mut out = vec![];
    walk("", old, new, &mut out);
    out
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn walk(path: &str, old: &Value, new: &Value, out: &mut Vec<FieldChange>) {
    if IGNORED.contains(&path) || old == new {
        return;
    }
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = format!("{path}.{k}");
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => walk(&p, x, y, out),
                    (Some(x), None) if !IGNORED.contains(&p.as_str()) => out.push(FieldChange {
                        path: p,
                        old: Some(show(x)),
                        new: None,
                    }),
                    (None, Some(y)) if !IGNORED.contains(&p.as_str()) => out.push(FieldChange {
                        path: p,
                        old: None,
                        new: Some(show(y)),
                    }),
                    _ => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                walk(&format!("{path}[{i}]"), x, y, out);
            }
        }
        (a, b) => out.push(FieldChange {
            path: path.to_string(),
            old: Some(show(a)),
            new: Some(show(b)),
        }),
    }
}

/// The `FieldsV1` set of `manager`'s `Apply` entry in `obj`'s `managedFields`.
pub fn applied_fields<'a>(obj: &'a Value, manager: &str) -> Option<&'a Value> {
    obj.pointer("/metadata/managedFields")?
        .as_array()?
        .iter()
        .find(|e| e["manager"] == manager && e["operation"] == "Apply")
        .and_then(|e| e.get("fieldsV1"))
}

/// The changes from `old` to `new` within the field set `owned` (a `FieldsV1` value:
/// `f:<field>`, `k:<key json>` for list items by key, `v:<value json>` for set items,
/// `i:<index>`; `{}` owns the whole value), in path order.
pub fn managed_diff(old: &Value, new: &Value, owned: &Value) -> Vec<FieldChange> {
    let mut out = vec![];
    within("", Some(old), Some(new), owned, &mut out);
    out
}

fn within(
    path: &str,
    old: Option<&Value>,
    new: Option<&Value>,
    owned: &Value,
    out: &mut Vec<FieldChange>,
) {
    if old == new {
        return;
    }
    let set = match owned.as_object() {
        Some(m) if m.keys().any(|k| k != ".") => m,
        // A leaf: the whole value is owned.
        _ => {
            match (old, new) {
                (Some(a), Some(b)) => walk(path, a, b, out),
                (a, b) => out.push(FieldChange {
                    path: path.to_string(),
                    old: a.map(show),
                    new: b.map(show),
                }),
            }
            return;
        }
    };
    let mut keys: Vec<&String> = set.keys().filter(|k| *k != ".").collect();
    keys.sort();
    for k in keys {
        let sub = &set[k];
        if let Some(f) = k.strip_prefix("f:") {
            within(
                &format!("{path}.{f}"),
                old.and_then(|o| o.get(f)),
                new.and_then(|n| n.get(f)),
                sub,
                out,
            );
        } else if let Some(key) = k.strip_prefix("k:") {
            let Ok(key) = serde_json::from_str::<Value>(key) else {
                continue;
            };
            let (o, n) = (keyed(old, &key), keyed(new, &key));
            let i = n.or(o).map_or(0, |(i, _)| i);
            within(
                &format!("{path}[{i}]"),
                o.map(|x| x.1),
                n.map(|x| x.1),
                sub,
                out,
            );
        } else if let Some(v) = k.strip_prefix("v:") {
            let Ok(v) = serde_json::from_str::<Value>(v) else {
                continue;
            };
            let has =
                |a: Option<&Value>| a.and_then(Value::as_array).is_some_and(|a| a.contains(&v));
            if has(old) != has(new) {
                out.push(FieldChange {
                    path: format!("{path}[{}]", show(&v)),
                    old: has(old).then(|| show(&v)),
                    new: has(new).then(|| show(&v)),
                });
            }
        } else if let Some(i) = k.strip_prefix("i:").and_then(|i| i.parse::<usize>().ok()) {
            within(
                &format!("{path}[{i}]"),
                old.and_then(|o| o.get(i)),
                new.and_then(|n| n.get(i)),
                sub,
                out,
            );
        }
    }
}

/// The item of list `v` whose fields match every field of `key`, with its index.
fn keyed<'a>(v: Option<&'a Value>, key: &Value) -> Option<(usize, &'a Value)> {
    let key = key.as_object()?;
    v?.as_array()?
        .iter()
        .enumerate()
        .find(|(_, item)| key.iter().all(|(k, kv)| item.get(k) == Some(kv)))
}
