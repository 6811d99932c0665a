//! The effective default values of the kata-deploy 4.1.0 chart, as a values tree.

use serde_yaml::{Mapping, Value};

use cococtl_core::catalog::{Shim, SHIMS};

const GLOBALS: &str = include_str!("defaults.yaml");

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Mapping(entries.into_iter().map(|(k, v)| (s(k), v)).collect())
}

/// One `shims.<name>` entry as the 4.1.0 chart's values.yaml has it.
fn shim_defaults(shim: &Shim) -> Value {
    let node_selector: Mapping = shim
        .default_node_selector
        .iter()
        .map(|(k, v)| (s(k), s(v)))
        .collect();
    map(vec![
        (
            "enabled",
            shim.default_enabled.map_or(Value::Null, Value::Bool),
        ),
        (
            "supportedArches",
            Value::Sequence(shim.arches.iter().map(|a| s(a.k8s_name())).collect()),
        ),
        ("allowedHypervisorAnnotations", Value::Sequence(vec![])),
        ("dropIn", s("")),
        (
            "containerd",
            map(vec![
                ("snapshotter", s(shim.default_snapshotter)),
                ("forceGuestPull", Value::Bool(false)),
            ]),
        ),
        (
            "crio",
            map(vec![(
                "guestPull",
                Value::Bool(shim.default_crio_guest_pull),
            )]),
        ),
        (
            "agent",
            map(vec![("httpsProxy", s("")), ("noProxy", s(""))]),
        ),
        (
            "runtimeClass",
            map(vec![
                ("nodeSelector", Value::Mapping(node_selector)),
                ("overhead", Value::Mapping(Mapping::new())),
                // Unset: follow `runtimeClasses.overheadEnabled`; set, it wins.
                ("overheadEnabled", Value::Null),
            ]),
        ),
    ])
}

/// The chart defaults tree: globals plus `shims.disableAll` and one entry per catalog shim.
pub fn tree() -> Value {
    // The embedded file is part of the binary and covered by tests; failing to parse it is a
    // build defect, not an input error.
    let mut root: Value = serde_yaml::from_str(GLOBALS).unwrap_or(Value::Mapping(Mapping::new()));
    let mut shims = Mapping::new();
    shims.insert(s("disableAll"), Value::Bool(false));
    for shim in SHIMS {
        shims.insert(s(shim.name), shim_defaults(shim));
    }
    if let Value::Mapping(m) = &mut root {
        m.insert(s("shims"), Value::Mapping(shims));
        m.insert(s("peerpods"), crate::peerpods::defaults());
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_parse() {
        let v: Value = serde_yaml::from_str(GLOBALS).unwrap();
        assert_eq!(
            v["image"]["reference"],
            s("quay.io/kata-containers/kata-deploy")
        );
    }

    #[test]
    fn remote_is_the_only_shim_disabled_by_default() {
        let t = tree();
        let off: Vec<_> = t["shims"]
            .as_mapping()
            .unwrap()
            .iter()
            .filter(|(_, v)| v.get("enabled") == Some(&Value::Bool(false)))
            .map(|(k, _)| k.as_str().unwrap().to_string())
            .collect();
        assert_eq!(off, ["remote"]);
    }
}
