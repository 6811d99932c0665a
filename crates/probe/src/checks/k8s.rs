//! The Kubernetes side of the node: the kubelet's PodResources `Get` (needed to hand GPUs to
//! Kata pods), from the kubelet config and version.

use crate::check::{Check, Ctx, Outcome, SkipReason};
use crate::id::CheckId;
use crate::input::{Input, Reading};

const KUBELET_CONFIG: &str = "var/lib/kubelet/config.yaml";
const GATE: &str = "KubeletPodResourcesGet";

/// `v1.33.2` → (1, 33).
fn minor(v: &str) -> Option<(u32, u32)> {
    crate::parse::kernel_version(v.trim_start_matches('v'))
}

pub fn checks() -> Vec<Check> {
    vec![Check::new(
        CheckId::K8sPodresources,
        vec![Input::file(KUBELET_CONFIG), Input::KubeletVersion],
        k8s_podresources,
    )]
}

/// `k8s.podresources`: see `docs/probe-checks.md#k8s-podresources`.
fn k8s_podresources(ctx: &Ctx) -> Outcome {
    let ev = vec![ctx.ev_file(KUBELET_CONFIG), ctx.ev(&Input::KubeletVersion)];
    let config = ctx.view.file(KUBELET_CONFIG);
    let version = match ctx.view.get(&Input::KubeletVersion) {
        Reading::Version { value } => minor(value),
        _ => None,
    };
    let gate = match config {
        Reading::Text { value } => match serde_yaml::from_str::<serde_yaml::Value>(value) {
            Ok(v) => v
                .get("featureGates")
                .and_then(|g| g.get(GATE))
                .and_then(|b| b.as_bool()),
            Err(e) => {
                return Outcome::fail(format!("/{KUBELET_CONFIG} is not valid YAML: {e}")).with(ev)
            }
        },
        _ => None,
    };
    if matches!(config, Reading::Missing) && version.is_none() {
        return Outcome::skip(
            SkipReason::NotObservable,
            "no kubelet config: not a Kubernetes node yet",
        )
        .with(ev);
    }
    // Beta and on by default from 1.34 (hedge: an explicit `false` still wins).
    match (gate, version) {
        (Some(false), _) => Outcome::fail(format!("{GATE}=false in the kubelet config"))
            .fix(format!("set featureGates.{GATE}: true"))
            .with(ev),
        (Some(true), _) => Outcome::pass(format!("{GATE} enabled")).with(ev),
        (None, Some(v)) if v >= (1, 34) => {
            Outcome::pass(format!("kubelet {}.{}: {GATE} on by default", v.0, v.1)).with(ev)
        }
        (None, Some(v)) => Outcome::warn(format!(
            "kubelet {}.{} without {GATE}: GPU pods cannot learn their devices",
            v.0, v.1
        ))
        .fix(format!(
            "set featureGates.{GATE}: true in the kubelet config"
        ))
        .with(ev),
        (None, None) => Outcome::skip(
            SkipReason::NotObservable,
            "kubelet version unknown and the gate not set",
        )
        .with(ev),
    }
}
