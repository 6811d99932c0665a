//! The check catalogue (`probe-checks.md` §5.2), one module per group, in evaluation order:
//! host basics first (arch and vendor decide which TEE groups apply), then CVM detection,
//! the TEEs, IOMMU/GPU and the Kubernetes node.

mod basics;
mod cvm;
mod gpu;
mod iommu;
mod k8s;
mod se;
mod snp;
mod tdx;

use cococtl_core::Arch;

use crate::check::{Check, Ctx, Outcome, SkipReason};
use crate::input::{Input, Reading};
use crate::parse::cpuinfo::{self, CpuInfo};

pub const CPUINFO: &str = "proc/cpuinfo";
pub const CMDLINE: &str = "proc/cmdline";
pub const ARCH: &str = "proc/sys/kernel/arch";
pub const MISC_CAPACITY: &str = "sys/fs/cgroup/misc.capacity";

/// Every check, in evaluation order (aggregates after what they aggregate).
pub fn all() -> Vec<Check> {
    let mut v = basics::checks();
    v.extend(cvm::checks());
    v.extend(snp::checks());
    v.extend(tdx::checks());
    v.extend(se::checks());
    v.extend(iommu::checks());
    v.extend(gpu::checks());
    v.extend(k8s::checks());
    v
}

/// The inputs that identify the CPU: every check that is vendor- or arch-specific declares
/// them.
pub fn identity() -> Vec<Input> {
    vec![Input::file(ARCH), Input::file(CPUINFO)]
}

pub fn cpu(ctx: &Ctx) -> CpuInfo {
    ctx.view
        .file(CPUINFO)
        .text()
        .map(cpuinfo::parse)
        .unwrap_or_default()
}

/// `/proc/sys/kernel/arch`, else inferred from cpuinfo.
pub fn arch(ctx: &Ctx) -> Option<Arch> {
    if let Some(a) = ctx
        .view
        .file(ARCH)
        .text()
        .and_then(|a| Arch::from_kernel_name(a.trim()))
    {
        return Some(a);
    }
    let c = cpu(ctx);
    match c.vendor.as_deref() {
        Some("GenuineIntel" | "AuthenticAMD") => Some(Arch::Amd64),
        Some(v) if v.contains("S390") => Some(Arch::S390x),
        _ => None,
    }
}

/// `not_applicable` unless this is an x86_64 CPU from `vendor`.
pub fn x86_vendor(ctx: &Ctx, vendor: &str, what: &str) -> Option<Outcome> {
    let c = cpu(ctx);
    let ok = arch(ctx) == Some(Arch::Amd64) && c.vendor.as_deref() == Some(vendor);
    (!ok).then(|| {
        Outcome::skip(
            SkipReason::NotApplicable,
            format!(
                "{what} needs an x86_64 {vendor} CPU (this is {} {})",
                arch(ctx).map_or("unknown", |a| a.kernel_name()),
                c.vendor.unwrap_or_default()
            ),
        )
    })
}

/// A module parameter file's boolean, with the reading kept for evidence.
pub fn param<'a>(ctx: &Ctx<'a>, path: &str) -> (Option<bool>, &'a Reading) {
    let r = ctx.view.file(path);
    (r.text().and_then(crate::parse::bool_param), r)
}

/// The verdict of an aggregate over `parts` (ids of earlier checks).
pub fn aggregate(ctx: &Ctx, parts: &[&str], ready: &str) -> Outcome {
    let failed: Vec<&str> = parts
        .iter()
        .copied()
        .filter(|p| {
            ctx.earlier(p)
                .is_some_and(|o| o.status == crate::check::Status::Fail)
        })
        .collect();
    let skipped: Vec<&str> = parts
        .iter()
        .copied()
        .filter(|p| {
            ctx.earlier(p)
                .is_some_and(|o| o.skip_reason == Some(SkipReason::NotApplicable))
        })
        .collect();
    if skipped.len() == parts.len() || parts.first().is_some_and(|p| skipped.contains(p)) {
        return Outcome::skip(
            SkipReason::NotApplicable,
            format!("{ready}: not applicable on this host"),
        );
    }
    if failed.is_empty() {
        Outcome::pass(format!("{ready}: yes"))
    } else {
        Outcome::fail(format!("{ready}: no; blocked by {}", failed.join(", ")))
            .fix("see the failed checks above")
    }
}

/// cpuinfo flags evidence: which of `names` are present.
pub fn flags_evidence(ctx: &Ctx, names: &[&str]) -> crate::check::Evidence {
    let flags = cpu(ctx).flags;
    crate::check::Evidence {
        source: format!("/{CPUINFO} flags"),
        value: names
            .iter()
            .map(|n| format!("{n}{}", if flags.contains(*n) { "" } else { " (absent)" }))
            .collect::<Vec<_>>()
            .join(" "),
    }
}
