//! RuntimeClasses of kata-deploy 4.1.0 (docs/kata-deploy-contract.md#runtime-classes): one per
//! enabled shim (not filtered by arch, docs/kata-deploy-contract.md#g12), debug/devkit variants, and
//! the optional default alias. Overheads: docs/kata-deploy-contract.md#overheads; the TEE
//! keys they request with the NodeFeatureRule: docs/kata-deploy-contract.md#node-feature-rules.

use std::collections::BTreeMap;

use cococtl_core::catalog::{runtime_class_name, Tee};
use cococtl_core::labels::{
    KATA_INSTANCE_LABEL_PREFIX, KATA_RUNTIME_LABEL, SE_NFD_LABEL, SNP_NFD_LABEL, TDX_NFD_LABEL,
};
use cococtl_core::Arch;
use cococtl_profile::config::ShimConfig;
use cococtl_profile::Config;
use k8s_openapi::api::node::v1::{Overhead, RuntimeClass, Scheduling};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::node_feature_rules::TEE_KEYS;
use crate::meta;
use crate::{ClusterFacts, Object};

/// `katacontainers.io/kata-runtime=true` plus the per-install ownership marker
/// (docs/kata-deploy-contract.md#g11).
fn ownership(c: &Config) -> [(String, String); 2] {
    [
        (KATA_RUNTIME_LABEL.to_string(), "true".to_string()),
        (
            format!("{KATA_INSTANCE_LABEL_PREFIX}/{}", c.instance()),
            "true".to_string(),
        ),
    ]
}

fn node_selector(c: &Config, s: &ShimConfig, facts: ClusterFacts) -> BTreeMap<String, String> {
    let own = ownership(c);
    let mut sel: BTreeMap<String, String> = own.iter().cloned().collect();
    if !s.node_selector.is_empty() {
        for (k, v) in &s.node_selector {
            if !own.iter().any(|(ok, _)| ok == k) {
                sel.insert(k.clone(), v.clone());
            }
        }
    } else if facts.nfd_detected && s.shim.is_pure_tee() {
        let label = match s.shim.isolation {
            cococtl_core::catalog::Isolation::Tee(Tee::SevSnp) => SNP_NFD_LABEL,
            cococtl_core::catalog::Isolation::Tee(Tee::Tdx) => TDX_NFD_LABEL,
            _ => SE_NFD_LABEL,
        };
        sel.insert(label.into(), "true".into());
    }
    sel
}

/// The table entry with the shim's overrides (unless overhead is off for it), plus, while
/// the NodeFeatureRule is rendered, one of the TEE keys it advertises for SEV-SNP and TDX
/// shims: the chart adds those whatever `overheadEnabled` says, since the scheduler must
/// count the keys (docs/kata-deploy-contract.md#g13).
fn overhead(c: &Config, s: &ShimConfig) -> Option<Overhead> {
    let mut fixed = BTreeMap::new();
    // The shim's own setting already falls back to the global one (a shim's `true` wins).
    if s.overhead_enabled {
        fixed.insert(
            "memory".to_string(),
            Quantity(s.shim.overhead.memory.into()),
        );
        fixed.insert("cpu".to_string(), Quantity(s.shim.overhead.cpu.into()));
        for (k, v) in &s.overhead {
            fixed.insert(k.clone(), Quantity(v.clone()));
        }
    }
    if c.node_feature_rules.active() {
        for (needle, resource) in TEE_KEYS {
            if s.name().contains(needle) {
                fixed.insert(resource.to_string(), Quantity("1".into()));
            }
        }
    }
    (!fixed.is_empty()).then_some(Overhead {
        pod_fixed: Some(fixed),
    })
}

fn runtime_class(c: &Config, name: String, s: &ShimConfig, facts: ClusterFacts) -> RuntimeClass {
    let mut metadata = meta::cluster(c, &name);
    let labels = metadata.labels.get_or_insert_with(Default::default);
    labels.insert("app.kubernetes.io/managed-by".into(), "kata-deploy".into());
    labels.insert(
        "kata-deploy/instance".into(),
        if c.suffix.is_empty() {
            "default".into()
        } else {
            c.suffix.clone()
        },
    );
    metadata.annotations = Some(meta::labels([(
        "katacontainers.io/kata-version",
        c.kata_version.as_str(),
    )]));
    RuntimeClass {
        metadata,
        handler: name,
        overhead: overhead(c, s),
        scheduling: Some(Scheduling {
            node_selector: Some(node_selector(c, s, facts)),
            tolerations: None,
        }),
    }
}

/// Every RuntimeClass: per enabled shim, its debug/devkit variants, and the default alias;
/// none when `runtimeClasses.enabled` is false.
pub fn objects(c: &Config, facts: ClusterFacts) -> Vec<Object> {
    if !c.runtime_classes.enabled {
        return vec![];
    }
    let mut out = vec![];
    for s in &c.shims {
        let name = runtime_class_name(s.name(), &c.suffix);
        out.push(Object::new(runtime_class(c, name.clone(), s, facts)));
        if c.debug {
            out.push(Object::new(runtime_class(
                c,
                format!("{name}-debug"),
                s,
                facts,
            )));
            if c.devkit {
                out.push(Object::new(runtime_class(
                    c,
                    format!("{name}-devkit"),
                    s,
                    facts,
                )));
            }
        }
    }
    if c.runtime_classes.create_default && c.suffix.is_empty() {
        // One cluster-wide alias, taken from defaultShim.amd64 with the chart's fallbacks.
        let default = Arch::ALL
            .iter()
            .find_map(|a| c.default_shim.get(a).filter(|s| !s.is_empty()));
        if let Some(shim) = default.and_then(|d| c.shims.iter().find(|s| s.name() == d)) {
            let mut rc = runtime_class(c, c.runtime_classes.default_name.clone(), shim, facts);
            rc.handler = runtime_class_name(shim.name(), "");
            out.push(Object::new(rc));
        }
    }
    out
}
