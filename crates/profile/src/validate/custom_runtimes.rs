//! `customRuntimes.*` (docs/values.md#customruntimes): runtimes built on a catalog shim's
//! configuration, each with its own handler and RuntimeClass. Checked as strictly as the
//! built-in shims, because the chart copies the runtime's text into the node's containerd
//! configuration and the cluster's RuntimeClasses without looking at it.

use cococtl_core::catalog::{runtime_class_name, shim_by_name, Runtime, SHIMS};
use k8s_openapi::api::node::v1::RuntimeClass;

use super::{check_toml, V};
use crate::config::{Config, CustomRuntime};
use crate::names;
use crate::raw;
use crate::schema::did_you_mean;

/// What the chart takes as the handler: the text after `handler:` on a line of the YAML
/// (it scans the text, it does not parse it). Every such line, trimmed.
pub fn scraped_handlers(runtime_class: &str) -> Vec<String> {
    runtime_class
        .split('\n')
        .map(str::trim)
        .filter_map(|l| l.strip_prefix("handler:"))
        .map(|h| h.trim().to_string())
        .collect()
}

/// A DNS-1123 label: what the API server accepts as a RuntimeClass handler.
fn check_dns_label(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err("is not a DNS-1123 label (lowercase letters, digits and '-', at most 63 characters, not starting or ending with '-')".into())
    }
}

/// Every RuntimeClass name the built-in shims can take in this install, or in an install
/// without a suffix on the same cluster, whether or not the shim is enabled: a custom
/// runtime must never take one over. The bare shim names too: the drop-in file of a custom
/// runtime (`dropin-<handler>.toml`) shares the ConfigMap with the shims'
/// (`dropin-<shim>.toml`).
fn builtin_names(c: &Config) -> Vec<String> {
    let mut out = vec![];
    for s in SHIMS {
        out.push(s.name.to_string());
        for suffix in [c.suffix.as_str(), ""] {
            let n = runtime_class_name(s.name, suffix);
            out.push(format!("{n}-debug"));
            out.push(format!("{n}-devkit"));
            out.push(n);
        }
    }
    if c.runtime_classes.create_default && c.suffix.is_empty() {
        out.push(c.runtime_classes.default_name.clone());
    }
    out
}

pub(super) fn custom_runtimes(
    v: &mut V,
    cr: &raw::CustomRuntimes,
    c: &Config,
) -> Vec<CustomRuntime> {
    if !cr.enabled {
        if !cr.runtimes.is_empty() {
            v.warn(
                "customRuntimes.runtimes",
                "has no effect without customRuntimes.enabled=true".to_string(),
            );
        }
        return vec![];
    }
    if cr.runtimes.is_empty() {
        v.warn(
            "customRuntimes.enabled",
            "no customRuntimes.runtimes are given, so nothing is rendered for them".to_string(),
        );
        return vec![];
    }
    let builtin = builtin_names(c);
    let mut out: Vec<CustomRuntime> = vec![];
    for (name, value) in &cr.runtimes {
        let path = format!("customRuntimes.runtimes.{name}");
        let raw: raw::CustomRuntime = match serde_path_to_error::deserialize(value.clone()) {
            Ok(x) => x,
            Err(e) => {
                let inner = e.path().to_string();
                let p = if inner == "." {
                    path.clone()
                } else {
                    format!("{path}.{inner}")
                };
                v.err(
                    &p,
                    e.inner().to_string(),
                    "a custom runtime takes baseConfig, runtimeClass, dropIn, inheritBaseOverhead, containerd.snapshotter and crio.pullType",
                );
                continue;
            }
        };
        if let Some(rt) = one(v, c, &path, name, raw, &builtin) {
            if let Some(prev) = out.iter().find(|o| o.handler == rt.handler) {
                v.err(
                    &format!("{path}.runtimeClass"),
                    format!(
                        "handler `{}` is already the handler of customRuntimes.runtimes.{}",
                        rt.handler, prev.name
                    ),
                    "give every custom runtime its own handler",
                );
                continue;
            }
            if let Some(prev) = out
                .iter()
                .find(|o| o.runtime_class.metadata.name == rt.runtime_class.metadata.name)
            {
                v.err(
                    &format!("{path}.runtimeClass"),
                    format!(
                        "RuntimeClass `{}` is already the RuntimeClass of customRuntimes.runtimes.{}",
                        rt.runtime_class.metadata.name.clone().unwrap_or_default(),
                        prev.name
                    ),
                    "give every custom runtime its own metadata.name",
                );
                continue;
            }
            out.push(rt);
        }
    }
    out
}

fn one(
    v: &mut V,
    c: &Config,
    path: &str,
    name: &str,
    raw: raw::CustomRuntime,
    builtin: &[String],
) -> Option<CustomRuntime> {
    let base_path = format!("{path}.baseConfig");
    let base = if raw.base_config.trim().is_empty() {
        v.err(
            &base_path,
            "is required: the catalog shim whose configuration this runtime starts from",
            format!("--set {base_path}=qemu-snp (see `cococtl profiles shims`)"),
        );
        None
    } else {
        let b = raw.base_config.trim();
        let found = shim_by_name(b);
        if found.is_none() {
            let hint = did_you_mean(b, SHIMS.iter().map(|s| s.name));
            v.err(
                &base_path,
                format!("`{b}` is not a kata-deploy 4.1.0 shim{hint}"),
                "see `cococtl profiles shims` for the shims of 4.1.0",
            );
        }
        found
    };
    let rc_path = format!("{path}.runtimeClass");
    let rc_fix = format!("set {rc_path} to a RuntimeClass, e.g. \"apiVersion: node.k8s.io/v1\\nkind: RuntimeClass\\nmetadata:\\n  name: kata-{name}\\nhandler: kata-{name}\\n\"");
    if raw.runtime_class.trim().is_empty() {
        v.err(
            &rc_path,
            "is required: the chart takes the runtime's handler from it, and skips a runtime without one",
            rc_fix,
        );
        return None;
    }
    let rc: RuntimeClass = match serde_yaml::from_str(&raw.runtime_class) {
        Ok(rc) => rc,
        Err(e) => {
            v.err(
                &rc_path,
                format!("does not parse as a node.k8s.io/v1 RuntimeClass: {e}"),
                rc_fix,
            );
            return None;
        }
    };
    let rc_name = rc.metadata.name.clone().unwrap_or_default();
    if let Err(why) = names::check_dns_subdomain(&rc_name) {
        v.err(
            &rc_path,
            format!("metadata.name `{rc_name}` {why}"),
            format!("set metadata.name, e.g. kata-{name}"),
        );
    }
    if rc.metadata.namespace.is_some() {
        v.err(
            &rc_path,
            "sets metadata.namespace, but a RuntimeClass is cluster-scoped",
            "remove metadata.namespace",
        );
    }
    let handler = rc.handler.clone();
    if let Err(why) = check_dns_label(&handler) {
        v.err(
            &rc_path,
            format!("handler `{handler}` {why}"),
            format!("e.g. handler: kata-{name}"),
        );
        return None;
    }
    // The chart reads the handler off the text, not the parsed YAML: the two must agree, or
    // containerd would be configured for another handler than the class names.
    let scraped = scraped_handlers(&raw.runtime_class);
    if scraped.iter().any(|h| *h != handler) || scraped.is_empty() {
        v.err(
            &rc_path,
            format!("the handler must be written as `handler: {handler}` at the start of a line, unquoted, and no other line may start with `handler:` (the chart takes the handler from that text, found: {scraped:?})"),
            format!("write `handler: {handler}` on a line of its own"),
        );
        return None;
    }
    for (what, n) in [("handler", &handler), ("metadata.name", &rc_name)] {
        if builtin.contains(n) {
            v.err(
                &rc_path,
                format!("{what} `{n}` is the name of a RuntimeClass kata-deploy renders for a built-in shim"),
                format!("use another name, e.g. {}-{name}", c.suffixed("kata-custom")),
            );
            return None;
        }
    }
    if !raw.drop_in.trim().is_empty() {
        check_toml(v, &format!("{path}.dropIn"), &raw.drop_in);
    }
    let snapshotter = raw.containerd.snapshotter.trim().to_string();
    let sn_path = format!("{path}.containerd.snapshotter");
    if !snapshotter.is_empty() {
        if snapshotter.contains(':') || snapshotter.chars().any(char::is_whitespace) {
            v.err(
                &sn_path,
                format!("`{snapshotter}` is not a snapshotter name"),
                format!("--set {sn_path}=nydus"),
            );
        } else if (snapshotter == "nydus" || snapshotter == "erofs")
            && !r_setup_has(c, &snapshotter)
        {
            v.err(
                &sn_path,
                format!("maps the runtime to {snapshotter}, but snapshotter.setup does not set {snapshotter} up, so the handler would reference a snapshotter nobody defined (docs/kata-deploy-contract.md#g7)"),
                format!("add {snapshotter} to snapshotter.setup, or remove {sn_path}"),
            );
        }
    }
    // As for the built-in Go shims (docs/kata-deploy-contract.md#g22): the base's runtime
    // serves the handler, and the Go runtime cannot use merged erofs layers.
    let merged = c.erofs_merge_mode.is_empty() || c.erofs_merge_mode == "merged";
    if snapshotter == "erofs" && merged && base.is_some_and(|b| b.runtime == Runtime::Go) {
        v.err(
            &sn_path,
            format!("maps the runtime to erofs, but its base `{}` is a Go shim and snapshotter.erofsMergeMode is merged (or unset): kata-deploy 4.1.0 refuses merged erofs layers for the Go runtime after it claimed the node (docs/kata-deploy-contract.md#g22)", raw.base_config.trim()),
            "--set snapshotter.erofsMergeMode=unmerged, or use a runtime-rs baseConfig",
        );
    }
    let pull_type = raw.crio.pull_type.trim().to_string();
    if !pull_type.is_empty() && pull_type != "guest-pull" {
        v.err(
            &format!("{path}.crio.pullType"),
            format!("`{pull_type}` is not a CRI-O pull type kata-deploy knows"),
            format!("--set {path}.crio.pullType=guest-pull, or remove it"),
        );
    }
    for (k, q) in rc
        .overhead
        .as_ref()
        .and_then(|o| o.pod_fixed.as_ref())
        .into_iter()
        .flatten()
    {
        if q.0.trim().is_empty() {
            v.err(
                &rc_path,
                format!("overhead.podFixed.{k} is empty"),
                "give a Kubernetes quantity, e.g. 512Mi",
            );
        }
    }
    Some(CustomRuntime {
        name: name.to_string(),
        handler,
        base: base?,
        drop_in: raw.drop_in,
        snapshotter,
        pull_type,
        runtime_class: rc,
        inherit_base_overhead: raw.inherit_base_overhead.unwrap_or(true),
    })
}

fn r_setup_has(c: &Config, s: &str) -> bool {
    c.snapshotter_setup.iter().any(|x| x == s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handler_is_read_off_every_handler_line() {
        let y = "kind: RuntimeClass\nhandler: kata-a\nmetadata:\n  name: a\n";
        assert_eq!(scraped_handlers(y), ["kata-a"]);
        assert!(scraped_handlers("kind: RuntimeClass\n").is_empty());
    }
}
