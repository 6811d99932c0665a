//! What the published probe results (`docs/probe-checks.md#published`) say about a profile
//! before it is installed: a TEE profile applied to a cluster where no node is ready for
//! any of its TEE shims would install RuntimeClasses no pod can start with. Pure: it reads
//! the nodes' labels as the preflight listed them.

use std::collections::BTreeMap;

use cococtl_core::catalog::{Isolation, Tee};
use cococtl_probe::publish::{Capability, DOMAIN};

use super::snapshot::NodeSnap;

/// The capability a TEE needs on the node.
fn capability(t: Tee) -> Capability {
    match t {
        Tee::SevSnp => Capability::Snp,
        Tee::Tdx => Capability::Tdx,
        Tee::Se => Capability::Se,
    }
}

/// The warning to print before applying a plan whose TEE shims are `shims` (name and
/// isolation), or `None` when no node published probe results (nothing to judge from),
/// the profile has no TEE shim, or some node is ready for one of them.
pub fn tee_warning(nodes: &[NodeSnap], shims: &[(&str, Isolation)]) -> Option<String> {
    let probed: Vec<&NodeSnap> = nodes
        .iter()
        .filter(|n| n.labels.keys().any(|k| k.starts_with(DOMAIN)))
        .collect();
    if probed.is_empty() {
        return None;
    }
    let mut needed: BTreeMap<&'static str, Vec<&str>> = BTreeMap::new();
    for (name, iso) in shims {
        if let Isolation::Tee(t) = iso {
            needed.entry(capability(*t).key()).or_default().push(name);
        }
    }
    if needed.is_empty() {
        return None;
    }
    let mut counts = vec![];
    for (cap, names) in &needed {
        let label = format!("{DOMAIN}/{cap}");
        let ready = probed
            .iter()
            .filter(|n| n.labels.get(&label).map(String::as_str) == Some("ready"))
            .count();
        if ready > 0 {
            return None;
        }
        counts.push(format!("{cap}: 0 ready ({})", names.join(", ")));
    }
    Some(format!(
        "the probe results published on {} node(s) show no node ready for this profile's TEE shims ({}); their RuntimeClasses would have nowhere to run pods\n  see why: cococtl check --published --profile <this profile>",
        probed.len(),
        counts.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(labels: &[(&str, &str)]) -> NodeSnap {
        NodeSnap {
            name: "n".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            arch: "amd64".into(),
            kernel: String::new(),
            os_image: String::new(),
            container_runtime: String::new(),
            kubelet: String::new(),
            ready: true,
            unschedulable: false,
            taints: vec![],
            agent_version: String::new(),
            agent_message: String::new(),
        }
    }

    const X86: &[(&str, Isolation)] = &[
        ("qemu-snp", Isolation::Tee(Tee::SevSnp)),
        ("qemu-tdx", Isolation::Tee(Tee::Tdx)),
    ];

    #[test]
    fn no_published_results_say_nothing() {
        assert!(tee_warning(&[node(&[])], X86).is_none());
    }

    #[test]
    fn one_ready_tee_node_is_enough() {
        let n = node(&[("probe.cococtl.confidentialcontainers.org/tdx", "ready")]);
        assert!(tee_warning(&[n], X86).is_none());
    }

    #[test]
    fn a_cluster_without_a_ready_tee_node_is_warned_about() {
        let a = node(&[
            ("probe.cococtl.confidentialcontainers.org/snp", "blocked"),
            (
                "probe.cococtl.confidentialcontainers.org/tdx",
                "not-applicable",
            ),
        ]);
        let w = tee_warning(&[a.clone(), a], X86).unwrap();
        assert!(
            w.contains("2 node(s)") && w.contains("snp: 0 ready (qemu-snp)"),
            "{w}"
        );
    }
}
