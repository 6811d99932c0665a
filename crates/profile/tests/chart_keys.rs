//! Every key of the kata-deploy 4.1.0 chart is honoured or refused, none ignored: each key
//! path of `fixtures/kata-deploy-4.1.0-keys.txt`, set alone in a values file, either resolves
//! without an "unknown key" warning or, for a documented refusal, is refused naming the key.

use cococtl_core::catalog::SHIMS;
use cococtl_profile::{builtin, resolve, Inputs};

const KEYS: &str = include_str!("fixtures/kata-deploy-4.1.0-keys.txt");
const VALUES_DOC: &str = include_str!("../../../docs/values.md");
/// The shim whose entry stands for `shims.<shim>` (enabled in the x86_64 profile).
const SHIM: &str = "qemu-snp";

struct Key {
    path: String,
    value: String,
    refused: bool,
}

fn keys() -> Vec<Key> {
    KEYS.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (path, rest) = l
                .split_once(" = ")
                .unwrap_or_else(|| panic!("bad line {l}"));
            let (value, refused) = match rest.strip_suffix(" refused") {
                Some(v) => (v, true),
                None => (rest, false),
            };
            Key {
                path: path.replace("<shim>", SHIM),
                value: value.to_string(),
                refused,
            }
        })
        .collect()
}

/// A values file setting only `path` (dotted, no escapes) to `value`.
fn file_for(path: &str, value: &str) -> String {
    let parts: Vec<&str> = path.split('.').collect();
    let mut out = String::new();
    for (depth, p) in parts.iter().enumerate() {
        out.push_str(&"  ".repeat(depth));
        out.push_str(p);
        out.push(':');
        if depth + 1 == parts.len() {
            out.push(' ');
            out.push_str(value);
        }
        out.push('\n');
    }
    out
}

fn inputs(file: String) -> Inputs {
    Inputs {
        profile: Some(("x86_64".into(), builtin::source("x86_64").unwrap().into())),
        files: vec![("keys.yaml".into(), file)],
        namespace: "coco-system".into(),
        ..Default::default()
    }
}

#[test]
fn every_chart_key_is_consumed_or_refused_as_documented() {
    let mut failures = vec![];
    for k in keys() {
        let r = resolve(&inputs(file_for(&k.path, &k.value)));
        match (k.refused, r) {
            (false, Ok(r)) => {
                for w in r
                    .warnings
                    .iter()
                    .filter(|w| w.message.contains("unknown key"))
                {
                    failures.push(format!("{}: ignored: {w}", k.path));
                }
            }
            (false, Err(e)) => failures.push(format!("{} = {}: refused: {e}", k.path, k.value)),
            (true, Ok(_)) => {
                failures.push(format!("{} = {}: accepted, not refused", k.path, k.value))
            }
            (true, Err(e)) => {
                let e = e.to_string();
                if !e.contains(&k.path) {
                    failures.push(format!(
                        "{}: the refusal does not name the key: {e}",
                        k.path
                    ));
                }
                if !VALUES_DOC.contains(&format!("`{}`", k.path)) {
                    failures.push(format!(
                        "{}: refused, but not documented in docs/values.md",
                        k.path
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_catalog_shim_takes_the_same_keys_as_the_one_the_table_names() {
    let shim_keys: Vec<String> = keys()
        .into_iter()
        .filter_map(|k| {
            k.path
                .strip_prefix(&format!("shims.{SHIM}."))
                .map(str::to_string)
        })
        .collect();
    assert!(shim_keys.len() >= 10, "{shim_keys:?}");
    for s in SHIMS {
        // `enabled` and `supportedArches` are in every entry by construction; null would
        // delete them (Helm: null removes the default) and leave the default shim off. The
        // others keep their chart default under null, so only the
        // schema speaks.
        for key in shim_keys
            .iter()
            .filter(|k| *k != "enabled" && *k != "supportedArches")
        {
            let value = "null";
            // On the chart's own defaults (no profile), which every shim's entry fits.
            let mut i = inputs(file_for(&format!("shims.{}.{key}", s.name), value));
            i.profile = None;
            let r = resolve(&i).unwrap_or_else(|e| panic!("{} {key}: {e}", s.name));
            assert!(
                !r.warnings.iter().any(|w| w.message.contains("unknown key")),
                "shims.{}.{key}: {:?}",
                s.name,
                r.warnings
            );
        }
    }
}
