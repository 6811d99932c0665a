//! Per-shim rules: known shims, architectures they are built for, settings on disabled
//! shims, overheads, annotations, default shims and snapshotter mappings
//! (docs/kata-deploy-contract.md#g7).

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::{check_toml, one_of, V};
use crate::config::ShimConfig;
use crate::names;
use crate::raw;
use crate::schema::did_you_mean;
use cococtl_core::catalog::{shim_by_name, Runtime, SHIMS};
use cococtl_core::Arch;

pub(super) fn shims(v: &mut V, r: &raw::Values) -> Vec<ShimConfig> {
    let disable_all = match r.shims.get("disableAll") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s == "true" || s == "false" => s == "true",
        Some(other) => {
            v.err(
                "shims.disableAll",
                format!(
                    "`{}` is not a boolean",
                    serde_yaml::to_string(other).unwrap_or_default().trim()
                ),
                "--set shims.disableAll=true",
            );
            false
        }
    };
    for name in r.shims.keys() {
        if name != "disableAll" && shim_by_name(name).is_none() {
            let hint = did_you_mean(name, SHIMS.iter().map(|s| s.name));
            v.err(
                &format!("shims.{name}"),
                format!("`{name}` is not a kata-deploy 4.1.0 shim{hint}"),
                "see `cococtl profiles shims` for the shims of 4.1.0",
            );
        }
    }
    let mut out = vec![];
    for shim in SHIMS {
        let Some(raw) = r.shims.get(shim.name) else {
            continue;
        };
        let path = format!("shims.{}", shim.name);
        let sv: raw::ShimValues = match serde_path_to_error::deserialize(raw.clone()) {
            Ok(s) => s,
            Err(e) => {
                let p = format!("{path}.{}", e.path());
                v.err(&p, e.inner().to_string(), "correct the value's type");
                continue;
            }
        };
        let enabled = sv.enabled.unwrap_or(!disable_all);
        if !enabled {
            for (key, set) in [
                (
                    "containerd.snapshotter",
                    !sv.containerd.snapshotter.is_empty(),
                ),
                ("containerd.forceGuestPull", sv.containerd.force_guest_pull),
                ("agent.httpsProxy", !sv.agent.https_proxy.is_empty()),
                ("agent.noProxy", !sv.agent.no_proxy.is_empty()),
                (
                    "allowedHypervisorAnnotations",
                    !sv.allowed_hypervisor_annotations.is_empty(),
                ),
            ] {
                let p = format!("{path}.{key}");
                if set && v.user_set_after(&p, &[&format!("{path}.enabled"), "shims.disableAll"]) {
                    v.err(
                        &p,
                        format!("is set, but shim `{}` is not enabled", shim.name),
                        format!("--set {path}.enabled=true, or remove {p}"),
                    );
                }
            }
            continue;
        }
        let mut arches = vec![];
        for a in &sv.supported_arches {
            match Arch::from_k8s_name(a) {
                Some(arch) if shim.builds_for(arch) => arches.push(arch),
                Some(arch) => v.err(
                    &format!("{path}.supportedArches"),
                    format!(
                        "kata-deploy 4.1.0 does not build `{}` for {arch}; it builds it for {}",
                        shim.name,
                        list(shim.arches.iter().map(|a| a.k8s_name()))
                    ),
                    alternatives(shim.name, arch),
                ),
                None => v.err(
                    &format!("{path}.supportedArches"),
                    format!(
                        "`{a}` is not a Kubernetes architecture name{}",
                        did_you_mean(a, Arch::ALL.iter().map(|a| a.k8s_name()))
                    ),
                    "use amd64, arm64, s390x or ppc64le",
                ),
            }
        }
        arches.sort();
        arches.dedup();
        if !sv.drop_in.trim().is_empty() {
            check_toml(v, &format!("{path}.dropIn"), &sv.drop_in);
        }
        let mut overhead = BTreeMap::new();
        for (k, val) in &sv.runtime_class.overhead {
            let val = match val {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            };
            if k != "memory" && k != "cpu" {
                v.err(
                    &format!("{path}.runtimeClass.overhead.{k}"),
                    "only memory and cpu overheads exist",
                    "remove the key",
                );
            } else if !names::is_quantity(&val) {
                v.err(
                    &format!("{path}.runtimeClass.overhead.{k}"),
                    format!("`{val}` is not a Kubernetes quantity"),
                    "e.g. 2048Mi or 1.0",
                );
            } else {
                overhead.insert(k.clone(), val);
            }
        }
        for ann in &sv.allowed_hypervisor_annotations {
            if ann.is_empty()
                || ann.contains(char::is_whitespace)
                || ann.contains(',')
                || ann.contains(':')
            {
                v.err(
                    &format!("{path}.allowedHypervisorAnnotations"),
                    format!("`{ann}` is not an annotation name"),
                    "list plain names such as default_memory, one per entry",
                );
            }
        }
        out.push(ShimConfig {
            shim,
            arches,
            allowed_hypervisor_annotations: sv.allowed_hypervisor_annotations,
            snapshotter: sv.containerd.snapshotter,
            force_guest_pull: sv.containerd.force_guest_pull,
            crio_guest_pull: sv.crio.guest_pull,
            https_proxy: sv.agent.https_proxy,
            no_proxy: sv.agent.no_proxy,
            node_selector: sv.runtime_class.node_selector,
            overhead,
            overhead_enabled: sv
                .runtime_class
                .overhead_enabled
                .unwrap_or(r.runtime_classes.overhead_enabled),
            drop_in: sv.drop_in,
        });
    }
    for s in &out {
        for (key, val) in [("httpsProxy", &s.https_proxy), ("noProxy", &s.no_proxy)] {
            // The binary splits AGENT_*_PROXY on `;` and `=`: such characters would corrupt it.
            if val.contains(';') {
                v.err(
                    &format!("shims.{}.agent.{key}", s.name()),
                    "must not contain `;` (kata-deploy separates shims with it)",
                    "remove the `;`",
                );
            }
        }
    }
    out
}

pub(super) fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

pub(super) fn alternatives(name: &str, arch: Arch) -> String {
    let Some(shim) = shim_by_name(name) else {
        return String::new();
    };
    let alts: Vec<_> = SHIMS
        .iter()
        .filter(|s| s.builds_for(arch) && s.isolation == shim.isolation && s.gpu == shim.gpu)
        .map(|s| s.name)
        .collect();
    if alts.is_empty() {
        format!("remove {arch} from shims.{name}.supportedArches")
    } else {
        format!(
            "remove {arch} from shims.{name}.supportedArches; for {arch} enable {} instead",
            alts.join(" or ")
        )
    }
}

pub(super) fn default_shims(v: &mut V, given: &BTreeMap<String, String>) -> BTreeMap<Arch, String> {
    let mut out = BTreeMap::new();
    for (arch, shim) in given {
        let path = format!("defaultShim.{arch}");
        let Some(a) = Arch::from_k8s_name(arch) else {
            v.err(
                &path,
                format!("`{arch}` is not a Kubernetes architecture name"),
                "use defaultShim.amd64, .arm64, .s390x or .ppc64le",
            );
            continue;
        };
        if !shim.is_empty() && shim_by_name(shim).is_none() {
            let hint = did_you_mean(shim, SHIMS.iter().map(|s| s.name));
            v.err(
                &path,
                format!("`{shim}` is not a kata-deploy 4.1.0 shim{hint}"),
                "see `cococtl profiles shims`",
            );
            continue;
        }
        out.insert(a, shim.clone());
    }
    out
}

pub(super) fn snapshotters(v: &mut V, r: &raw::Values, shims: &[ShimConfig]) {
    for s in &r.snapshotter.setup {
        if s != "nydus" && s != "erofs" {
            v.err(
                "snapshotter.setup",
                format!(
                    "`{s}` cannot be set up by kata-deploy{}",
                    did_you_mean(s, ["nydus", "erofs"].into_iter())
                ),
                "use nydus and/or erofs",
            );
        }
    }
    for shim in shims {
        let sn = shim.snapshotter.as_str();
        if (sn == "nydus" || sn == "erofs") && !r.snapshotter.setup.iter().any(|s| s == sn) {
            v.err(
                &format!("shims.{}.containerd.snapshotter", shim.name()),
                format!("maps `{}` to {sn}, but snapshotter.setup does not set {sn} up, so the handler would reference a snapshotter nobody defined (docs/kata-deploy-contract.md#g7)", shim.name()),
                format!("add {sn} to snapshotter.setup, or --set shims.{}.containerd.snapshotter=\"\"", shim.name()),
            );
        }
    }
    let m = &r.snapshotter.erofs_merge_mode;
    if !m.is_empty() {
        one_of(v, "snapshotter.erofsMergeMode", m, &["merged", "unmerged"]);
    }
    // Unset is the binary's default, merged. It refuses a Go shim on a merged erofs only in
    // its CRI stage, after it claimed the node and installed the artifacts (docs/kata-deploy-contract.md#g22).
    if m.is_empty() || m == "merged" {
        let go: Vec<&str> = shims
            .iter()
            .filter(|s| s.snapshotter == "erofs" && s.shim.runtime == Runtime::Go)
            .map(|s| s.name())
            .collect();
        if let Some(first) = go.first() {
            let mode = if m.is_empty() {
                "unset (merged)".to_string()
            } else {
                format!("`{m}`")
            };
            let rs = format!("{first}-runtime-rs");
            let instead = if shim_by_name(&rs).is_some() {
                format!("use the runtime-rs shim {rs} for erofs")
            } else {
                "map only runtime-rs shims to erofs".to_string()
            };
            v.err(
                "snapshotter.erofsMergeMode",
                format!(
                    "is {mode}, and Go shims are mapped to erofs: {}; kata-deploy 4.1.0 refuses merged erofs layers for the Go runtime, after it has claimed the node, leaving it half installed (docs/kata-deploy-contract.md#g22)",
                    go.join(", ")
                ),
                format!(
                    "--set snapshotter.erofsMergeMode=unmerged, or {instead}"
                ),
            );
        }
    }
    let m = &r.snapshotter.erofs_snapshotter_mode;
    if !m.is_empty() {
        one_of(
            v,
            "snapshotter.erofsSnapshotterMode",
            m,
            &["disk", "memory"],
        );
    }
}
