//! Which profile and shims fit this host, and why (`docs/probe-checks.md#recommendation`);
//! and whether a given profile's shims are ready here. Decisions read check statuses and
//! structured [`Facts`], never message text.

use std::collections::BTreeMap;

use cococtl_core::catalog::{shim_by_name, Isolation, Tee};
use cococtl_core::labels::{KATA_INSTANCE_LABEL_PREFIX, KATA_RUNTIME_LABEL};
use cococtl_core::Arch;
use serde::{Deserialize, Serialize};

use crate::check::{CvmKind, Facts, Results, Status};
use crate::id::CheckId;

/// A shim this host could run, with what its RuntimeClass needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShimAdvice {
    /// The kata-deploy shim.
    pub shim: String,
    /// Its RuntimeClass (`kata-<shim>`).
    pub runtime_class: String,
    /// Whether it can run here.
    pub ready: bool,
    /// Why (not).
    pub why: String,
    /// Node labels the kata-deploy RuntimeClass selects on (kata-deploy sets the first two).
    pub node_labels: BTreeMap<String, String>,
}

/// The recommendation for this host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// A built-in cococtl profile, or none when nothing fits.
    pub profile: Option<String>,
    /// The shims of that profile this host should use.
    pub shims: Vec<ShimAdvice>,
    /// Why, step by step.
    pub reasons: Vec<String>,
    /// Failed checks that stand between this host and a confidential profile.
    pub blocking: Vec<String>,
}

/// A profile's shims for this host's architecture.
#[derive(Debug, Clone)]
pub struct ProfileShims {
    /// The profile's name (or values file).
    pub profile: String,
    /// The architecture the shims were picked for.
    pub arch: Option<Arch>,
    /// The profile's enabled shims for that architecture.
    pub shims: Vec<String>,
}

/// Whether `profile` can run here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The profile judged.
    pub profile: String,
    /// Whether it can run here: one of its confidential shims (TEE or peer-pods) is
    /// ready; for a profile without confidential shims, any of its shims.
    pub ready: bool,
    /// Each of its shims.
    pub shims: Vec<ShimAdvice>,
    /// Its confidential shims (TEE or peer-pods) that are ready here.
    #[serde(default)]
    pub confidential_ready: Vec<String>,
    /// Its non-confidential shims (development, plain Kata) that are ready here: they do
    /// not make the profile ready when it has confidential ones.
    #[serde(default)]
    pub dev_only_ready: Vec<String>,
}

fn ok(r: &Results, id: CheckId) -> bool {
    r.get(&id).is_some_and(|o| o.status == Status::Pass)
}

fn failed(r: &Results, id: CheckId) -> bool {
    r.get(&id).is_some_and(|o| o.status == Status::Fail)
}

/// Whether KVM can start VMs on a node (`docs/probe-checks.md#kvm-verdict`): the one
/// verdict behind the recommendation, each shim's reason and `cococtl check`'s KVM column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvmVerdict {
    /// `/dev/kvm` seen, and the vendor module not seen missing (when the module list
    /// cannot be read, the TEE aggregates stay unknown instead).
    Usable,
    /// The check failed: positively unusable.
    Unusable(CheckId),
    /// The check could not observe it: neither yes nor no.
    NotObserved(CheckId),
}

impl KvmVerdict {
    /// The verdict from check statuses (a report's, or a published summary's).
    pub fn of(status: impl Fn(CheckId) -> Option<Status>) -> Self {
        let ok = |id| matches!(status(id), Some(Status::Pass | Status::Warn));
        for id in [CheckId::KvmPresent, CheckId::KvmVendorModule] {
            if status(id) == Some(Status::Fail) {
                return KvmVerdict::Unusable(id);
            }
        }
        if !ok(CheckId::KvmPresent) {
            return KvmVerdict::NotObserved(CheckId::KvmPresent);
        }
        KvmVerdict::Usable
    }

    /// The verdict of a probe run.
    pub fn of_results(r: &Results) -> Self {
        KvmVerdict::of(|id| r.get(&id).map(|o| o.status))
    }

    /// `yes`, `no (check)` or `? (check)`, for tables.
    pub fn cell(self) -> String {
        match self {
            KvmVerdict::Usable => "yes".into(),
            KvmVerdict::Unusable(id) => format!("no ({id})"),
            KvmVerdict::NotObserved(id) => format!("? ({id})"),
        }
    }

    /// Why KVM is not usable, naming the check; `None` when it is.
    pub fn reason(self) -> Option<String> {
        match self {
            KvmVerdict::Usable => None,
            KvmVerdict::Unusable(CheckId::KvmPresent) => Some("no /dev/kvm (kvm.present)".into()),
            KvmVerdict::Unusable(id) => Some(format!(
                "/dev/kvm has no kvm_amd/kvm_intel behind it ({id})"
            )),
            KvmVerdict::NotObserved(id) => Some(format!(
                "KVM not observable ({id}): whether this node can start VMs is unknown"
            )),
        }
    }
}

/// The kind of confidential guest this node is, from `cvm.summary`'s facts.
fn node_cvm(r: &Results) -> Option<CvmKind> {
    match r.get(&CheckId::CvmSummary)?.facts {
        Some(Facts::Guest { guest }) => guest,
        _ => None,
    }
}

fn node_is_cvm(r: &Results) -> bool {
    node_cvm(r).is_some()
}

/// GPUs ready for passthrough at all (vfio, viable groups).
fn gpu_passthrough(r: &Results) -> bool {
    ok(r, CheckId::GpuVfioBound)
        && ok(r, CheckId::GpuGroupViable)
        && !failed(r, CheckId::GpuHostDriver)
}

/// The GPUs' confidential-computing mode, from `gpu.cc_mode`'s facts.
fn gpu_cc(r: &Results) -> Option<bool> {
    match r.get(&CheckId::GpuCcMode)?.facts {
        Some(Facts::GpuCc { cc_ready, .. }) => cc_ready,
        _ => None,
    }
}

/// GPUs ready for the confidential GPU shims: also iommufd, cdevs, CC mode on, PodResources.
fn gpu_tee(r: &Results) -> bool {
    gpu_passthrough(r)
        && ok(r, CheckId::IommuIommufd)
        && ok(r, CheckId::GpuVfioCdev)
        && gpu_cc(r) == Some(true)
        && !failed(r, CheckId::GpuCcCapable)
        && !matches!(
            r.get(&CheckId::GpuCcCapable).and_then(|o| o.facts.as_ref()),
            Some(Facts::GpuCcCapable {
                capable: Some(false)
            })
        )
        && !failed(r, CheckId::K8sPodresources)
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
    if let Some(why) = KvmVerdict::of_results(r).reason() {
        return (false, format!("needs KVM: {why}"));
    }
    let (tee_check, tee_why) = match s.isolation {
        Isolation::Tee(Tee::SevSnp) => (Some(CheckId::SnpReady), "SEV-SNP host (snp.ready)"),
        Isolation::Tee(Tee::Tdx) => (Some(CheckId::TdxReady), "TDX host (tdx.ready)"),
        Isolation::Tee(Tee::Se) => (Some(CheckId::SeReady), "Secure Execution host (se.ready)"),
        Isolation::CocoDev => (None, "KVM (no TEE: not confidential, for development)"),
        _ => (None, "KVM"),
    };
    if let Some(id) = tee_check {
        match r.get(&id).map(|o| o.status) {
            Some(Status::Pass) => {}
            Some(Status::Unknown) => {
                return (
                    false,
                    format!("needs a ready {tee_why}; readiness is unknown: the probe could not observe every part"),
                )
            }
            _ => return (false, format!("needs a ready {tee_why}")),
        }
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

/// Every failed check, as `id: message`.
fn blocking(r: &Results) -> Vec<String> {
    r.iter()
        .filter(|(_, o)| o.status == Status::Fail)
        .map(|(id, o)| format!("{id}: {}", o.message))
        .collect()
}

/// The decision order of `docs/probe-checks.md#recommendation`; each step records why.
pub fn recommend(r: &Results, arch: Option<Arch>) -> Recommendation {
    let mut reasons = vec![];
    let pick = |profile: &str, shims: &[&str], reasons: Vec<String>| Recommendation {
        profile: Some(profile.to_string()),
        shims: shims.iter().map(|s| advice(r, s)).collect(),
        reasons,
        blocking: blocking(r),
    };
    if r.get(&CheckId::CvmSummary)
        .is_some_and(|o| o.status == Status::Unknown)
    {
        reasons.push(
            "could not tell whether this node is a confidential VM (see cvm.summary); judged as a host"
                .into(),
        );
    }
    if node_is_cvm(r) {
        reasons.push(format!(
            "this node is a confidential VM ({})",
            node_cvm(r).map_or("", CvmKind::name)
        ));
        return pick("remote", &["remote"], reasons);
    }
    if let Some(why) = KvmVerdict::of_results(r).reason() {
        // Not observed is not "absent": the reason says so, and the hedge (peer-pods,
        // which need nothing from this node) stays.
        let then = match KvmVerdict::of_results(r) {
            KvmVerdict::NotObserved(_) => "peer-pods run VMs elsewhere and need no KVM here",
            _ => "Kata cannot start VMs on this node, peer-pods can run them elsewhere",
        };
        reasons.push(format!("{why}: {then}"));
        return pick("remote", &["remote"], reasons);
    }
    if arch == Some(Arch::S390x) && ok(r, CheckId::SeReady) {
        reasons.push("IBM Secure Execution host ready".into());
        return pick("s390x", &["qemu-se"], reasons);
    }
    for (ready, tee, shim, gpu_shim) in [
        (
            CheckId::SnpReady,
            "AMD SEV-SNP",
            "qemu-snp",
            "qemu-nvidia-gpu-snp",
        ),
        (
            CheckId::TdxReady,
            "Intel TDX",
            "qemu-tdx",
            "qemu-nvidia-gpu-tdx",
        ),
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

/// A TEE or peer-pods shim: one that keeps the pod confidential.
pub fn confidential(shim: &str) -> bool {
    shim_by_name(shim)
        .is_some_and(|s| matches!(s.isolation, Isolation::Tee(_) | Isolation::PeerPods))
}

/// Every shim kata-deploy builds for `arch`, ready here or not.
pub fn all_shims(r: &Results, arch: Arch) -> Vec<ShimAdvice> {
    cococtl_core::catalog::SHIMS
        .iter()
        .filter(|s| s.builds_for(arch))
        .map(|s| advice(r, s.name))
        .collect()
}

/// Readiness of a given profile's shims on this host: ready when at least one of its
/// confidential shims is (a profile like x86_64 carries both SNP and TDX shims; no host has
/// both). Its non-confidential `qemu-coco-dev` alone does not make it ready. A profile
/// without confidential shims (plain GPU passthrough) is ready when any shim is.
pub fn verdict(r: &Results, p: ProfileShims) -> Verdict {
    let shims: Vec<ShimAdvice> = p.shims.iter().map(|s| advice(r, s)).collect();
    let (conf, dev): (Vec<&ShimAdvice>, Vec<&ShimAdvice>) =
        shims.iter().partition(|s| confidential(&s.shim));
    let names = |v: &[&ShimAdvice]| -> Vec<String> {
        v.iter()
            .filter(|s| s.ready)
            .map(|s| s.shim.clone())
            .collect()
    };
    let (confidential_ready, dev_only_ready) = (names(&conf), names(&dev));
    let ready = if conf.is_empty() {
        !dev_only_ready.is_empty()
    } else {
        !confidential_ready.is_empty()
    };
    Verdict {
        ready,
        profile: p.profile,
        shims,
        confidential_ready,
        dev_only_ready,
    }
}
