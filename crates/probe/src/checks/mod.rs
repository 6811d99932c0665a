//! The check catalogue (`docs/probe-checks.md#catalogue`), one module per group, in
//! evaluation order: host basics first (arch and vendor decide which TEE groups apply),
//! then CVM detection, the TEEs, IOMMU/GPU and the Kubernetes node. Each check is one named
//! function; each module's `checks()` lists them with their declared inputs.

mod basics;
mod cvm;
mod gpu;
mod iommu;
mod k8s;
mod se;
mod snp;
mod tdx;

use cococtl_core::Arch;

use crate::check::{BlockKind, Blocker, Check, Ctx, Outcome, SkipReason, Status};
use crate::id::CheckId;
use crate::input::{Input, Reading};
use crate::parse::cpuinfo::{self, CpuInfo};

/// `/proc/cpuinfo`.
pub const CPUINFO: &str = "proc/cpuinfo";
/// `/proc/cmdline`.
pub const CMDLINE: &str = "proc/cmdline";
/// `/proc/sys/kernel/arch`.
pub const ARCH: &str = "proc/sys/kernel/arch";
/// The cgroup v2 misc controller's capacities (SEV ASIDs, TDX KeyIDs).
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

/// `/proc/cpuinfo`, parsed (empty when unreadable).
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

/// The verdict of an aggregate over `parts` (earlier checks; the first decides whether
/// the aggregate applies at all). Failed parts are listed in `blocked_by`.
pub fn aggregate(ctx: &Ctx, parts: &[CheckId], ready: &str) -> Outcome {
    let applies = parts.first().is_some_and(|p| {
        ctx.earlier(*p)
            .is_none_or(|o| o.skip_reason != Some(SkipReason::NotApplicable))
    });
    if !applies {
        return Outcome::skip(
            SkipReason::NotApplicable,
            format!("{ready}: not applicable on this host"),
        );
    }
    let blocked: Vec<Blocker> = parts
        .iter()
        .filter_map(|p| {
            let o = ctx.earlier(*p).filter(|o| o.status == Status::Fail)?;
            Some(Blocker {
                check: *p,
                kind: BlockKind::Failed,
                reason: o.message.clone(),
            })
        })
        .collect();
    if blocked.is_empty() {
        Outcome::pass(format!("{ready}: yes"))
    } else {
        let ids: Vec<&str> = blocked.iter().map(|b| b.check.as_str()).collect();
        Outcome::fail(format!("{ready}: no; blocked by {}", ids.join(", ")))
            .fix("see the failed checks above")
            .blocked_by(blocked)
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
