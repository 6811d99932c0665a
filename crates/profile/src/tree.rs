//! The untyped values tree: Helm's merge rules and key paths for messages.

use serde_yaml::{Mapping, Value};

/// A dotted key path as `--set` would spell it (`shims.qemu-snp.enabled`, dots in keys
/// escaped as `\.`), so a message's path can be pasted back into `--set`.
pub fn join(prefix: &str, key: &str) -> String {
    let key = key.replace('.', "\\.");
    if prefix.is_empty() {
        key
    } else {
        format!("{prefix}.{key}")
    }
}

/// The string form of a mapping key (YAML allows non-string keys; values files use strings,
/// but `1: x` or `true: x` must still produce a readable path).
pub fn key_str(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => "null".into(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// Merges `overlay` into `base` the way Helm layers `-f` files and `--set`: maps merge key
/// by key, anything else replaces. A `null` replaces too; [`drop_nulls`] later deletes it,
/// which is how Helm lets a user remove a default.
pub fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_mapping() && v.is_mapping() => merge(existing, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// Removes keys whose value is `null` (Helm: a null user value deletes the chart default).
pub fn drop_nulls(v: &mut Value) {
    if let Value::Mapping(m) = v {
        m.retain(|_, v| !v.is_null());
        for (_, v) in m.iter_mut() {
            drop_nulls(v);
        }
    }
}

/// Every leaf path of a tree (maps descended, sequences and scalars are leaves).
pub fn leaf_paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Mapping(m) if !m.is_empty() => {
            for (k, v) in m {
                leaf_paths(v, &join(prefix, &key_str(k)), out);
            }
        }
        _ => out.push(prefix.to_string()),
    }
}

/// Looks up a plain (unescaped) key path.
pub fn get<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(v, |v, k| v.get(*k))
}

/// Sets a plain key path, creating maps on the way.
pub fn set(v: &mut Value, keys: &[&str], value: Value) {
    let Some((last, parents)) = keys.split_last() else {
        *v = value;
        return;
    };
    let mut cur = v;
    for k in parents {
        if !cur.is_mapping() {
            *cur = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(m) = cur else { return };
        cur = m
            .entry(Value::String((*k).to_string()))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
    }
    if !cur.is_mapping() {
        *cur = Value::Mapping(Mapping::new());
    }
    if let Value::Mapping(m) = cur {
        m.insert(Value::String((*last).to_string()), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Value {
        serde_yaml::from_str(s).unwrap()
    }

    #[test]
    fn maps_merge_and_lists_replace_like_helm() {
        let mut base = y("a: {b: 1, c: [1, 2]}\nd: x");
        merge(&mut base, y("a: {c: [3]}\ne: y"));
        assert_eq!(base, y("a: {b: 1, c: [3]}\nd: x\ne: y"));
    }

    #[test]
    fn null_user_value_deletes_the_default() {
        let mut base = y("a: {b: 1, c: 2}");
        merge(&mut base, y("a: {b: null}"));
        drop_nulls(&mut base);
        assert_eq!(base, y("a: {c: 2}"));
    }

    #[test]
    fn paths_escape_dots_in_keys() {
        let mut out = vec![];
        leaf_paths(
            &y("nodeSelector: {nvidia.com/cc.ready.state: 'true'}"),
            "",
            &mut out,
        );
        assert_eq!(out, ["nodeSelector.nvidia\\.com/cc\\.ready\\.state"]);
    }
}
