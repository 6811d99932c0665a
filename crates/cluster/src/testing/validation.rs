//! The API server's validation for the objects cococtl writes, as far as a wrong manifest
//! would trip it: object names (RFC 1123 subdomains), ConfigMap keys, a DaemonSet's
//! selector (immutable, and it must match the template's labels) and port ranges. The
//! `422` body is shaped as in crates/cluster/tests/fixtures/kube-apiserver-1.36/23 and 24:
//! `details.kind` is the Kind (not the plural), causes carry index paths without a
//! leading dot, and the core group has no `group` key.

use serde_json::{json, Value};

use super::{kind_of, status};

/// The `422` for writing `obj` (`old`: the live object, for immutable fields), if any.
pub(super) fn check(plural: &str, group: &str, obj: &Value, old: Option<&Value>) -> Option<Value> {
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    let mut causes: Vec<(String, String)> = vec![];
    if !is_subdomain(name) {
        causes.push((
            "metadata.name".into(),
            format!("Invalid value: {}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')", json!(name)),
        ));
    }
    match plural {
        "configmaps" | "secrets" => {
            for part in ["data", "binaryData", "stringData"] {
                for k in obj[part].as_object().into_iter().flat_map(|m| m.keys()) {
                    if k.is_empty()
                        || !k
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
                    {
                        causes.push((
                            format!("{part}[{k}]"),
                            format!("Invalid value: {}: a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')", json!(k)),
                        ));
                    }
                }
            }
        }
        "daemonsets" | "deployments" => {
            let sel = &obj["spec"]["selector"];
            if let Some(o) = old {
                if o["spec"]["selector"] != *sel {
                    causes.push((
                        "spec.selector".into(),
                        format!("Invalid value: {}: field is immutable", compact(sel)),
                    ));
                }
            }
            let labels = &obj["spec"]["template"]["metadata"]["labels"];
            let matches = sel["matchLabels"]
                .as_object()
                .into_iter()
                .flatten()
                .all(|(k, v)| labels.get(k) == Some(v));
            if !matches {
                causes.push((
                    "spec.template.metadata.labels".into(),
                    format!(
                        "Invalid value: {}: `selector` does not match template `labels`",
                        compact(labels)
                    ),
                ));
            }
            let containers = obj["spec"]["template"]["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for (i, c) in containers.iter().enumerate() {
                for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
                    if let Some(p) = c[probe]["httpGet"]["port"].as_i64() {
                        if !(1..=65535).contains(&p) {
                            causes.push((
                                format!("spec.template.spec.containers[{i}].{probe}.httpGet.port"),
                                format!(
                                    "Invalid value: {p}: must be between 1 and 65535, inclusive"
                                ),
                            ));
                        }
                    }
                }
            }
        }
        _ => {}
    }
    if causes.is_empty() {
        return None;
    }
    let kind = kind_of(plural);
    let qualified = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    let list: Vec<String> = causes.iter().map(|(f, m)| format!("{f}: {m}")).collect();
    let message = if list.len() == 1 {
        format!("{qualified} \"{name}\" is invalid: {}", list[0])
    } else {
        format!("{qualified} \"{name}\" is invalid: [{}]", list.join(", "))
    };
    let mut details = json!({"name": name, "kind": kind, "causes": causes.iter().map(|(f, m)| json!({"reason": "FieldValueInvalid", "message": m, "field": f})).collect::<Vec<_>>()});
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    let mut st = status(422, "Invalid", &message, json!({}));
    st["details"] = details;
    Some(st)
}

fn compact(v: &Value) -> String {
    v.to_string()
}

fn is_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_invalid_configmap_of_fixture_23_is_refused_with_both_causes() {
        let cm =
            json!({"metadata": {"name": "Bad_Name"}, "data": {"bad key!": "x", "ok.key": "y"}});
        let st = check("configmaps", "", &cm, None).unwrap();
        assert_eq!(st["details"]["kind"], "ConfigMap");
        assert!(st["details"].get("group").is_none());
        let fields: Vec<&str> = st["details"]["causes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["metadata.name", "data[bad key!]"]);
        assert!(check(
            "configmaps",
            "",
            &json!({"metadata": {"name": "fine"}, "data": {"a": "b"}}),
            None
        )
        .is_none());
    }

    #[test]
    fn a_daemonset_whose_selector_misses_its_template_is_refused() {
        let ds = json!({"metadata": {"name": "kd"}, "spec": {"selector": {"matchLabels": {"name": "x"}},
            "template": {"metadata": {"labels": {"name": "kd"}}, "spec": {"containers": []}}}});
        let st = check("daemonsets", "apps", &ds, None).unwrap();
        assert_eq!(st["details"]["group"], "apps");
        assert!(st["message"]
            .as_str()
            .unwrap()
            .starts_with("DaemonSet.apps \"kd\" is invalid"));
    }
}
