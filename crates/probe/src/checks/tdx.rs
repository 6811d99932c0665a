//! Intel TDX host readiness: BIOS enablement (cpuinfo `tdx_host_platform`), TDX module
//! initialisation (kernel log), `kvm_intel tdx` and, when it stayed `N`, why.

use super::{aggregate, identity, param, x86_vendor, CMDLINE, MISC_CAPACITY};
use crate::check::{Check, Ctx, Outcome, SkipReason};
use crate::id::CheckId;
use crate::input::{Input, Reading};
use crate::parse::{capacity, cmdline, kmsg};

const INTEL: &str = "GenuineIntel";
const TDX_PARAM: &str = "sys/module/kvm_intel/parameters/tdx";

/// What KVM needs before it enables TDX, with the fix for each.
const PREREQS: &[(&str, &str)] = &[
    (
        "sys/module/kvm/parameters/tdp_mmu",
        "kvm.tdp_mmu=Y (do not boot with kvm.tdp_mmu=0)",
    ),
    (
        "sys/module/kvm/parameters/enable_virt_at_load",
        "kvm.enable_virt_at_load=Y",
    ),
    (
        "sys/module/kvm/parameters/mmio_caching",
        "kvm.mmio_caching=Y",
    ),
    ("sys/module/kvm_intel/parameters/ept", "kvm_intel.ept=Y"),
    (
        "sys/module/kvm_intel/parameters/enable_apicv",
        "kvm_intel.enable_apicv=Y",
    ),
];

fn with_identity(mut v: Vec<Input>) -> Vec<Input> {
    v.extend(identity());
    v
}

pub fn checks() -> Vec<Check> {
    vec![
        Check::new(CheckId::TdxCpuinfo, identity(), tdx_cpuinfo),
        Check::new(CheckId::TdxKmsg, with_identity(vec![Input::Kmsg]), tdx_kmsg),
        Check::new(
            CheckId::TdxKvmParam,
            with_identity(vec![Input::file(TDX_PARAM)]),
            tdx_kvm_param,
        ),
        Check::new(
            CheckId::TdxKvmPrereqs,
            with_identity(
                [
                    PREREQS
                        .iter()
                        .map(|(p, _)| Input::file(p))
                        .collect::<Vec<_>>(),
                    vec![Input::file(CMDLINE)],
                ]
                .concat(),
            ),
            tdx_kvm_prereqs,
        ),
        Check::new(
            CheckId::TdxCapacity,
            with_identity(vec![Input::file(MISC_CAPACITY)]),
            tdx_capacity,
        ),
        Check::new(CheckId::TdxReady, identity(), tdx_ready),
    ]
}

/// `tdx.cpuinfo`: see `docs/probe-checks.md#tdx-cpuinfo`.
fn tdx_cpuinfo(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, INTEL, "TDX") {
        return o;
    }
    let ev = vec![super::flags_evidence(ctx, &["tdx_host_platform"])];
    if super::cpu(ctx).flags.contains("tdx_host_platform") {
        Outcome::pass("BIOS reserved TDX private KeyIDs").with(ev)
    } else {
        Outcome::fail("no tdx_host_platform flag: TDX is not enabled by the BIOS (or the kernel predates 6.8)")
            .fix("BIOS: enable TME, TME-MT (multi-key), TDX, the SEAM loader, and a TME-MT/TDX key split > 0; then reboot")
            .with(ev)
    }
}

/// `tdx.kmsg`: see `docs/probe-checks.md#tdx-kmsg`.
fn tdx_kmsg(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, INTEL, "TDX") {
        return o;
    }
    let k = match ctx.view.get(&Input::Kmsg) {
        Reading::Kmsg(k) => k,
        other => return ctx.unreadable(other, "the kernel log"),
    };
    let tdx_lines: Vec<&String> = k
        .lines
        .iter()
        .filter(|l| l.contains("virt/tdx:") || l.contains("tdx:"))
        .collect();
    let ev: Vec<crate::check::Evidence> = tdx_lines
        .iter()
        .take(4)
        .map(|l| crate::check::Evidence {
            source: "kernel log".into(),
            value: l.to_string(),
        })
        .collect();
    let lines: Vec<String> = tdx_lines.iter().map(|l| l.to_string()).collect();
    if let Some(l) = [
        "module not loaded",
        "initialization failed",
        "not enabled by BIOS",
        "failed to",
    ]
    .iter()
    .find_map(|pat| kmsg::find(&lines, &[pat]))
    {
        return Outcome::fail(format!("kernel: {l}")).fix("install the TDX module (SEAM loader in BIOS, or /lib/firmware/intel-seam/) and check the BIOS TDX settings").with(ev);
    }
    if kmsg::find(&lines, &["initialized"]).is_some() {
        return Outcome::pass("TDX module initialized").with(ev);
    }
    if k.complete {
        Outcome::fail("the kernel never initialised the TDX module")
            .fix("boot a TDX host kernel with kvm_intel.tdx=1")
            .with(ev)
    } else {
        Outcome::skip(
            SkipReason::NotObservable,
            "the kernel log no longer reaches back to boot",
        )
        .with(ev)
    }
}

/// `tdx.kvm.param`: see `docs/probe-checks.md#tdx-kvm-param`.
fn tdx_kvm_param(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, INTEL, "TDX") {
        return o;
    }
    let ev = vec![ctx.ev_file(TDX_PARAM)];
    match param(ctx, TDX_PARAM) {
        (Some(true), _) => Outcome::pass("kvm_intel tdx=Y").with(ev),
        (Some(false), _) => Outcome::fail("kvm_intel tdx=N: KVM did not bring TDX up (see tdx.kvm.prereqs)")
            .fix("boot with kvm_intel.tdx=1 and fix what tdx.kvm.prereqs reports")
            .with(ev),
        (None, Reading::Missing) => Outcome::fail("kvm_intel has no tdx parameter: kvm_intel not loaded, or a kernel without KVM TDX (mainline 6.16+)")
            .fix("use a TDX host kernel and modprobe kvm_intel tdx=1")
            .with(ev),
        (None, other) => ctx.unreadable(other, "kvm_intel tdx").with(ev),
    }
}

/// `tdx.kvm.prereqs`: see `docs/probe-checks.md#tdx-kvm-prereqs`.
fn tdx_kvm_prereqs(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, INTEL, "TDX") {
        return o;
    }
    let ev: Vec<_> = PREREQS.iter().map(|(p, _)| ctx.ev_file(p)).collect();
    let mut missing: Vec<String> = PREREQS
        .iter()
        .filter(|(p, _)| param(ctx, p).0 == Some(false))
        .map(|(_, fix)| fix.to_string())
        .collect();
    let flags = super::cpu(ctx).flags;
    if !flags.contains("movdir64b") {
        missing.push("a CPU with MOVDIR64B".into());
    }
    if !flags.contains("xsave")
        || cmdline::has(ctx.view.file(CMDLINE).text().unwrap_or_default(), "noxsave")
    {
        missing.push("XSAVE enabled (remove noxsave)".into());
    }
    if missing.is_empty() {
        Outcome::pass("TDP MMU, EPT, APICv, MOVDIR64B and XSAVE available").with(ev)
    } else {
        Outcome::fail(format!("TDX needs: {}", missing.join("; ")))
            .fix(missing.join("; "))
            .with(ev)
    }
}

/// `tdx.capacity`: see `docs/probe-checks.md#tdx-capacity`.
fn tdx_capacity(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, INTEL, "TDX") {
        return o;
    }
    let ev = vec![ctx.ev_file(MISC_CAPACITY)];
    match ctx
        .view
        .file(MISC_CAPACITY)
        .text()
        .and_then(|t| capacity::get(t, "tdx"))
    {
        Some(0) => Outcome::warn("0 TDX KeyIDs")
            .fix("BIOS: raise the TDX key split")
            .with(ev),
        Some(n) => Outcome::pass(format!("{n} concurrent TDs at most")).with(ev),
        None => Outcome::skip(SkipReason::NotObservable, "no tdx line in misc.capacity").with(ev),
    }
}

/// `tdx.ready`: see `docs/probe-checks.md#tdx-ready`.
fn tdx_ready(ctx: &Ctx) -> Outcome {
    aggregate(
        ctx,
        &[
            CheckId::TdxCpuinfo,
            CheckId::TdxKmsg,
            CheckId::TdxKvmParam,
            CheckId::KvmVendorModule,
        ],
        "TDX host",
    )
}
