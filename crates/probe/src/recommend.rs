//! Which profile and shims fit this host, and why (`probe-checks.md` §5.3); and whether a
//! given profile's shims are ready here.

use std::collections::BTreeMap;

use cococtl_core::catalog::{shim_by_name, Isolation, Tee};
use cococtl_core::labels::{KATA_INSTANCE_LABEL_PREFIX, KATA_RUNTIME_LABEL};
use cococtl_core::Arch;
use serde::Serialize;

use crate::check::{Outcome, Status};

type Results = BTreeMap<&'static str, Outcome>;

/// A shim this host could run, with what its RuntimeClass needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShimAdvice {
    pub shim: String,
    pub runtime_class: String,
    pub ready: bool,
    pub why: String,
    /// Node labels the kata-deploy RuntimeClass selects on (kata-deploy sets the first two).
    pub node_labels: BTreeMap<String, String>,
}

/// The recommendation for this host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    /// A built-in cococtl profile, or none when nothing fits.
    pub profile: Option<String>,
    pub shims: Vec<ShimAdvice>,
    pub reasons: Vec<String>,
    /// Failed checks that stand between this host and a confidential profile.
    pub blocking: Vec<String>,
}

/// A profile's shims for this host's architecture.
#[derive(Debug, Clone)]
pub struct ProfileShims {
    pub profile: String,
    pub arch: Option<Arch>,
    pub shims: Vec<String>,
}

/// Whether `profile` can run here.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub profile: String,
    pub ready: bool,
    pub shims: Vec<ShimAdvice>,
}

fn ok(r: &Results, id: &str) -> bool {
    r.get(id).is_some_and(|o| o.status == Status::Pass)
}

fn failed(r: &Results, id: &str) -> bool {
    r.get(id).is_some_and(|o| o.status == Status::Fail)
}

fn kvm_usable(r: &Results) -> bool {
    ok(r, "kvm.present") && ok(r, "kvm.vendor_module")
}

fn node_is_cvm(r: &Results) -> bool {
    r.get("cvm.summary")
        .is_some_and(|o| o.status == Status::Warn)
}

/// GPUs ready for passthrough at all (vfio, viable groups).
fn gpu_passthrough(r: &Results) -> bool {
    ok(r, "gpu.vfio_bound") && ok(r, "gpu.group_viable") && !failed(r, "gpu.host_driver")
}

fn gpu_cc(r: &Results) -> Option<bool> {
    let o = r.get("gpu.cc_mode")?;
    (o.status == Status::Pass).then(|| o.message.starts_with("GPUs in confidential mode"))
}

/// GPUs ready for the confidential GPU shims: also iommufd, cdevs, CC mode on, PodResources.
fn gpu_tee(r: &Results) -> bool {
    gpu_passthrough(r)
        && ok(r, "iommu.iommufd")
        && ok(r, "gpu.vfio_cdev")
        && gpu_cc(r) == Some(true)
        && !failed(r, "k8s.podresources")
}

/// Whether `shim` can run here, and why (not).
fn shim_ready(r: &Results, shim: &str) -> (bool, String) {
    let Some(s) = shim_by_name(shim) else {
        return (false, format!("{shim} is not a kata-deploy 4.1.0 shim"));
    };
    if s.isolation == Isolation::PeerPods {
        return (
            true,
            "peer-pods run the pod VM in the cloud: nothing is needed from this node's hardware"
                .into(),
        );
    }
    if node_is_cvm(r) {
        return (
            false,
            "this node is a confidential VM and cannot nest VMs".into(),
        );
    }
    if !kvm_usable(r) {
        return (
            false,
            "no usable KVM (kvm.present / kvm.vendor_module)".into(),
        );
    }
    let (tee_ok, tee_why) = match s.isolation {
        Isolation::Tee(Tee::SevSnp) => (ok(r, "snp.ready"), "SEV-SNP host (snp.ready)"),
        Isolation::Tee(Tee::Tdx) => (ok(r, "tdx.ready"), "TDX host (tdx.ready)"),
        Isolation::Tee(Tee::Se) => (ok(r, "se.ready"), "Secure Execution host (se.ready)"),
        Isolation::CocoDev => (true, "KVM (no TEE: not confidential, for development)"),
        _ => (true, "KVM"),
    };
    if !tee_ok {
        return (false, format!("needs a ready {tee_why}"));
    }
    if s.gpu {
        let tee = matches!(s.isolation, Isolation::Tee(_));
        let gpu_ok = if tee {
            gpu_tee(r)
        } else {
            gpu_passthrough(r) && gpu_cc(r) != Some(true)
        };
        if !gpu_ok {
            return (
                false,
                if tee {
                    "needs vfio-bound GPUs in viable groups with iommufd cdevs and CC mode on"
                        .into()
                } else {
                    "needs vfio-bound GPUs in viable groups with CC mode off".into()
                },
            );
        }
    }
    (true, format!("ready: {tee_why}"))
}

fn advice(r: &Results, shim: &str) -> ShimAdvice {
    let (ready, why) = shim_ready(r, shim);
    let mut node_labels = BTreeMap::from([
        (KATA_RUNTIME_LABEL.to_string(), "true".to_string()),
        (
            format!("{KATA_INSTANCE_LABEL_PREFIX}/default"),
            "true".to_string(),
        ),
    ]);
    if let Some(s) = shim_by_name(shim) {
        node_labels.extend(
            s.default_node_selector
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
    }
    ShimAdvice {
        shim: shim.to_string(),
        runtime_class: format!("kata-{shim}"),
        ready,
        why,
        node_labels,
    }
}

fn blocking(r: &Results) -> Vec<String> {
    r.iter()
        .filter(|(_, o)| o.status == Status::Fail)
        .map(|(id, o)| format!("{id}: {}", o.message))
        .collect()
}

/// The decision order of §5.3; each step records why.
pub fn recommend(r: &Results, arch: Option<Arch>) -> Recommendation {
    let mut reasons = vec![];
    let pick = |profile: &str, shims: &[&str], reasons: Vec<String>| Recommendation {
        profile: Some(profile.to_string()),
        shims: shims.iter().map(|s| advice(r, s)).collect(),
        reasons,
        blocking: blocking(r),
    };
    if node_is_cvm(r) {
        reasons.push(format!(
            "this node is a confidential VM ({})",
            r.get("cvm.summary")
                .map(|o| o.message.clone())
                .unwrap_or_default()
        ));
        return pick("remote", &["remote"], reasons);
    }
    if !kvm_usable(r) {
        let why = [
            ("kvm.present", "no /dev/kvm"),
            (
                "kvm.vendor_module",
                "/dev/kvm has no kvm_amd/kvm_intel behind it",
            ),
        ]
        .into_iter()
        .find(|(id, _)| !ok(r, id))
        .map_or("KVM unusable", |(_, w)| w);
        reasons.push(format!(
            "{why}: Kata cannot start VMs on this node, peer-pods can run them elsewhere"
        ));
        return pick("remote", &["remote"], reasons);
    }
    if arch == Some(Arch::S390x) && ok(r, "se.ready") {
        reasons.push("IBM Secure Execution host ready".into());
        return pick("s390x", &["qemu-se"], reasons);
    }
    for (ready, tee, shim, gpu_shim) in [
        (
            "snp.ready",
            "AMD SEV-SNP",
            "qemu-snp",
            "qemu-nvidia-gpu-snp",
        ),
        ("tdx.ready", "Intel TDX", "qemu-tdx", "qemu-nvidia-gpu-tdx"),
    ] {
        if ok(r, ready) {
            reasons.push(format!("{tee} host ready"));
            let mut shims = vec![shim];
            if gpu_tee(r) {
                reasons.push("GPUs ready for confidential passthrough".into());
                shims.push(gpu_shim);
            }
            return pick("x86_64", &shims, reasons);
        }
    }
    reasons
        .push("KVM works but no TEE is ready: only the non-confidential coco-dev shim fits".into());
    let (profile, coco) = match arch {
        Some(Arch::Arm64) => ("aarch64", "qemu-coco-dev-runtime-rs"),
        Some(Arch::S390x) => ("s390x", "qemu-coco-dev"),
        Some(Arch::Amd64) => ("x86_64", "qemu-coco-dev"),
        _ => {
            return Recommendation {
                profile: None,
                shims: vec![],
                reasons: vec!["no profile fits this architecture".into()],
                blocking: blocking(r),
            }
        }
    };
    if arch == Some(Arch::Amd64) && gpu_passthrough(r) && gpu_cc(r) != Some(true) {
        reasons.push("GPUs ready for (non-confidential) passthrough".into());
        return pick("nvidia-gpu", &["qemu-nvidia-gpu"], reasons);
    }
    pick(profile, &[coco], reasons)
}

/// Readiness of a given profile's shims on this host: ready when at least one of them is
/// (a profile like x86_64 carries both SNP and TDX shims; no host has both).
pub fn verdict(r: &Results, p: ProfileShims) -> Verdict {
    let shims: Vec<ShimAdvice> = p.shims.iter().map(|s| advice(r, s)).collect();
    Verdict {
        ready: shims.iter().any(|s| s.ready),
        profile: p.profile,
        shims,
    }
}
