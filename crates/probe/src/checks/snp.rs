//! AMD SEV-SNP host readiness: CPU support, BIOS enablement (cpuinfo, then MSRs as root),
//! the IOMMU settings that silently disable SNP, kvm_amd parameters, `/dev/sev` and the SNP
//! firmware status, ASID capacity.

use super::{aggregate, identity, param, x86_vendor, CMDLINE, MISC_CAPACITY};
use crate::check::{Check, Ctx, Outcome, SkipReason};
use crate::id::CheckId;
use crate::input::{Input, Reading};
use crate::parse::{capacity, cmdline, kmsg};

const AMD: &str = "AuthenticAMD";
const SYSCFG: u32 = 0xC001_0010;
const RMP_BASE: u32 = 0xC001_0132;
const RMP_END: u32 = 0xC001_0133;
/// Oldest SNP firmware API the Kata/QEMU SNP stack supports.
const MIN_API: (u8, u8) = (1, 51);

const BIOS_FIX: &str = "BIOS: enable SMEE (Secure Memory Encryption), SEV-SNP support, SNP Memory Coverage and the IOMMU; then reboot";

fn with_identity(mut v: Vec<Input>) -> Vec<Input> {
    v.extend(identity());
    v
}

pub fn checks() -> Vec<Check> {
    vec![
        Check::new(
            CheckId::SnpCpuid,
            with_identity(vec![
                Input::cpuid(0x8000_0000, 0),
                Input::cpuid(0x8000_001F, 0),
            ]),
            snp_cpuid,
        ),
        Check::new(CheckId::SnpBiosCpuinfo, identity(), snp_bios_cpuinfo),
        Check::new(
            CheckId::SnpBiosMsr,
            with_identity(vec![
                Input::msr(SYSCFG),
                Input::msr(RMP_BASE),
                Input::msr(RMP_END),
            ]),
            snp_bios_msr,
        ),
        Check::new(
            CheckId::SnpIommu,
            with_identity(vec![
                Input::file(CMDLINE),
                Input::each_file("sys/kernel/iommu_groups", "type"),
                Input::Kmsg,
            ]),
            snp_iommu,
        ),
        Check::new(
            CheckId::SnpKvmParams,
            with_identity(
                ["sev", "sev_es", "sev_snp"]
                    .iter()
                    .map(|p| Input::file(&format!("sys/module/kvm_amd/parameters/{p}")))
                    .collect(),
            ),
            snp_kvm_params,
        ),
        Check::new(
            CheckId::SnpKvmVmtype,
            with_identity(vec![Input::Kvm]),
            snp_kvm_vmtype,
        ),
        Check::new(
            CheckId::SnpDev,
            with_identity(vec![Input::device("dev/sev")]),
            snp_dev,
        ),
        Check::new(
            CheckId::SnpFwStatus,
            with_identity(vec![Input::SnpStatus]),
            snp_fw_status,
        ),
        Check::new(
            CheckId::SnpCapacity,
            with_identity(vec![Input::file(MISC_CAPACITY), Input::Kmsg]),
            snp_capacity,
        ),
        Check::new(CheckId::SnpReady, identity(), snp_ready),
    ]
}

/// `snp.cpuid`: see `docs/probe-checks.md#snp-cpuid`.
fn snp_cpuid(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, AMD, "SEV-SNP") {
        return o;
    }
    let ev = vec![ctx.ev(&Input::cpuid(0x8000_001F, 0))];
    match ctx.view.get(&Input::cpuid(0x8000_001F, 0)) {
        Reading::Cpuid { eax, ebx, .. } if eax & (1 << 4) != 0 => Outcome::pass(format!(
            "SEV{} SEV-SNP, C-bit {}",
            if eax & (1 << 3) != 0 { " SEV-ES" } else { "" },
            ebx & 0x3f
        ))
        .with(ev),
        Reading::Cpuid { .. } | Reading::Missing => Outcome::fail("the CPU reports no SEV-SNP (CPUID 0x8000001F EAX bit 4)")
            .fix("SEV-SNP needs AMD EPYC 7003 (Milan) or newer on bare metal; a hypervisor hides it from its VMs")
            .with(ev),
        other => ctx.unreadable(other, "CPUID").with(ev),
    }
}

/// `snp.bios.cpuinfo`: see `docs/probe-checks.md#snp-bios-cpuinfo`.
fn snp_bios_cpuinfo(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, AMD, "SEV-SNP") {
        return o;
    }
    let flags = super::cpu(ctx).flags;
    let ev = vec![super::flags_evidence(
        ctx,
        &["sme", "sev", "sev_es", "sev_snp"],
    )];
    if flags.contains("sev_snp") {
        Outcome::pass("cpuinfo flags sev, sev_es, sev_snp present").with(ev)
    } else {
        Outcome::fail("cpuinfo has no sev_snp flag: BIOS, IOMMU or kernel disabled SEV-SNP")
            .fix(BIOS_FIX)
            .with(ev)
    }
}

/// `snp.bios.msr`: see `docs/probe-checks.md#snp-bios-msr`.
fn snp_bios_msr(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, AMD, "SEV-SNP") {
        return o;
    }
    let ev = vec![
        ctx.ev(&Input::msr(SYSCFG)),
        ctx.ev(&Input::msr(RMP_BASE)),
        ctx.ev(&Input::msr(RMP_END)),
    ];
    let syscfg = match ctx.view.get(&Input::msr(SYSCFG)) {
        Reading::Msr { value } => *value,
        other => return ctx.unreadable(other, "SYSCFG MSR").with(ev),
    };
    let (smee, snpen) = (syscfg & (1 << 23) != 0, syscfg & (1 << 24) != 0);
    let rmp = matches!(
        (ctx.view.get(&Input::msr(RMP_BASE)), ctx.view.get(&Input::msr(RMP_END))),
        (Reading::Msr { value: b }, Reading::Msr { value: e }) if *b != 0 && e > b
    );
    match (smee, snpen, rmp) {
        (true, true, true) => {
            Outcome::pass("SYSCFG SMEE and SNPEn set, RMP table reserved").with(ev)
        }
        _ => Outcome::fail(format!(
            "SYSCFG SMEE={smee} SNPEn={snpen}, RMP reserved={rmp}"
        ))
        .fix(BIOS_FIX)
        .with(ev),
    }
}

/// `snp.iommu`: see `docs/probe-checks.md#snp-iommu`.
fn snp_iommu(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, AMD, "SEV-SNP") {
        return o;
    }
    let cl = ctx.view.file(CMDLINE).text().unwrap_or_default();
    let mut ev = vec![ctx.ev_file(CMDLINE)];
    let mut bad = vec![];
    if cmdline::get(cl, "iommu") == Some("pt") {
        bad.push("iommu=pt".to_string());
    }
    if matches!(
        cmdline::get(cl, "iommu.passthrough"),
        Some("1" | "on" | "y")
    ) {
        bad.push("iommu.passthrough=1".to_string());
    }
    if let Some(v @ ("off" | "pgtbl_v2")) = cmdline::get(cl, "amd_iommu") {
        bad.push(format!("amd_iommu={v}"));
    }
    for g in ctx.view.dir("sys/kernel/iommu_groups") {
        let path = format!("sys/kernel/iommu_groups/{g}/type");
        if ctx
            .view
            .file(&path)
            .text()
            .is_some_and(|t| t.trim() == "identity")
        {
            ev.push(ctx.ev_file(&path));
            bad.push(format!("IOMMU group {g} in identity (passthrough) mode"));
            break;
        }
    }
    if let Reading::Kmsg(k) = ctx.view.get(&Input::Kmsg) {
        if let Some(l) = kmsg::find(&k.lines, &["SNP", "not enabled"])
            .or_else(|| kmsg::find(&k.lines, &["SNP", "disabled"]))
        {
            ev.push(crate::check::Evidence {
                source: "kernel log".into(),
                value: l.to_string(),
            });
            bad.push(format!("kernel: {l}"));
        }
    }
    if bad.is_empty() {
        Outcome::pass("no IOMMU passthrough or v2 page tables").with(ev)
    } else {
        Outcome::fail(format!("SEV-SNP is silently disabled by: {}", bad.join("; ")))
            .fix("remove iommu=pt / iommu.passthrough / amd_iommu=off|pgtbl_v2 from the kernel command line (do not add amd_iommu=on); keep the IOMMU enabled in BIOS; then reboot")
            .with(ev)
    }
}

/// `snp.kvm.params`: see `docs/probe-checks.md#snp-kvm-params`.
fn snp_kvm_params(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, AMD, "SEV-SNP") {
        return o;
    }
    let p = |n: &str| format!("sys/module/kvm_amd/parameters/{n}");
    let ev = vec![
        ctx.ev_file(&p("sev")),
        ctx.ev_file(&p("sev_es")),
        ctx.ev_file(&p("sev_snp")),
    ];
    match param(ctx, &p("sev_snp")) {
        (Some(true), _) => Outcome::pass("kvm_amd sev_snp=Y").with(ev),
        (Some(false), _) => Outcome::fail(
            "kvm_amd loaded with sev_snp=N: KVM refused or was told not to enable SNP",
        )
        .fix("check snp.bios.* and snp.iommu; set `options kvm_amd sev_snp=1` and reload kvm_amd")
        .with(ev),
        (None, Reading::Missing) => Outcome::fail(
            "kvm_amd has no sev_snp parameter: kvm_amd not loaded, or a kernel before 6.11",
        )
        .fix("modprobe kvm_amd on a 6.11+ kernel (or a vendor kernel with SNP host support)")
        .with(ev),
        (None, other) => ctx.unreadable(other, "kvm_amd sev_snp").with(ev),
    }
}

/// `snp.kvm.vmtype`: see `docs/probe-checks.md#snp-kvm-vmtype`.
fn snp_kvm_vmtype(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, AMD, "SEV-SNP") {
        return o;
    }
    let ev = vec![ctx.ev(&Input::Kvm)];
    match ctx.view.get(&Input::Kvm) {
        Reading::Kvm(k) if k.vm_types & (1 << 4) != 0 => {
            Outcome::pass("KVM_X86_SNP_VM supported").with(ev)
        }
        Reading::Kvm(_) => Outcome::warn(
            "KVM does not list the SNP VM type (older kernel API, or SNP not enabled)",
        )
        .with(ev),
        other => ctx.unreadable(other, "KVM_CAP_VM_TYPES").with(ev),
    }
}

/// `snp.dev`: see `docs/probe-checks.md#snp-dev`.
fn snp_dev(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, AMD, "SEV-SNP") {
        return o;
    }
    let ev = vec![ctx.ev(&Input::device("dev/sev"))];
    match ctx.view.get(&Input::device("dev/sev")) {
        Reading::Device { .. } => Outcome::pass("/dev/sev present").with(ev),
        _ => Outcome::fail("no /dev/sev: the PSP driver is not bound")
            .fix("modprobe ccp on bare metal with the PSP enabled in BIOS")
            .with(ev),
    }
}

/// `snp.fw.status`: see `docs/probe-checks.md#snp-fw-status`.
fn snp_fw_status(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, AMD, "SEV-SNP") {
        return o;
    }
    if !ctx.passed(CheckId::SnpDev) {
        return Outcome::skip(SkipReason::DependencyFailed, "no /dev/sev");
    }
    let ev = vec![ctx.ev(&Input::SnpStatus)];
    let s = match ctx.view.get(&Input::SnpStatus) {
        Reading::Snp(s) => s,
        other => return ctx.unreadable(other, "SNP_PLATFORM_STATUS").with(ev),
    };
    let api = (s.api_major, s.api_minor);
    let mut problems = vec![];
    if !s.rmp_initialized || s.state == 0 {
        problems.push("SNP is not initialised (RMP not set up)".to_string());
    }
    // Compare (major, minor), not the minor alone: a 2.x firmware is newer than 1.55.
    if api < MIN_API {
        problems.push(format!(
            "firmware API {}.{} is older than {}.{}",
            api.0, api.1, MIN_API.0, MIN_API.1
        ));
    }
    if !problems.is_empty() {
        return Outcome::fail(problems.join("; ")).fix("update the SEV firmware (BIOS update or /lib/firmware/amd/amd_sev_fam*h_model*h.sbin) and reload ccp").with(ev);
    }
    let mut warns = vec![];
    if !s.alias_check_complete {
        warns.push("the memory alias check has not completed (needs the BadRAM-mitigation firmware, AMD-SB-3015)".to_string());
    }
    if s.platform_tcb != s.reported_tcb {
        warns.push(format!(
            "installed TCB {} differs from the reported TCB {} (attestation reports the older one until `snphost commit`)",
            s.platform_tcb, s.reported_tcb
        ));
    }
    let summary = format!(
        "API {}.{} build {}, {} guests, TCB {}",
        api.0, api.1, s.build_id, s.guest_count, s.platform_tcb
    );
    if warns.is_empty() {
        Outcome::pass(summary).with(ev)
    } else {
        Outcome::warn(format!("{summary}; {}", warns.join("; "))).with(ev)
    }
}

/// `snp.capacity`: see `docs/probe-checks.md#snp-capacity`.
fn snp_capacity(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, AMD, "SEV-SNP") {
        return o;
    }
    let ev = vec![ctx.ev_file(MISC_CAPACITY)];
    // SNP guests draw from the SEV-ES ASID space.
    let cap = ctx
        .view
        .file(MISC_CAPACITY)
        .text()
        .and_then(|t| capacity::get(t, "sev_es"));
    let from_log = match ctx.view.get(&Input::Kmsg) {
        Reading::Kmsg(k) => kmsg::find(&k.lines, &["SEV-SNP", "ASIDs"])
            .and_then(kmsg::asid_range)
            .map(u64::from),
        _ => None,
    };
    match cap.or(from_log) {
        Some(0) => Outcome::warn("0 ASIDs for SEV-ES/SNP guests")
            .fix("BIOS: raise the SEV-ES ASID Space Limit")
            .with(ev),
        Some(n) => Outcome::pass(format!("{n} concurrent SEV-SNP guests at most")).with(ev),
        None => {
            Outcome::skip(SkipReason::NotObservable, "no sev_es line in misc.capacity").with(ev)
        }
    }
}

/// `snp.ready`: see `docs/probe-checks.md#snp-ready`.
fn snp_ready(ctx: &Ctx) -> Outcome {
    aggregate(
        ctx,
        &[
            CheckId::SnpCpuid,
            CheckId::SnpBiosCpuinfo,
            CheckId::SnpBiosMsr,
            CheckId::SnpIommu,
            CheckId::SnpKvmParams,
            CheckId::SnpDev,
            CheckId::SnpFwStatus,
            CheckId::KvmVendorModule,
        ],
        "SEV-SNP host",
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn api_versions_compare_as_major_minor() {
        assert!((2u8, 0u8) > super::MIN_API);
        assert!((1u8, 50u8) < super::MIN_API);
        assert!((1u8, 55u8) > super::MIN_API);
    }
}
