//! Per-architecture rules: where the DaemonSet can run (docs/kata-deploy-contract.md#g4) and a valid
//! default shim on every architecture with shims (docs/kata-deploy-contract.md#g5).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Affinity;

use super::shims::list;
use super::V;
use crate::config::Config;
use cococtl_core::Arch;

/// No empty shim list where the DaemonSet runs (docs/kata-deploy-contract.md#g4) and an enabled default
/// shim (docs/kata-deploy-contract.md#g5), per architecture.
pub(super) fn per_arch_rules(v: &mut V, c: &Config) {
    for arch in Arch::ALL {
        let enabled: Vec<&str> = c.shims_for(arch).map(|s| s.name()).collect();
        if enabled.is_empty() {
            if c.schedulable_arches.contains(&arch) {
                v.err(
                    "affinity",
                    format!(
                        "the kata-deploy DaemonSet may run on {arch} nodes, but no shim is enabled for {arch}; kata-deploy would then install its whole built-in shim list there (docs/kata-deploy-contract.md#g4)"
                    ),
                    format!(
                        "restrict the DaemonSet to the architectures you configured (affinity on kubernetes.io/arch, e.g. `values: [{}]`), or enable a shim for {arch}",
                        list(c.shims.iter().flat_map(|s| s.arches.iter()).map(|a| a.k8s_name()).collect::<std::collections::BTreeSet<_>>().into_iter())
                    ),
                );
            }
            continue;
        }
        if c.default_shim_for(arch).is_none() {
            let path = format!("defaultShim.{arch}");
            let given = c.default_shim.get(&arch).map(String::as_str).unwrap_or("");
            let msg = if given.is_empty() {
                format!("no default shim for {arch}; kata-deploy 4.1.0 requires DEFAULT_SHIM_{} to be one of its shims (docs/kata-deploy-contract.md#g5)", arch.env_suffix())
            } else {
                format!("`{given}` is not enabled for {arch}; kata-deploy 4.1.0 would fail on every {arch} node (docs/kata-deploy-contract.md#g5)")
            };
            v.err(
                &path,
                format!("{msg}\n  enabled for {arch}: {}", enabled.join(", ")),
                format!(
                    "--set {path}={}{}",
                    enabled[0],
                    if given.is_empty() {
                        String::new()
                    } else {
                        format!(", or enable {given} for {arch}")
                    }
                ),
            );
        }
    }
}

/// The architectures a pod with this nodeSelector and affinity can land on.
pub fn schedulable_arches(
    node_selector: &BTreeMap<String, String>,
    affinity: Option<&Affinity>,
) -> Vec<Arch> {
    const ARCH: &str = "kubernetes.io/arch";
    let mut allowed: Vec<Arch> = Arch::ALL.to_vec();
    if let Some(a) = node_selector.get(ARCH) {
        allowed.retain(|x| x.k8s_name() == a);
    }
    let terms = affinity
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .map(|r| r.node_selector_terms.clone());
    let Some(terms) = terms else { return allowed };
    // Terms are OR-ed, expressions within a term AND-ed.
    let mut union = vec![];
    for term in terms {
        let mut term_arches = Arch::ALL.to_vec();
        for e in term.match_expressions.unwrap_or_default() {
            if e.key != ARCH {
                continue;
            }
            let vals = e.values.unwrap_or_default();
            match e.operator.as_str() {
                "In" => term_arches.retain(|a| vals.iter().any(|v| v == a.k8s_name())),
                "NotIn" => term_arches.retain(|a| !vals.iter().any(|v| v == a.k8s_name())),
                "DoesNotExist" => term_arches.clear(),
                _ => {}
            }
        }
        union.extend(term_arches);
    }
    allowed.retain(|a| union.contains(a));
    allowed
}
