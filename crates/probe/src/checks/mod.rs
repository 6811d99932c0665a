//! The check catalogue (`docs/probe-checks.md#catalogue`), one module per group, in
//! evaluation order: host basics first (arch and vendor decide which TEE groups apply),
//! then CVM detection, the TEEs, IOMMU/GPU and the Kubernetes node. Each check is one named
//! function; each module's `checks()` lists them with their declared inputs.

mod basics;
mod cvm;
mod erofs;
mod gpu;
mod host_signs;
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
    v.extend(erofs::checks());
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
        Some("GenuineIntel" | "AuthenticAMD" | "HygonGenuine") => Some(Arch::Amd64),
        Some(v) if v.contains("S390") => Some(Arch::S390x),
        _ if c.arm_implementer.is_some() => Some(Arch::Arm64),
        _ => None,
    }
}

/// Why the architecture is unknown, when that is because an input could not be read.
pub fn arch_unobservable(ctx: &Ctx) -> Option<String> {
    let (a, c) = (ctx.view.file(ARCH), ctx.view.file(CPUINFO));
    (arch(ctx).is_none() && (!a.known() || !c.known())).then(|| {
        format!(
            "/{ARCH}: {}; /{CPUINFO}: {}",
            a.summary(),
            if c.known() {
                "read".to_string()
            } else {
                c.summary()
            }
        )
    })
}

/// The `*.kvm.vmtype` checks: whether `KVM_CAP_VM_TYPES` lists the VM type `bit`.
pub fn kvm_vm_type(ctx: &Ctx, bit: u64, offered: &str, missing: &str) -> Outcome {
    let ev = vec![ctx.ev(&Input::Kvm)];
    match ctx.view.get(&Input::Kvm) {
        Reading::Kvm(k) => match k.offers(bit) {
            Some(true) => Outcome::pass(offered).with(ev),
            Some(false) => Outcome::warn(missing).with(ev),
            None => Outcome::skip(
                SkipReason::NotObservable,
                "KVM_CAP_VM_TYPES is not observable",
            )
            .with(ev),
        },
        other => ctx.unreadable(other, "KVM_CAP_VM_TYPES").with(ev),
    }
}

/// `not_applicable` unless this is an x86_64 CPU from `vendor` (`not_observable` when
/// cpuinfo could not be read).
pub fn x86_vendor(ctx: &Ctx, vendor: &str, what: &str) -> Option<Outcome> {
    let c = cpu(ctx);
    let ok = arch(ctx) == Some(Arch::Amd64) && c.vendor.as_deref() == Some(vendor);
    if ok {
        return None;
    }
    let info = ctx.view.file(CPUINFO);
    if c.vendor.is_none() && !info.known() && arch(ctx) != Some(Arch::S390x) {
        return Some(
            Outcome::skip(
                SkipReason::NotObservable,
                format!("{what}: the CPU vendor is not observable"),
            )
            .with(vec![ctx.ev_file(CPUINFO)]),
        );
    }
    Some(Outcome::skip(
        SkipReason::NotApplicable,
        format!(
            "{what} needs an x86_64 {vendor} CPU (this is {} {})",
            arch(ctx).map_or("unknown", |a| a.kernel_name()),
            c.vendor.unwrap_or_default()
        ),
    ))
}

/// A module parameter file's boolean, with the reading kept for evidence.
pub fn param<'a>(ctx: &Ctx<'a>, path: &str) -> (Option<bool>, &'a Reading) {
    let r = ctx.view.file(path);
    (r.text().and_then(crate::parse::bool_param), r)
}

/// Whether an earlier check passed (a warning is not positive evidence here).
pub fn passed(ctx: &Ctx, id: CheckId) -> bool {
    ctx.earlier(id).is_some_and(|o| o.status == Status::Pass)
}

/// One thing an aggregate needs positively observed.
pub struct Part {
    /// What is needed, for messages.
    pub what: &'static str,
    /// The checks that can prove it or block it (any of them failing blocks).
    pub checks: &'static [CheckId],
    /// Whether the earlier results prove it.
    pub proven: fn(&Ctx) -> bool,
}

fn push_unique(v: &mut Vec<Blocker>, b: Blocker) {
    if !v.iter().any(|x| x.check == b.check) {
        v.push(b);
    }
}

/// A `*.ready` aggregate: `yes` only when every part was positively observed, `no` when
/// any of their checks failed, `unknown` otherwise (with what was not observed). The first
/// check of the first part decides whether the aggregate applies at all.
pub fn ready(ctx: &Ctx, parts: &[Part], name: &str) -> Outcome {
    let applies = parts
        .first()
        .and_then(|p| p.checks.first())
        .is_some_and(|id| {
            ctx.earlier(*id)
                .is_none_or(|o| o.skip_reason != Some(SkipReason::NotApplicable))
        });
    if !applies {
        return Outcome::skip(
            SkipReason::NotApplicable,
            format!("{name}: not applicable on this host"),
        );
    }
    // No nested TEE: a confidential guest cannot host confidential guests, whatever else
    // was not observed.
    if let Some(o) = ctx.earlier(CheckId::CvmSummary) {
        if let Some(crate::check::Facts::Guest { guest: Some(kind) }) = o.facts {
            return Outcome::fail(format!(
                "{name}: no; this node is itself a {} guest, and a confidential guest cannot host confidential guests",
                kind.name()
            ))
            .fix("run confidential pods through peer-pods: cococtl install --profile remote")
            .blocked_by(vec![Blocker {
                check: CheckId::CvmSummary,
                kind: BlockKind::Failed,
                reason: o.message.clone(),
            }]);
        }
    }
    let mut failed = vec![];
    for p in parts {
        for id in p.checks {
            if let Some(o) = ctx.earlier(*id).filter(|o| o.status == Status::Fail) {
                push_unique(
                    &mut failed,
                    Blocker {
                        check: *id,
                        kind: BlockKind::Failed,
                        reason: o.message.clone(),
                    },
                );
            }
        }
    }
    if !failed.is_empty() {
        let ids: Vec<&str> = failed.iter().map(|b| b.check.as_str()).collect();
        return Outcome::fail(format!("{name}: no; blocked by {}", ids.join(", ")))
            .fix("see the failed checks above")
            .blocked_by(failed);
    }
    let mut missing = vec![];
    let mut unobserved = vec![];
    for p in parts.iter().filter(|p| !(p.proven)(ctx)) {
        missing.push(p.what);
        for id in p.checks {
            let o = ctx.earlier(*id);
            if o.is_some_and(|o| o.status == Status::Pass) {
                continue;
            }
            push_unique(
                &mut unobserved,
                Blocker {
                    check: *id,
                    kind: BlockKind::NotObserved,
                    reason: o.map_or_else(|| "not evaluated".into(), |o| o.message.clone()),
                },
            );
        }
    }
    if missing.is_empty() {
        return Outcome::pass(format!("{name}: yes"));
    }
    Outcome::unknown(format!(
        "{name}: unknown; not observed: {}",
        missing.join("; ")
    ))
    .fix("run the probe as root (MSRs, /dev/sev, kernel log), or see the skipped checks above")
    .blocked_by(unobserved)
}

/// cpuinfo flags evidence: which of `names` are present.
pub fn flags_evidence(ctx: &Ctx, names: &[&str]) -> crate::check::Evidence {
    let c = cpu(ctx);
    crate::check::Evidence {
        source: format!("/{CPUINFO} flags"),
        value: if c.flags_known {
            names
                .iter()
                .map(|n| {
                    format!(
                        "{n}{}",
                        if c.flags.contains(*n) {
                            ""
                        } else {
                            " (absent)"
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            match ctx.view.file(CPUINFO) {
                r if !r.known() => r.summary(),
                _ => "not observable (no flags line)".into(),
            }
        },
    }
}

/// The reason to give when cpuinfo flags are unknown (`None` when they are known).
pub fn flags_unknown(ctx: &Ctx, what: &str) -> Option<Outcome> {
    if cpu(ctx).flags_known {
        return None;
    }
    let r = ctx.view.file(CPUINFO);
    Some(match r {
        Reading::Denied { .. } => ctx.unreadable(r, &format!("{what} (cpuinfo flags)")),
        _ => Outcome::skip(
            SkipReason::NotObservable,
            format!("{what}: the cpuinfo flags are not observable"),
        ),
    })
}
