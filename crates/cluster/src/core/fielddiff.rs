//! Field-by-field differences between two JSON objects (live and server-side dry-run
//! result), for `diff`. Server-owned metadata and `status` are ignored.

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
