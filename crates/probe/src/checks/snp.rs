//! AMD SEV-SNP host readiness: CPU support, BIOS enablement (cpuinfo, then MSRs as root),
//! the IOMMU settings and support that SNP needs, kvm_amd parameters, `/dev/sev` and the
//! SNP firmware status, what the kernel log of this boot says, ASID capacity.

use super::{
    flags_unknown, identity, kvm_vm_type, param, passed, ready, x86_vendor, Part, CMDLINE,
    MISC_CAPACITY,
};
use crate::check::{Check, Ctx, Evidence, Facts, Outcome, SkipReason};
use crate::id::CheckId;
use crate::input::{Input, KvmInfo, Reading};
use crate::parse::kmsg::{AsidKind, AsidState};
use crate::parse::{capacity, cmdline, kmsg};

const AMD: &str = "AuthenticAMD";
const SYSCFG: u32 = 0xC001_0010;
const RMP_BASE: u32 = 0xC001_0132;
const RMP_END: u32 = 0xC001_0133;
/// Oldest SNP firmware API the Kata/QEMU SNP stack supports.
const MIN_API: (u8, u8) = (1, 51);
/// Per-IOMMU extended feature register (EFR[:EFR2]) in hex; bit 63 of EFR is SNPSup.
const IOMMU_FEATURES: &str = "amd-iommu/features";
const IOMMU_CLASS: &str = "sys/class/iommu";
const OSRELEASE: &str = "proc/sys/kernel/osrelease";

const BIOS_FIX: &str = "BIOS: enable SMEE (Secure Memory Encryption), SEV-SNP support, SNP Memory Coverage and the IOMMU; then reboot";
const IOMMU_FIX: &str = "remove iommu=pt / iommu.passthrough / amd_iommu=off|pgtbl_v2 from the kernel command line (do not add amd_iommu=on); keep the IOMMU enabled in BIOS; then reboot";

fn with_identity(mut v: Vec<Input>) -> Vec<Input> {
    v.extend(identity());
    v
}

/// The SEV-SNP checks, in evaluation order.
pub fn checks() -> Vec<Check> {
    vec![
        Check::new(CheckId::SnpCpu, identity(), snp_cpu),
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
                Input::each_file(IOMMU_CLASS, IOMMU_FEATURES),
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
            CheckId::SnpFwLegacy,
            with_identity(vec![Input::SevStatus]),
            snp_fw_legacy,
        ),
        Check::new(
            CheckId::SnpFwStatus,
            with_identity(vec![
                Input::SnpStatus,
                Input::SevStatus,
                Input::file(OSRELEASE),
            ]),
            snp_fw_status,
        ),
        Check::new(CheckId::SnpKmsg, with_identity(vec![Input::Kmsg]), snp_kmsg),
        Check::new(
            CheckId::SnpCapacity,
            with_identity(vec![
                Input::file(MISC_CAPACITY),
                Input::Kmsg,
                Input::cpuid(0x8000_001F, 0),
            ]),
            snp_capacity,
        ),
        Check::new(CheckId::SnpReady, identity(), snp_ready),
    ]
}

/// The AMD server generation of `family`/`model`, and whether its CPUs have SEV-SNP.
fn generation(family: u32, model: u32) -> Option<(&'static str, bool)> {
    Some(match (family, model) {
        (0x17, 0x00..=0x0f) => ("Naples (EPYC 7001, Zen 1): SEV only", false),
        (0x17, 0x30..=0x3f) => ("Rome (EPYC 7002, Zen 2): SEV and SEV-ES only", false),
        (0x17, _) => ("Zen/Zen 2 (family 17h): no SEV-SNP", false),
        (0x19, 0x00..=0x0f) => ("Milan (EPYC 7003, Zen 3)", true),
        (0x19, 0x10..=0x1f) => ("Genoa (EPYC 9004, Zen 4)", true),
        (0x19, 0xa0..=0xaf) => ("Bergamo/Siena (EPYC 97x4/8004, Zen 4c)", true),
        (0x1a, 0x00..=0x1f) => ("Turin (EPYC 9005, Zen 5)", true),
        _ => return None,
    })
}

/// `snp.cpu`: see `docs/probe-checks.md#snp-cpu`.
fn snp_cpu(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, AMD, "SEV-SNP") {
        return o;
    }
    let c = super::cpu(ctx);
    let name = c.model_name.clone().unwrap_or_default();
    let ev = vec![Evidence {
        source: format!("/{} cpu family, model, model name", super::CPUINFO),
        value: format!(
            "family {} model {}: {name}",
            c.family.map_or("?".into(), |f| format!("{f:#x}")),
            c.model.map_or("?".into(), |m| format!("{m:#x}"))
        ),
    }];
    let (Some(family), Some(model)) = (c.family, c.model) else {
        return Outcome::skip(
            SkipReason::NotObservable,
            "the CPU family and model are not observable",
        )
        .with(ev);
    };
    if name.contains("Ryzen") || name.contains("Threadripper") || name.contains("Athlon") {
        return Outcome::fail(format!(
            "{name} is a client CPU: SEV-SNP is offered by AMD EPYC only"
        ))
        .fix("run SEV-SNP guests on AMD EPYC 7003 (Milan) or newer")
        .with(ev);
    }
    match generation(family, model) {
        Some((g, false)) => Outcome::fail(format!("{g}: this CPU generation has no SEV-SNP"))
            .fix("SEV-SNP needs AMD EPYC 7003 (Milan) or newer; on this host only the non-confidential shims fit")
            .with(ev),
        Some((g, true)) if name.contains("EPYC") => {
            Outcome::pass(format!("{g}: a generation with SEV-SNP")).with(ev)
        }
        Some((g, true)) => Outcome::skip(
            SkipReason::NotObservable,
            format!("{g} family/model, but the model name does not say EPYC"),
        )
        .with(ev),
        None => Outcome::skip(
            SkipReason::NotObservable,
            format!("family {family:#x} model {model:#x} is not a known EPYC generation"),
        )
        .with(ev),
    }
}

/// `snp.cpuid`: see `docs/probe-checks.md#snp-cpuid`.
fn snp_cpuid(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, AMD, "SEV-SNP") {
        return o;
    }
    let c = super::cpu(ctx);
    let name = c.model_name.clone().unwrap_or_default();
    let ev = vec![
        ctx.ev(&Input::cpuid(0x8000_001F, 0)),
        Evidence {
            source: format!("/{}", super::CPUINFO),
            value: format!(
                "family {} model {}: {name}",
                c.family.map_or("?".into(), |f| format!("{f:#x}")),
                c.model.map_or("?".into(), |m| format!("{m:#x}"))
            ),
        },
    ];
    // Recognise the CPUs that never had SNP, whatever the hypervisor shows.
    if name.contains("Ryzen") || name.contains("Threadripper") {
        return Outcome::fail(format!(
            "{name} is a client CPU: SEV-SNP is offered by AMD EPYC only"
        ))
        .fix("run SEV-SNP guests on AMD EPYC 7003 (Milan) or newer")
        .with(ev);
    }
    if c.family == Some(0x17) {
        return Outcome::fail(format!(
            "{} is a first- or second-generation EPYC (Zen/Zen 2, family 17h): SEV and SEV-ES only, no SEV-SNP",
            if name.is_empty() { "this CPU" } else { name.as_str() }
        ))
        .fix("SEV-SNP needs AMD EPYC 7003 (Milan) or newer; on this host only the non-confidential shims fit")
        .with(ev);
    }
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
    let ev = vec![super::flags_evidence(
        ctx,
        &["sme", "sev", "sev_es", "sev_snp"],
    )];
    if let Some(o) = flags_unknown(ctx, "SEV-SNP enablement") {
        return o.with(ev);
    }
    if super::cpu(ctx).flags.contains("sev_snp") {
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
    let rmp = match (
        ctx.view.get(&Input::msr(RMP_BASE)),
        ctx.view.get(&Input::msr(RMP_END)),
    ) {
        (Reading::Msr { value: b }, Reading::Msr { value: e }) => Some(*b != 0 && e > b),
        (Reading::Missing, _) | (_, Reading::Missing) => Some(false),
        _ => None,
    };
    let rmp_text = match rmp {
        Some(r) => format!("RMP reserved={r}"),
        None => "RMP range not observable".into(),
    };
    match (smee, snpen, rmp) {
        (true, true, Some(true)) => {
            Outcome::pass("SYSCFG SMEE and SNPEn set, RMP table reserved").with(ev)
        }
        // SNPEn is written only once RMP_BASE/RMP_END hold a range (the kernel checks
        // them before setting it; firmware that sets it itself has configured them), so
        // the bit settles the RMP question the unreadable registers leave open.
        (true, true, None) => Outcome::pass(format!(
            "SYSCFG SMEE and SNPEn set; {rmp_text}, but SNPEn is only set once the RMP \
             table is configured, so it is"
        ))
        .with(ev),
        _ => Outcome::fail(format!("SYSCFG SMEE={smee} SNPEn={snpen}, {rmp_text}"))
            .fix(BIOS_FIX)
            .with(ev),
    }
}

/// EFR bit 63 (SNPSup) of one `amd-iommu/features` value (`efr` or `efr:efr2`, hex).
fn snp_sup(features: &str) -> Option<bool> {
    let efr = features.trim().split(':').next()?;
    u64::from_str_radix(efr.trim_start_matches("0x"), 16)
        .ok()
        .map(|v| v & (1 << 63) != 0)
}

/// Kernel-log lines saying the IOMMU turned SNP off.
fn iommu_log_negative(lines: &[String]) -> Option<&str> {
    lines.iter().map(String::as_str).find(|l| {
        (l.contains("AMD-Vi") || l.contains("IOMMU"))
            && l.contains("SNP")
            && [
                "not enabled",
                "disabled",
                "passthrough",
                "cannot be supported",
                "V2 page table",
            ]
            .iter()
            .any(|p| l.contains(p))
    })
}

/// `AMD-Vi: Using global IVHD EFR:0x…, EFR2:0x…` → SNPSup (EFR bit 63).
fn log_efr(line: &str) -> Option<bool> {
    if !line.contains("AMD-Vi") {
        return None;
    }
    let hex = line.split("EFR:0x").nth(1)?;
    let hex: String = hex.chars().take_while(char::is_ascii_hexdigit).collect();
    u64::from_str_radix(&hex, 16)
        .ok()
        .map(|v| v & (1 << 63) != 0)
}

/// `AMD-Vi: SNP enabled`, or the `Extended features (…):` list naming `SNP`.
fn iommu_log_snp_enabled(lines: &[String]) -> Option<&str> {
    lines.iter().map(String::as_str).find(|l| {
        l.contains("AMD-Vi")
            && ((l.contains("SNP enabled") && !l.contains("not"))
                || (l.contains("Extended features")
                    && l.rsplit_once("):")
                        .is_some_and(|(_, f)| f.split_whitespace().any(|t| t == "SNP"))))
    })
}

/// `snp.iommu`: see `docs/probe-checks.md#snp-iommu`.
fn snp_iommu(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, AMD, "SEV-SNP") {
        return o;
    }
    let cl_reading = ctx.view.file(CMDLINE);
    let cl = cl_reading.text().unwrap_or_default();
    let mut ev = vec![ctx.ev_file(CMDLINE)];
    let mut bad = vec![];
    let mut unknown = vec![];
    if !cl_reading.known() {
        unknown.push(format!("/{CMDLINE} {}", cl_reading.summary()));
    }
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
    // IOMMU extended features: SNP needs SNPSup on every IOMMU.
    let iommus = ctx.view.get(&Input::dir(IOMMU_CLASS));
    let mut sup = vec![];
    for i in iommus.entries() {
        let path = format!("{IOMMU_CLASS}/{i}/{IOMMU_FEATURES}");
        match ctx.view.file(&path) {
            Reading::Text { value } => {
                ev.push(ctx.ev_file(&path));
                match snp_sup(value) {
                    Some(true) => sup.push(i.clone()),
                    Some(false) => bad.push(format!(
                        "IOMMU {i} lacks SNP support (EFR bit 63 SNPSup clear: board firmware)"
                    )),
                    None => {}
                }
            }
            Reading::Missing => {}
            other => {
                ev.push(ctx.ev_file(&path));
                unknown.push(format!("/{path} {}", other.summary()));
            }
        }
    }
    if matches!(iommus, Reading::Entries { names } if names.is_empty())
        || matches!(iommus, Reading::Missing)
    {
        bad.push("no IOMMU is active: SEV-SNP needs the AMD IOMMU".into());
    }
    let mut log_positive = false;
    if let Reading::Kmsg(k) = ctx.view.get(&Input::Kmsg) {
        if let Some(l) = iommu_log_negative(&k.lines) {
            ev.push(Evidence {
                source: "kernel log".into(),
                value: l.to_string(),
            });
            bad.push(format!("kernel: {l}"));
        }
        if let Some(l) = kmsg::find(&k.lines, &["IOMMU SNP support enabled"])
            .or_else(|| iommu_log_snp_enabled(&k.lines))
        {
            ev.push(Evidence {
                source: "kernel log".into(),
                value: l.to_string(),
            });
            log_positive = true;
        }
        // Without sysfs, the boot's EFR line gives the same register.
        if sup.is_empty() {
            if let Some((l, efr_sup)) = k.lines.iter().find_map(|l| log_efr(l).map(|v| (l, v))) {
                ev.push(Evidence {
                    source: "kernel log".into(),
                    value: l.to_string(),
                });
                if efr_sup {
                    log_positive = true;
                } else {
                    bad.push(
                        "the IOMMU lacks SNP support (IVHD EFR bit 63 SNPSup clear: board firmware)"
                            .into(),
                    );
                }
            }
        }
    }
    if !bad.is_empty() {
        let mut fixes = vec![];
        if bad
            .iter()
            .any(|b| b.contains("iommu") || b.contains("identity") || b.contains("passthrough"))
        {
            fixes.push(IOMMU_FIX);
        }
        if bad.iter().any(|b| b.contains("SNPSup")) {
            fixes.push(
                "update the board firmware (BIOS) so the IOMMU reports SNP support (EFR SNPSup)",
            );
        }
        if bad.iter().any(|b| b.contains("no IOMMU is active")) {
            fixes.push("BIOS: enable the IOMMU (on bare metal; a VM has no AMD IOMMU for SNP)");
        }
        if fixes.is_empty() {
            fixes.push(IOMMU_FIX);
        }
        return Outcome::fail(format!(
            "SEV-SNP is silently disabled by: {}",
            bad.join("; ")
        ))
        .fix(fixes.join("; "))
        .with(ev);
    }
    let supported = log_positive || (!sup.is_empty() && sup.len() == iommus.entries().len());
    if supported && unknown.is_empty() {
        return Outcome::pass(format!(
            "no IOMMU passthrough or v2 page tables; IOMMU SNP support {}",
            if log_positive {
                "enabled (kernel log)"
            } else {
                "reported (EFR SNPSup)"
            }
        ))
        .with(ev);
    }
    if !supported {
        unknown.push("IOMMU SNP support (EFR SNPSup, or the kernel's `IOMMU SNP support enabled`) not observed".into());
    }
    Outcome::skip(
        SkipReason::NotObservable,
        format!(
            "no setting that disables SEV-SNP was seen, but: {}",
            unknown.join("; ")
        ),
    )
    .with(ev)
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
        (Some(false), _) => Outcome::fail("kvm_amd loaded with sev_snp=N: KVM refused or was told not to enable SNP")
            .fix("check snp.bios.*, snp.iommu and snp.kmsg; set `options kvm_amd sev_snp=1` and reload kvm_amd")
            .with(ev),
        (None, Reading::Missing) => Outcome::fail("kvm_amd has no sev_snp parameter: kvm_amd not loaded, or a kernel before 6.11")
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
    kvm_vm_type(
        ctx,
        KvmInfo::SNP,
        "KVM_X86_SNP_VM supported",
        "KVM does not list the SNP VM type (older kernel API, or SNP not enabled)",
    )
}

/// `snp.dev`: see `docs/probe-checks.md#snp-dev`.
fn snp_dev(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, AMD, "SEV-SNP") {
        return o;
    }
    let ev = vec![ctx.ev(&Input::device("dev/sev"))];
    match ctx.view.get(&Input::device("dev/sev")) {
        Reading::Device { .. } => Outcome::pass("/dev/sev present").with(ev),
        Reading::Missing => Outcome::fail("no /dev/sev: the PSP driver is not bound")
            .fix("modprobe ccp on bare metal with the PSP enabled in BIOS")
            .with(ev),
        other => ctx.unreadable(other, "/dev/sev").with(ev),
    }
}

/// `snp.fw.status`: see `docs/probe-checks.md#snp-fw-status`.
fn snp_fw_status(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, AMD, "SEV-SNP") {
        return o;
    }
    if !ctx.passed(CheckId::SnpDev) {
        return Outcome::skip(SkipReason::DependencyFailed, "/dev/sev was not observed");
    }
    let ev = vec![ctx.ev(&Input::SnpStatus)];
    let s = match ctx.view.get(&Input::SnpStatus) {
        Reading::Snp(s) => s,
        other => {
            // A firmware that predates SNP rejects SNP_PLATFORM_STATUS; the legacy status
            // still gives its API version.
            if let (Reading::Error { .. }, Reading::Sev(l)) =
                (other, ctx.view.get(&Input::SevStatus))
            {
                if (l.api_major, l.api_minor) < MIN_API {
                    return Outcome::fail(format!(
                        "SNP_PLATFORM_STATUS was rejected and the SEV firmware API is {}.{}: it predates SEV-SNP (needs {}.{})",
                        l.api_major, l.api_minor, MIN_API.0, MIN_API.1
                    ))
                    .fix("update the SEV firmware (BIOS update or /lib/firmware/amd/amd_sev_fam*h_model*h.sbin) and reload ccp")
                    .with(ev)
                    .with(vec![ctx.ev(&Input::SevStatus)]);
                }
            }
            // From 6.11 the ccp driver answers SNP_PLATFORM_STATUS to root whenever SNP
            // is initialised, so a failure there is the firmware's "not initialised", not
            // an unreadable input.
            let kernel = ctx
                .view
                .file(OSRELEASE)
                .text()
                .and_then(crate::parse::kernel_version);
            if let (Reading::Error { detail }, Some(k)) = (other, kernel) {
                if k >= (6, 11) && super::passed(ctx, CheckId::HostPrivilege) {
                    return Outcome::fail(format!(
                        "SNP_PLATFORM_STATUS failed as root on kernel {}.{} ({detail}): SNP is not initialised",
                        k.0, k.1
                    ))
                    .fix("check snp.kmsg for why SNP_INIT did not run or failed (BIOS SNP settings, firmware, IOMMU); update the SEV firmware and reload ccp")
                    .with(ev)
                    .with(vec![ctx.ev_file(OSRELEASE)]);
                }
            }
            return ctx.unreadable(other, "SNP_PLATFORM_STATUS").with(ev);
        }
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

/// `snp.fw.legacy`: see `docs/probe-checks.md#snp-fw-legacy`.
fn snp_fw_legacy(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, AMD, "SEV") {
        return o;
    }
    if !ctx.passed(CheckId::SnpDev) {
        return Outcome::skip(SkipReason::DependencyFailed, "/dev/sev was not observed");
    }
    let ev = vec![ctx.ev(&Input::SevStatus)];
    match ctx.view.get(&Input::SevStatus) {
        Reading::Sev(s) => Outcome::pass(format!(
            "SEV firmware API {}.{} build {}, {}, {} SEV guests",
            s.api_major,
            s.api_minor,
            s.build_id,
            match s.state {
                0 => "uninitialised (the kernel initialises SEV when the first SEV guest starts)",
                1 => "initialised",
                _ => "working",
            },
            s.guest_count
        ))
        .with(ev),
        other => ctx.unreadable(other, "PLATFORM_STATUS").with(ev),
    }
}

/// Kernel-log lines that block SEV-SNP for this boot, with their fix.
const LOG_BLOCKERS: &[(&[&str], &str, &str)] = &[
    (
        &["Memory for the RMP table has not been reserved by BIOS"],
        "the BIOS reserved no RMP table: SNP is disabled",
        "BIOS: enable SEV-SNP support and SNP Memory Coverage; then reboot",
    ),
    (
        &["timed out, disabling PSP"],
        "the PSP stopped answering and was disabled: SEV/SNP are dead until the next reboot",
        "reboot (a cold boot if it persists) and update the SEV firmware",
    ),
    (
        &["SEV-SNP: failed to INIT"],
        "the firmware refused SNP_INIT",
        "update the SEV firmware and check the BIOS SNP settings; then reboot",
    ),
    (
        &["SNP_INIT failed"],
        "the firmware refused SNP_INIT",
        "update the SEV firmware and check the BIOS SNP settings; then reboot",
    ),
    (
        &["kvm_amd: SEV-SNP disabled"],
        "kvm_amd disabled SEV-SNP",
        "see snp.iommu and snp.bios.*; set `options kvm_amd sev_snp=1` and reload kvm_amd",
    ),
    (
        &["SNP: IOMMU is disabled or configured in passthrough mode"],
        "the IOMMU is off or in passthrough mode: SNP cannot be supported",
        IOMMU_FIX,
    ),
    (
        &["SEV-SNP: IOMMU is either disabled"],
        "the IOMMU is off or in passthrough mode: SNP cannot be supported",
        IOMMU_FIX,
    ),
];

/// `snp.kmsg`: see `docs/probe-checks.md#snp-kmsg`.
fn snp_kmsg(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, AMD, "SEV-SNP") {
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
    let line_ev = |l: &str| Evidence {
        source: "kernel log".into(),
        value: l.to_string(),
    };
    let mut ev = vec![];
    let mut blocks = vec![];
    let mut fixes: Vec<&str> = vec![];
    for (needles, what, fix) in LOG_BLOCKERS {
        if let Some(l) = kmsg::find(&k.lines, needles) {
            ev.push(line_ev(l));
            if !blocks.contains(what) {
                blocks.push(*what);
            }
            if !fixes.contains(fix) {
                fixes.push(fix);
            }
        }
    }
    let mut find = |needles: &[&str]| {
        kmsg::find(&k.lines, needles)
            .map(|l| ev.push(line_ev(l)))
            .is_some()
    };
    let rmp_reserved = find(&["SEV-SNP: RMP table physical range"]);
    let firmware_initialised = find(&["SEV-SNP API:"]);
    let kvm_snp = find(&["kvm_amd: SEV-SNP enabled"]) || find(&["SEV-ES and SEV-SNP supported:"]);
    let iommu_snp = find(&["IOMMU SNP support enabled"]);
    let facts = Facts::SnpLog {
        rmp_reserved,
        firmware_initialised,
        kvm_snp,
        iommu_snp,
    };
    if !blocks.is_empty() {
        return Outcome::fail(format!("this boot: {}", blocks.join("; ")))
            .fix(fixes.join("; "))
            .with(ev)
            .facts(facts);
    }
    let mut seen = vec![];
    for (yes, what) in [
        (rmp_reserved, "BIOS reserved the RMP"),
        (firmware_initialised, "SNP firmware initialised"),
        (kvm_snp, "kvm_amd enabled SEV-SNP"),
        (iommu_snp, "IOMMU SNP support enabled"),
    ] {
        if yes {
            seen.push(what);
        }
    }
    if !seen.is_empty() {
        return Outcome::pass(format!("this boot: {}", seen.join(", ")))
            .with(ev)
            .facts(facts);
    }
    if k.complete {
        Outcome::warn("the complete kernel log of this boot has no SEV-SNP line: the kernel did not set SNP up")
            .fix(BIOS_FIX)
            .facts(facts)
    } else {
        Outcome::skip(
            SkipReason::NotObservable,
            "no SEV-SNP line in a kernel log that no longer reaches back to boot",
        )
        .facts(facts)
    }
}

/// `snp.capacity`: see `docs/probe-checks.md#snp-capacity`.
fn snp_capacity(ctx: &Ctx) -> Outcome {
    if let Some(o) = x86_vendor(ctx, AMD, "SEV-SNP") {
        return o;
    }
    let mut ev = vec![ctx.ev_file(MISC_CAPACITY)];
    // SNP guests draw from the SEV-ES ASID space.
    let cap = ctx
        .view
        .file(MISC_CAPACITY)
        .text()
        .and_then(|t| capacity::get(t, "sev_es"));
    let lines = match ctx.view.get(&Input::Kmsg) {
        Reading::Kmsg(k) => kmsg::asid_lines(&k.lines),
        _ => vec![],
    };
    let snp_line = lines.iter().find(|(a, _)| a.kind == AsidKind::SevSnp);
    if let Some((a, l)) = snp_line {
        ev.push(Evidence {
            source: "kernel log".into(),
            value: l.to_string(),
        });
        if a.state == AsidState::Disabled {
            return Outcome::warn("kvm_amd disabled SEV-SNP: no SNP guests can start")
                .fix("see snp.kmsg and snp.kvm.params")
                .with(ev);
        }
    }
    let from_log = snp_line
        .or_else(|| lines.iter().find(|(a, _)| a.kind == AsidKind::SevEsAndSnp))
        .or_else(|| lines.iter().find(|(a, _)| a.kind == AsidKind::SevEs))
        .and_then(|(a, l)| {
            if snp_line.is_none() {
                ev.push(Evidence {
                    source: "kernel log".into(),
                    value: l.to_string(),
                });
            }
            a.count.map(u64::from)
        });
    // CPUID 0x8000001F: ECX the encrypted guests in all, EDX the lowest SEV-only ASID
    // (ASIDs 1 … EDX-1 are the SEV-ES/SNP space); with kvm_amd's `SEV supported: N` line
    // the SEV-ES space is ECX - N.
    let leaf = match ctx.view.get(&Input::cpuid(0x8000_001F, 0)) {
        Reading::Cpuid { ecx, edx, .. } if *ecx > 0 => Some((*ecx, *edx)),
        _ => None,
    };
    let sev_only = lines
        .iter()
        .find(|(a, _)| a.kind == AsidKind::Sev)
        .and_then(|(a, _)| a.count);
    let from_cpuid = leaf.map(|(ecx, edx)| match (edx, sev_only) {
        (0, Some(n)) => u64::from(ecx.saturating_sub(n)),
        (min, _) => u64::from(min.saturating_sub(1)),
    });
    let source = if cap.is_some() {
        "misc.capacity"
    } else if from_log.is_some() {
        "the kernel log"
    } else {
        "CPUID 0x8000001F"
    };
    if from_log.is_none() && cap.is_none() && leaf.is_some() {
        ev.push(ctx.ev(&Input::cpuid(0x8000_001F, 0)));
    }
    // SNP guests use the SEV-ES space only while KVM has SNP on: a withdrawn SNP leaves
    // SEV-ES ASIDs, not SNP guests.
    let snp_off = ctx
        .earlier(CheckId::SnpKvmParams)
        .is_some_and(|o| o.status == crate::check::Status::Fail);
    match cap.or(from_log).or(from_cpuid) {
        Some(0) => Outcome::warn(format!("0 ASIDs for SEV-ES/SNP guests ({source})"))
            .fix("BIOS: raise the SEV-ES ASID Space Limit")
            .with(ev),
        Some(n) if snp_off => Outcome::warn(format!(
            "{n} SEV-ES ASIDs ({source}), but kvm_amd has SEV-SNP off (snp.kvm.params): no SNP guests can start"
        ))
        .fix("see snp.kvm.params and snp.kmsg")
        .with(ev),
        Some(n) => {
            Outcome::pass(format!("{n} concurrent SEV-SNP guests at most ({source})")).with(ev)
        }
        None => Outcome::skip(
            SkipReason::NotObservable,
            "neither misc.capacity, the kernel log nor CPUID 0x8000001F gives the SEV-ES/SNP ASID count",
        )
        .with(ev),
    }
}

/// What the kernel log of this boot proved, from `snp.kmsg`'s facts.
fn log_shows(ctx: &Ctx, pick: fn(&Facts) -> bool) -> bool {
    ctx.earlier(CheckId::SnpKmsg)
        .and_then(|o| o.facts.as_ref())
        .is_some_and(pick)
}

/// KVM's own verdict: `sev_snp=Y` (6.11+ writes back what it enabled), the SNP VM type,
/// or this boot's `kvm_amd: SEV-SNP enabled`. KVM enables SNP only after it found SNP in the CPU, the RMP
/// set up and the IOMMU enabling SNP, so it settles those parts too.
fn kvm_enabled_snp(c: &Ctx) -> bool {
    passed(c, CheckId::SnpKvmParams)
        || passed(c, CheckId::SnpKvmVmtype)
        || log_shows(c, |f| matches!(f, Facts::SnpLog { kvm_snp: true, .. }))
}

/// The parts an SEV-SNP host needs positively observed.
const PARTS: &[Part] = &[
    Part {
        what: "a CPU with SEV-SNP (snp.cpuid, snp.cpu)",
        checks: &[CheckId::SnpCpuid, CheckId::SnpCpu],
        proven: |c| {
            passed(c, CheckId::SnpCpuid) || passed(c, CheckId::SnpCpu) || kvm_enabled_snp(c)
        },
    },
    Part {
        what: "SEV-SNP enabled by the BIOS (snp.bios.cpuinfo, snp.bios.msr or the kernel log's RMP line)",
        checks: &[CheckId::SnpBiosCpuinfo, CheckId::SnpBiosMsr, CheckId::SnpKmsg],
        proven: |c| {
            passed(c, CheckId::SnpBiosCpuinfo)
                || passed(c, CheckId::SnpBiosMsr)
                || log_shows(c, |f| matches!(f, Facts::SnpLog { rmp_reserved: true, .. }))
                || kvm_enabled_snp(c)
        },
    },
    Part {
        what: "an IOMMU that supports SEV-SNP (snp.iommu)",
        checks: &[CheckId::SnpIommu],
        proven: |c| {
            passed(c, CheckId::SnpIommu)
                || log_shows(c, |f| matches!(f, Facts::SnpLog { iommu_snp: true, .. }))
                || kvm_enabled_snp(c)
        },
    },
    Part {
        what: "KVM with SEV-SNP (snp.kvm.params, snp.kvm.vmtype or the kernel log)",
        checks: &[
            CheckId::KvmVendorModule,
            CheckId::SnpKvmParams,
            CheckId::SnpKvmVmtype,
        ],
        proven: |c| {
            passed(c, CheckId::KvmVendorModule)
                && (passed(c, CheckId::SnpKvmParams)
                    || passed(c, CheckId::SnpKvmVmtype)
                    || log_shows(c, |f| matches!(f, Facts::SnpLog { kvm_snp: true, .. })))
        },
    },
    Part {
        what: "initialised SNP firmware (snp.fw.status or the kernel log's `SEV-SNP API` line)",
        checks: &[CheckId::SnpDev, CheckId::SnpFwStatus, CheckId::SnpKmsg],
        proven: |c| {
            passed(c, CheckId::SnpDev)
                && (c.passed(CheckId::SnpFwStatus)
                    || log_shows(c, |f| {
                        matches!(
                            f,
                            Facts::SnpLog {
                                firmware_initialised: true,
                                ..
                            }
                        )
                    }))
        },
    },
];

/// `snp.ready`: see `docs/probe-checks.md#snp-ready`.
fn snp_ready(ctx: &Ctx) -> Outcome {
    ready(ctx, PARTS, "SEV-SNP host")
}

#[cfg(test)]
mod tests {
    #[test]
    fn api_versions_compare_as_major_minor() {
        assert!((2u8, 0u8) > super::MIN_API);
        assert!((1u8, 50u8) < super::MIN_API);
        assert!((1u8, 55u8) > super::MIN_API);
    }

    #[test]
    fn snpsup_is_efr_bit_63() {
        assert_eq!(
            super::snp_sup("a5bf732ef82a2eef:0000000000000001"),
            Some(true)
        );
        assert_eq!(super::snp_sup("25bf732ef82a2eef"), Some(false));
        assert_eq!(super::snp_sup("garbage"), None);
    }
}
