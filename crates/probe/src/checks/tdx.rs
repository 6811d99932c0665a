//! Intel TDX host readiness: BIOS enablement (cpuinfo `tdx_host_platform`), TDX module
//! initialisation (kernel log), `kvm_intel tdx` and, when it stayed `N`, why; the VM type
//! KVM offers and the KeyID capacity.

use super::{
    flags_unknown, identity, kvm_vm_type, param, passed, ready, x86_vendor, Part, CMDLINE,
    MISC_CAPACITY,
};
use crate::check::{Check, Ctx, Evidence, Outcome, SkipReason};
use crate::id::CheckId;
use crate::input::{Input, KvmInfo, Reading};
use crate::parse::{capacity, cmdline, kmsg};

const INTEL: &str = "GenuineIntel";
const TDX_PARAM: &str = "sys/module/kvm_intel/parameters/tdx";
/// IA32_TME_ACTIVATE: bit 1 TME enabled.
const TME_ACTIVATE: u32 = 0x982;
/// IA32_SEAMRR_PHYS_MASK: bit 11 SEAMRR enabled (the BIOS set up the TDX module range).
const SEAMRR_MASK: u32 = 0x1401;
/// IA32_MKTME_KEYID_PARTITIONING: bits 63:32 TDX private KeyIDs.
const KEYID_PARTITIONING: u32 = 0x87;
/// IA32_FEATURE_CONTROL: bit 18 SGX enabled (TD quotes are signed by an SGX enclave).
const FEATURE_CONTROL: u32 = 0x3A;
/// SGX registration (MCHECK) status: non-zero means broken SGX registration UEFI variables.
const SGX_MCHECK: u32 = 0xA0;
/// Bit 27: a pre-production part (attestation against the production PCS fails).
const PLATFORM_INFO_EXT: u32 = 0xCE;
/// The TD quote generation service's socket (Canonical/Intel packaging).
const QGS_SOCKET: &str = "var/run/tdx-qgs/qgs.socket";

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

/// Kernel-log lines of `tdx_bringup` that say why KVM left TDX off, with the fix.
const PREREQ_LOG: &[(&str, &str)] = &[
    (
        "TDX requires TDP MMU",
        "kvm.tdp_mmu=Y (do not boot with kvm.tdp_mmu=0)",
    ),
    (
        "requires kvm.enable_virt_at_load",
        "kvm.enable_virt_at_load=Y",
    ),
    ("TDX requires mmio caching", "kvm.mmio_caching=Y"),
    (
        "no TDX private KeyIDs available",
        "BIOS: a TME-MT/TDX key split > 0",
    ),
    (
        "TDX not supported by the host platform",
        "BIOS: enable TDX (tdx_host_platform)",
    ),
];

fn with_identity(mut v: Vec<Input>) -> Vec<Input> {
    v.extend(identity());
    v
}

/// The TDX checks, in evaluation order.
pub fn checks() -> Vec<Check> {
    vec![
        Check::new(CheckId::TdxCpuinfo, identity(), tdx_cpuinfo),
        Check::new(
            CheckId::TdxBiosMsr,
            with_identity(
                [
                    TME_ACTIVATE,
                    SEAMRR_MASK,
                    KEYID_PARTITIONING,
                    FEATURE_CONTROL,
                    SGX_MCHECK,
                    PLATFORM_INFO_EXT,
                ]
                .into_iter()
                .map(Input::msr)
                .collect(),
            ),
            tdx_bios_msr,
        ),
        Check::new(
            CheckId::TdxKmsg,
            with_identity(vec![Input::Kmsg, Input::file(CMDLINE)]),
            tdx_kmsg,
        ),
        Check::new(
            CheckId::TdxKvmParam,
            with_identity(vec![Input::file(TDX_PARAM), Input::file(CMDLINE)]),
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
                    vec![
                        Input::file(CMDLINE),
                        Input::Kmsg,
                        Input::file(TDX_PARAM),
                        Input::Kvm,
                    ],
                ]
                .concat(),
            ),
            tdx_kvm_prereqs,
        ),
        Check::new(
            CheckId::TdxKvmVmtype,
            with_identity(vec![Input::Kvm]),
            tdx_kvm_vmtype,
        ),
        Check::new(
            CheckId::TdxCapacity,
            with_identity(vec![Input::file(MISC_CAPACITY), Input::Kmsg]),
            tdx_capacity,
        ),
        Check::new(
            CheckId::TdxAttestation,
            with_identity(vec![
                Input::device("dev/sgx_enclave"),
                Input::device("dev/sgx_provision"),
                Input::file("sys/module/kvm_intel/parameters/sgx"),
                Input::device(QGS_SOCKET),
            ]),
            tdx_attestation,
        ),
        Check::new(
            CheckId::TdxCmdline,
            with_identity(vec![Input::file(CMDLINE), Input::file(TDX_PARAM)]),
            tdx_cmdline,
        ),
        Check::new(CheckId::TdxReady, identity(), tdx_ready),
    ]
}

/// Whether the command line already asks for TDX.
fn cmdline_asks_tdx(ctx: &Ctx) -> bool {
    ctx.view
        .file(CMDLINE)
        .text()
        .and_then(|c| cmdline::get(c, "kvm_intel.tdx"))
        .and_then(crate::parse::bool_param)
        == Some(true)
}

/// `tdx.cpuinfo`: see `docs/probe-checks.md#tdx-cpuinfo`.
fn tdx_cpuinfo(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, INTEL, "TDX") {
        return o;
    }
    let ev = vec![super::flags_evidence(ctx, &["tdx_host_platform"])];
    if let Some(o) = flags_unknown(ctx, "TDX enablement") {
        return o.with(ev);
    }
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
        other => {
            return ctx
                .unreadable(other, "the kernel log")
                .with(vec![ctx.ev(&Input::Kmsg)])
        }
    };
    // Host lines only: a TD guest's `tdx: Guest detected` is not about the module.
    let lines: Vec<String> = k
        .lines
        .iter()
        .filter(|l| (l.contains("virt/tdx:") || l.contains("tdx:")) && !l.contains("Guest"))
        .cloned()
        .collect();
    let ev: Vec<Evidence> = lines
        .iter()
        .take(4)
        .map(|l| Evidence {
            source: "kernel log".into(),
            value: l.to_string(),
        })
        .collect();
    if let Some(l) = [
        "module not loaded",
        "initialization failed",
        "not enabled by BIOS",
        "failed to",
    ]
    .iter()
    .find_map(|pat| kmsg::find_ci(&lines, pat))
    {
        return Outcome::fail(format!("kernel: {l}")).fix("install the TDX module (SEAM loader in BIOS, or /lib/firmware/intel-seam/) and check the BIOS TDX settings").with(ev);
    }
    // `virt/tdx: module initialized`; from 7.1 `TDX-Module initialized`.
    if kmsg::find_ci(&lines, "module initialized").is_some() {
        return Outcome::pass("TDX module initialized").with(ev);
    }
    if k.complete {
        let fix = if cmdline_asks_tdx(ctx) {
            "the command line already has kvm_intel.tdx=1: boot a kernel with TDX host support (CONFIG_INTEL_TDX_HOST) and check the BIOS TDX settings"
        } else {
            "boot a TDX host kernel with kvm_intel.tdx=1"
        };
        Outcome::fail("the kernel never initialised the TDX module")
            .fix(fix)
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
    let ev = vec![ctx.ev_file(TDX_PARAM), ctx.ev_file(CMDLINE)];
    let asked = cmdline_asks_tdx(ctx);
    match param(ctx, TDX_PARAM) {
        (Some(true), _) => Outcome::pass("kvm_intel tdx=Y").with(ev),
        (Some(false), _) => Outcome::fail(format!(
            "kvm_intel tdx=N{}: KVM did not bring TDX up (see tdx.kvm.prereqs)",
            if asked { " although the command line asks for kvm_intel.tdx=1" } else { "" }
        ))
        .fix(if asked {
            "fix what tdx.kvm.prereqs and tdx.kmsg report; kvm_intel.tdx=1 is already set"
        } else {
            "boot with kvm_intel.tdx=1 and fix what tdx.kvm.prereqs reports"
        })
        .with(ev),
        (None, Reading::Missing) => Outcome::fail("kvm_intel has no tdx parameter: kvm_intel not loaded, or a kernel without KVM TDX (mainline 6.16+)")
            .fix(if asked {
                "use a TDX host kernel (mainline 6.16+ or a vendor TDX kernel) and modprobe kvm_intel"
            } else {
                "use a TDX host kernel and modprobe kvm_intel tdx=1"
            })
            .with(ev),
        (None, other) => ctx.unreadable(other, "kvm_intel tdx").with(ev),
    }
}

/// `tdx.kvm.prereqs`: see `docs/probe-checks.md#tdx-kvm-prereqs`.
fn tdx_kvm_prereqs(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, INTEL, "TDX") {
        return o;
    }
    let mut ev: Vec<_> = PREREQS.iter().map(|(p, _)| ctx.ev_file(p)).collect();
    let mut missing: Vec<String> = PREREQS
        .iter()
        .filter(|(p, _)| param(ctx, p).0 == Some(false))
        .map(|(_, fix)| fix.to_string())
        .collect();
    let from_params = missing.len();
    if let Reading::Kmsg(k) = ctx.view.get(&Input::Kmsg) {
        for (needle, fix) in PREREQ_LOG {
            if let Some(l) = kmsg::find_ci(&k.lines, needle) {
                ev.push(Evidence {
                    source: "kernel log".into(),
                    value: l.to_string(),
                });
                if !missing.iter().any(|m| m == fix) {
                    missing.push(fix.to_string());
                }
            }
        }
    }
    let after_log = missing.len();
    let c = super::cpu(ctx);
    if c.flags_known {
        if !c.flags.contains("movdir64b") {
            missing.push("a CPU with MOVDIR64B".into());
        }
        if !c.flags.contains("xsave")
            || cmdline::has(ctx.view.file(CMDLINE).text().unwrap_or_default(), "noxsave")
        {
            missing.push("XSAVE enabled (remove noxsave)".into());
        }
    }
    // A log line is history: when KVM offers TDX now (kvm_intel reloaded after the fix),
    // the boot's earlier refusal is superseded, and only what is still off counts.
    let tdx_now = match param(ctx, TDX_PARAM).0 {
        Some(on) => on,
        None => {
            matches!(ctx.view.get(&Input::Kvm), Reading::Kvm(k) if k.offers(KvmInfo::TDX) == Some(true))
        }
    };
    if from_params == 0 && after_log > 0 && missing.len() == after_log && tdx_now {
        return Outcome::warn(format!(
            "superseded: earlier in this boot KVM refused TDX ({}), but kvm_intel now runs TDs (tdx=Y or the TDX VM type)",
            missing.join("; ")
        ))
        .fix("keep the fixed settings persistent (modprobe.d / kernel command line) so the next boot does not refuse TDX again")
        .with(ev)
        .with(vec![ctx.ev_file(TDX_PARAM)]);
    }
    if !missing.is_empty() {
        return Outcome::fail(format!("TDX needs: {}", missing.join("; ")))
            .fix(missing.join("; "))
            .with(ev);
    }
    let unknown: Vec<String> = PREREQS
        .iter()
        .filter(|(p, _)| !ctx.view.file(p).known())
        .map(|(p, _)| format!("/{p}"))
        .chain((!c.flags_known).then(|| "cpuinfo flags".to_string()))
        .collect();
    if !unknown.is_empty() {
        return Outcome::skip(
            SkipReason::NotObservable,
            format!(
                "nothing missing was seen, but not observable: {}",
                unknown.join(", ")
            ),
        )
        .with(ev);
    }
    Outcome::pass("TDP MMU, EPT, APICv, MOVDIR64B and XSAVE available").with(ev)
}

/// `tdx.cmdline`: see `docs/probe-checks.md#tdx-cmdline`.
fn tdx_cmdline(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, INTEL, "TDX") {
        return o;
    }
    let ev = vec![ctx.ev_file(CMDLINE), ctx.ev_file(TDX_PARAM)];
    let Some(cl) = ctx.view.file(CMDLINE).text() else {
        return ctx
            .unreadable(ctx.view.file(CMDLINE), "the kernel command line")
            .with(ev);
    };
    let on = |v: &str| {
        crate::parse::bool_param(v).or(match v {
            "on" => Some(true),
            "off" => Some(false),
            _ => None,
        })
    };
    let kvm = cmdline::get(cl, "kvm_intel.tdx");
    let host = cmdline::get(cl, "tdx_host");
    let mut off = vec![];
    if let Some(v) = kvm.filter(|v| on(v) == Some(false)) {
        off.push(format!("kvm_intel.tdx={v}"));
    }
    if let Some(v) = host.filter(|v| on(v) == Some(false)) {
        off.push(format!("tdx_host={v}"));
    }
    if !off.is_empty() {
        return Outcome::warn(format!(
            "{} on the command line turns TDX off",
            off.join(" ")
        ))
        .fix(format!(
            "remove {} from the kernel command line{}, then reboot",
            off.join(" and "),
            if kvm.is_some_and(|v| on(v) == Some(true)) {
                ""
            } else {
                " and add kvm_intel.tdx=1"
            }
        ))
        .with(ev);
    }
    if kvm.is_some_and(|v| on(v) == Some(true)) {
        return Outcome::pass("kvm_intel.tdx=1 on the command line").with(ev);
    }
    // Set through modprobe.d instead: what KVM loaded with is what counts.
    if param(ctx, TDX_PARAM).0 == Some(true) {
        return Outcome::pass(
            "no kvm_intel.tdx on the command line, but kvm_intel loaded with tdx=Y (modprobe.d)",
        )
        .with(ev);
    }
    Outcome::warn("no kvm_intel.tdx=1 on the command line, and kvm_intel does not show tdx=Y")
        .fix("add kvm_intel.tdx=1 to the kernel command line (or `options kvm_intel tdx=1` in /etc/modprobe.d/), then reboot or reload kvm_intel")
        .with(ev)
}

/// `tdx.kvm.vmtype`: see `docs/probe-checks.md#tdx-kvm-vmtype`.
fn tdx_kvm_vmtype(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, INTEL, "TDX") {
        return o;
    }
    kvm_vm_type(
        ctx,
        KvmInfo::TDX,
        "KVM_X86_TDX_VM supported",
        "KVM does not list the TDX VM type (TDX off, or an older downstream TDX kernel)",
    )
}

/// `tdx.capacity`: see `docs/probe-checks.md#tdx-capacity`.
fn tdx_capacity(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, INTEL, "TDX") {
        return o;
    }
    let mut ev = vec![ctx.ev_file(MISC_CAPACITY)];
    let cap = ctx
        .view
        .file(MISC_CAPACITY)
        .text()
        .and_then(|t| capacity::get(t, "tdx"));
    let from_log = match ctx.view.get(&Input::Kmsg) {
        Reading::Kmsg(k) => k.lines.iter().find_map(|l| {
            let n = kmsg::tdx_guest_keyids(l)?;
            ev.push(Evidence {
                source: "kernel log".into(),
                value: l.clone(),
            });
            Some(u64::from(n))
        }),
        _ => None,
    };
    match cap.or(from_log) {
        Some(0) => Outcome::warn("0 TDX KeyIDs")
            .fix("BIOS: raise the TDX key split")
            .with(ev),
        Some(n) => Outcome::pass(format!("{n} concurrent TDs at most")).with(ev),
        None => Outcome::skip(
            SkipReason::NotObservable,
            "neither misc.capacity nor the kernel log gives the TDX KeyID count",
        )
        .with(ev),
    }
}

/// `tdx.bios.msr`: see `docs/probe-checks.md#tdx-bios-msr`.
fn tdx_bios_msr(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, INTEL, "TDX") {
        return o;
    }
    let read = |i: u32| match ctx.view.get(&Input::msr(i)) {
        Reading::Msr { value } => Some(*value),
        _ => None,
    };
    let ev: Vec<Evidence> = [
        TME_ACTIVATE,
        SEAMRR_MASK,
        KEYID_PARTITIONING,
        FEATURE_CONTROL,
        SGX_MCHECK,
        PLATFORM_INFO_EXT,
    ]
    .into_iter()
    .map(|i| ctx.ev(&Input::msr(i)))
    .collect();
    let (Some(tme), Some(seamrr), Some(keys)) = (
        read(TME_ACTIVATE),
        read(SEAMRR_MASK),
        read(KEYID_PARTITIONING),
    ) else {
        let r = [TME_ACTIVATE, SEAMRR_MASK, KEYID_PARTITIONING]
            .into_iter()
            .map(|i| ctx.view.get(&Input::msr(i)))
            .find(|r| !matches!(r, Reading::Msr { .. }))
            .unwrap_or(&Reading::Missing);
        return ctx.unreadable(r, "the TDX MSRs").with(ev);
    };
    let tdx_keys = keys >> 32;
    let mut bad = vec![];
    if tme & (1 << 1) == 0 {
        bad.push(
            "TME is not enabled (IA32_TME_ACTIVATE bit 1): BIOS Memory Encryption (TME) = Enable",
        );
    }
    if seamrr & (1 << 11) == 0 {
        bad.push("SEAMRR is not enabled (0x1401 bit 11): BIOS TDX = Enable, SEAM Loader = Enable");
    }
    if tdx_keys == 0 {
        bad.push("no TDX private KeyIDs (0x87 bits 63:32): BIOS TME-MT/TDX key split > 0");
    }
    if !bad.is_empty() {
        return Outcome::fail(bad.join("; "))
            .fix("set the BIOS options named above; then reboot")
            .with(ev);
    }
    let mut warns = vec![];
    if read(FEATURE_CONTROL).is_some_and(|v| v & (1 << 18) == 0) {
        warns.push("SGX is disabled (IA32_FEATURE_CONTROL bit 18): TDs boot, but cannot get attestation quotes (BIOS SGX = Enable)".to_string());
    }
    if let Some(v) = read(SGX_MCHECK).filter(|v| *v != 0) {
        warns.push(format!("SGX registration status {v} (MSR 0xA0): corrupt SGX UEFI variables; BIOS \"SGX Factory Reset\""));
    }
    if read(PLATFORM_INFO_EXT).is_some_and(|v| v & (1 << 27) != 0) {
        warns.push(
            "a pre-production CPU (MSR 0xCE bit 27): attestation against the production PCS fails"
                .to_string(),
        );
    }
    let summary = format!("TME on, SEAMRR enabled, {tdx_keys} TDX private KeyIDs");
    if warns.is_empty() {
        Outcome::pass(summary).with(ev)
    } else {
        Outcome::warn(format!("{summary}; {}", warns.join("; "))).with(ev)
    }
}

/// `tdx.attestation`: see `docs/probe-checks.md#tdx-attestation`.
fn tdx_attestation(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, INTEL, "TDX") {
        return o;
    }
    let items: [(Input, &str); 4] = [
        (
            Input::device("dev/sgx_enclave"),
            "/dev/sgx_enclave (SGX enabled in BIOS, kernel 5.11+)",
        ),
        (Input::device("dev/sgx_provision"), "/dev/sgx_provision"),
        (
            Input::file("sys/module/kvm_intel/parameters/sgx"),
            "kvm_intel sgx=Y",
        ),
        (
            Input::device(QGS_SOCKET),
            "the quote generation service (qgsd) socket",
        ),
    ];
    let ev: Vec<Evidence> = items.iter().map(|(i, _)| ctx.ev(i)).collect();
    let mut missing = vec![];
    let mut unknown = vec![];
    for (i, what) in &items {
        let r = ctx.view.get(i);
        let ok = match r {
            Reading::Text { value } => crate::parse::bool_param(value) == Some(true),
            other => other.present() == Some(true),
        };
        if ok {
            continue;
        }
        if r.known() {
            missing.push(*what);
        } else {
            unknown.push(*what);
        }
    }
    if !missing.is_empty() {
        return Outcome::warn(format!(
            "TDs will boot, but cannot be attested without: {}",
            missing.join(", ")
        ))
        .fix("enable SGX in the BIOS, install the Intel DCAP stack (sgx-dcap-pccs, tdx-qgs) and start qgsd; register the platform with the PCS")
        .with(ev);
    }
    if !unknown.is_empty() {
        return Outcome::skip(
            SkipReason::NotObservable,
            format!("not observable: {}", unknown.join(", ")),
        )
        .with(ev);
    }
    Outcome::pass("SGX devices, kvm_intel sgx and the quote generation service are present")
        .with(ev)
}

/// The parts a TDX host needs positively observed.
const PARTS: &[Part] = &[
    Part {
        what: "TDX enabled by the BIOS (tdx.cpuinfo or tdx.bios.msr)",
        checks: &[CheckId::TdxCpuinfo, CheckId::TdxBiosMsr],
        proven: |c| passed(c, CheckId::TdxCpuinfo) || c.passed(CheckId::TdxBiosMsr),
    },
    Part {
        what: "an initialised TDX module (tdx.kmsg)",
        checks: &[CheckId::TdxKmsg],
        proven: |c| passed(c, CheckId::TdxKmsg),
    },
    Part {
        what: "KVM with TDX (tdx.kvm.param or tdx.kvm.vmtype)",
        checks: &[
            CheckId::KvmVendorModule,
            CheckId::TdxKvmParam,
            CheckId::TdxKvmVmtype,
        ],
        proven: |c| {
            passed(c, CheckId::KvmVendorModule)
                && (passed(c, CheckId::TdxKvmParam) || passed(c, CheckId::TdxKvmVmtype))
        },
    },
];

/// `tdx.ready`: see `docs/probe-checks.md#tdx-ready`.
fn tdx_ready(ctx: &Ctx) -> Outcome {
    ready(ctx, PARTS, "TDX host")
}
