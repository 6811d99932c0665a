//! Which keys the values understand, and did-you-mean suggestions for the rest.
//!
//! The chart-defaults tree is the schema: a user key is known when the defaults have it, or
//! when it sits under a free-form map (labels, selectors, affinity, resources, ...).

use serde_yaml::Value;

use crate::error::Warning;
use crate::source::Source;
use crate::tree;

/// Subtrees whose keys are the user's own (Kubernetes objects, label maps).
const FREE_FORM: &[&str] = &["affinity", "resources", "updateStrategy", "customRuntimes"];

/// `"; did you mean `x`?"`, or empty when nothing is close.
pub fn did_you_mean<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    let best = candidates
        .map(|c| {
            (
                strsim::jaro_winkler(&word.to_lowercase(), &c.to_lowercase()),
                c,
            )
        })
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, c)) => format!("; did you mean `{c}`?"),
        None => String::new(),
    }
}

/// Warnings for every key of `layer` the schema does not know.
pub fn unknown_keys(layer: &Value, schema: &Value, source: &Source) -> Vec<Warning> {
    let mut out = vec![];
    walk(layer, schema, "", 0, source, &mut out);
    out
}

fn walk(
    v: &Value,
    schema: &Value,
    path: &str,
    depth: usize,
    source: &Source,
    out: &mut Vec<Warning>,
) {
    let (Value::Mapping(m), Value::Mapping(s)) = (v, schema) else {
        return;
    };
    // An empty map in the defaults (`nodeSelector: {}`) takes any keys.
    if s.is_empty() {
        return;
    }
    for (k, child) in m {
        let key = tree::key_str(k);
        let child_path = tree::join(path, &key);
        if depth == 0 && FREE_FORM.contains(&key.as_str()) {
            continue;
        }
        // Every nodeSelector is a label map of the user's, also where the defaults have
        // entries (the GPU shims' runtimeClass.nodeSelector).
        if key == "nodeSelector" {
            continue;
        }
        // Unknown shims are errors, reported by validation with the shim list.
        if path == "shims" {
            if let Some(shim_schema) = s.get(k) {
                walk(child, shim_schema, &child_path, depth + 1, source, out);
            }
            continue;
        }
        match s.get(k) {
            Some(sub) => walk(child, sub, &child_path, depth + 1, source, out),
            None => {
                let hint = did_you_mean(&key, s.keys().filter_map(|k| k.as_str()));
                out.push(Warning {
                    path: child_path,
                    source: Some(source.clone()),
                    message: format!("unknown key, ignored{hint}"),
                });
            }
        }
    }
}

/// Warnings for `--set-string` values of `"false"` on boolean keys: cococtl reads them as
/// false, while the chart's templates (and so Helm) take any non-empty string as true.
pub fn string_booleans(layer: &Value, schema: &Value, source: &Source) -> Vec<Warning> {
    let mut out = vec![];
    string_bools(layer, schema, "", source, &mut out);
    out
}

fn string_bools(v: &Value, schema: &Value, path: &str, source: &Source, out: &mut Vec<Warning>) {
    let Value::Mapping(m) = v else { return };
    for (k, child) in m {
        let key = tree::key_str(k);
        let child_path = tree::join(path, &key);
        let sub = schema.get(k).unwrap_or(&Value::Null);
        // A shim's `enabled` defaults to null (follow `disableAll`) but is a boolean.
        let boolean = sub.is_bool() || (path.starts_with("shims.") && key == "enabled");
        match child {
            Value::String(s) if boolean && s == "false" => out.push(Warning {
                message: format!(
                    "the string \"{s}\" is read as false here, but Helm's templates treat every non-empty string as true; use --set {child_path}=false"
                ),
                path: child_path,
                source: Some(source.clone()),
            }),
            Value::Mapping(_) => string_bools(child, sub, &child_path, source, out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Value {
        serde_yaml::from_str(s).unwrap()
    }

    #[test]
    fn misspelt_key_gets_a_suggestion() {
        let w = unknown_keys(
            &y("imagePullPolcy: Always"),
            &crate::kata_4_1::defaults::tree(),
            &Source::File("a.yaml".into()),
        );
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].path, "imagePullPolcy");
        assert!(
            w[0].message.contains("did you mean `imagePullPolicy`?"),
            "{}",
            w[0].message
        );
    }

    #[test]
    fn keys_under_free_form_maps_are_accepted() {
        let w = unknown_keys(
            &y("nodeSelector: {a: b}\nshims: {qemu-snp: {runtimeClass: {nodeSelector: {x: y}}}}\nresources: {limits: {cpu: 1}}"),
            &crate::kata_4_1::defaults::tree(),
            &Source::File("a.yaml".into()),
        );
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn unknown_key_inside_a_shim_is_reported_with_its_path() {
        let w = unknown_keys(
            &y("shims: {qemu-snp: {containerd: {snapshoter: nydus}}}"),
            &crate::kata_4_1::defaults::tree(),
            &Source::Set("x".into()),
        );
        assert_eq!(w[0].path, "shims.qemu-snp.containerd.snapshoter");
        assert!(w[0].message.contains("`snapshotter`"));
    }
}
