//! Is this node itself a confidential VM? A CVM cannot host nested confidential VMs, so a
//! positive answer points to peer-pods (`remote`).
//!
//! "Not a guest" is itself a finding that needs evidence: bare metal (CPUID, or a complete
//! cpuinfo flags line, says no hypervisor), a signal that is definitive when read (CPUID
//! leaf 0x21, SEV_STATUS), evidence only a TEE host can produce ([`host_signs`]), or a
//! complete kernel log without the guest's boot line. When none could be read the check
//! says so instead of guessing.

use cococtl_core::Arch;

use super::basics::regs_text;
use super::host_signs::{self, Proves, Sign};
use super::{arch, cpu, ARCH, CPUINFO};
use crate::check::{BlockKind, Blocker, Check, Ctx, CvmKind, Facts, Outcome, SkipReason, Status};
use crate::id::CheckId;
use crate::input::{Input, Reading};
use crate::parse::kmsg;

/// MSR_AMD64_SEV (SEV_STATUS), readable inside an SEV guest: bit 0 SEV, 1 SEV-ES, 2 SNP.
const SEV_STATUS: u32 = 0xC001_0131;
const PROT_VIRT_GUEST: &str = "sys/firmware/uv/prot_virt_guest";
const PROT_VIRT_HOST: &str = "sys/firmware/uv/prot_virt_host";
const CCA_DEV: &str = "sys/devices/platform/arm-cca-dev";

/// The CVM checks, in evaluation order.
pub fn checks() -> Vec<Check> {
    let x86 = || {
        vec![
            Input::file(ARCH),
            Input::file(CPUINFO),
            Input::cpuid(1, 0),
            Input::Kmsg,
        ]
    };
    vec![
        Check::new(
            CheckId::CvmTdx,
            [
                x86(),
                vec![
                    Input::cpuid(0, 0),
                    Input::cpuid(0x21, 0),
                    Input::device("dev/tdx_guest"),
                ],
            ]
            .concat(),
            cvm_tdx,
        ),
        Check::new(
            CheckId::CvmSnp,
            [
                x86(),
                vec![
                    Input::dir("sys/devices/platform/sev-guest"),
                    Input::device("dev/sev-guest"),
                    Input::msr(SEV_STATUS),
                    Input::cpuid(0x8000_001F, 0),
                ],
            ]
            .concat(),
            cvm_snp,
        ),
        Check::new(
            CheckId::CvmHypervIsolation,
            vec![
                Input::file(ARCH),
                Input::file(CPUINFO),
                Input::cpuid(1, 0),
                Input::cpuid(0x4000_0000, 0),
                Input::cpuid(0x4000_000C, 0),
                Input::Kmsg,
            ],
            cvm_hyperv_isolation,
        ),
        Check::new(
            CheckId::CvmSe,
            vec![
                Input::file(ARCH),
                Input::file(CPUINFO),
                Input::file(PROT_VIRT_GUEST),
                Input::file(PROT_VIRT_HOST),
            ],
            cvm_se,
        ),
        Check::new(
            CheckId::CvmCca,
            vec![Input::file(ARCH), Input::file(CPUINFO), Input::dir(CCA_DEV)],
            cvm_cca,
        ),
        Check::new(CheckId::CvmSummary, vec![], cvm_summary),
    ]
}

/// "This node is a `kind` guest": a warning, since it cannot host confidential VMs.
fn positive(kind: CvmKind) -> Outcome {
    Outcome::warn(format!(
        "this node is a {} guest: it cannot start confidential VMs itself",
        kind.name()
    ))
    .fix("run confidential pods through peer-pods: cococtl install --profile remote")
    .facts(Facts::Guest { guest: Some(kind) })
}

/// "This node is observed not to be such a guest".
fn negative(message: impl Into<String>) -> Outcome {
    Outcome::pass(message).facts(Facts::Guest { guest: None })
}

/// Neither answer could be observed.
fn cannot_tell(what: &str, why: String) -> Outcome {
    Outcome::skip(
        SkipReason::NotObservable,
        format!("cannot tell whether this node is a guest ({what}): {why}"),
    )
}

/// `not_applicable` unless the architecture is `want` (an unknown one is not ruled out).
fn not_on(ctx: &Ctx, want: Arch, what: &str) -> Option<Outcome> {
    match arch(ctx) {
        Some(a) if a != want => Some(Outcome::skip(
            SkipReason::NotApplicable,
            format!("{what} guests are {} only", want.kernel_name()),
        )),
        _ => None,
    }
}

/// `Some(true)` on bare metal (CPUID says no hypervisor), `Some(false)` in a VM.
fn bare_metal(ctx: &Ctx) -> Option<bool> {
    match ctx.view.get(&Input::cpuid(1, 0)) {
        Reading::Cpuid { ecx, .. } => Some(ecx & (1 << 31) == 0),
        _ => None,
    }
}

/// The kernel log, when it was read.
fn log<'a>(ctx: &Ctx<'a>) -> Option<&'a crate::input::Kmsg> {
    match ctx.view.get(&Input::Kmsg) {
        Reading::Kmsg(k) => Some(k),
        _ => None,
    }
}

/// The first host-only sign that proves one of `accepts`; the cpuinfo flags count only
/// when CPUID leaf 1 itself could not be read (the register beats its mirror).
fn host_sign(ctx: &Ctx, accepts: &[Proves]) -> Option<Sign> {
    let mut signs = log(ctx).map_or_else(Vec::new, |k| host_signs::from_log(&k.lines));
    if bare_metal(ctx).is_none() {
        signs.extend(host_signs::from_cpuinfo(&cpu(ctx), &format!("/{CPUINFO}")));
    }
    signs.into_iter().find(|s| accepts.contains(&s.proves))
}

/// "Not a `what` guest", settled by a host-only sign.
fn settled(what: &str, s: Sign) -> Outcome {
    negative(format!(
        "not a {what} guest: {} ({}: {})",
        s.why, s.evidence.source, s.evidence.value
    ))
    .with(vec![s.evidence])
}

fn log_evidence(line: &str) -> crate::check::Evidence {
    crate::check::Evidence {
        source: "kernel log".into(),
        value: line.to_string(),
    }
}

/// `cvm.tdx`: see `docs/probe-checks.md#cvm-tdx`.
fn cvm_tdx(ctx: &Ctx) -> Outcome {
    if let Some(o) = not_on(ctx, Arch::Amd64, "TDX") {
        return o;
    }
    let mut ev = vec![
        ctx.ev(&Input::cpuid(0x21, 0)),
        ctx.ev(&Input::device("dev/tdx_guest")),
    ];
    // CPUID 0x21 answers "IntelTDX    " in EBX, EDX, ECX inside a TD; guard on the
    // maximum basic leaf, beyond which the CPU repeats another leaf.
    let max_leaf = match ctx.view.get(&Input::cpuid(0, 0)) {
        Reading::Cpuid { eax, .. } => Some(*eax),
        _ => None,
    };
    let leaf = ctx.view.get(&Input::cpuid(0x21, 0));
    let sig = match (leaf, max_leaf) {
        (Reading::Cpuid { ebx, ecx, edx, .. }, Some(m)) if m >= 0x21 => {
            Some(regs_text(&[*ebx, *edx, *ecx]))
        }
        (_, Some(m)) if m < 0x21 => Some(String::new()),
        (Reading::Missing, Some(_)) => Some(String::new()),
        _ => None,
    };
    let c = cpu(ctx);
    let flag = c.flags.contains("tdx_guest");
    let dev = ctx.view.get(&Input::device("dev/tdx_guest"));
    let line = log(ctx).and_then(|k| {
        kmsg::find(&k.lines, &["tdx: Guest detected"]).or_else(|| {
            kmsg::find(
                &k.lines,
                &["Memory Encryption Features active", "Intel TDX"],
            )
        })
    });
    if let Some(l) = line {
        ev.push(log_evidence(l));
    }
    if sig.as_deref() == Some("IntelTDX    ")
        || flag
        || dev.present() == Some(true)
        || line.is_some()
    {
        return positive(CvmKind::Tdx).with(ev);
    }
    if bare_metal(ctx) == Some(true) {
        return negative("bare metal: not a TDX guest").with(ev);
    }
    if let Some(s) = host_sign(ctx, &[Proves::BareMetal, Proves::TdxHost]) {
        return settled("TDX", s).with(ev);
    }
    if c.vendor.as_deref() == Some("AuthenticAMD") {
        return negative("an AMD CPU: not a TDX guest").with(ev);
    }
    if sig.is_some() {
        return negative("not a TDX guest (CPUID leaf 0x21)").with(ev);
    }
    if log(ctx).is_some_and(|k| k.complete) {
        return negative("not a TDX guest (the complete kernel log has no TDX guest line)")
            .with(ev);
    }
    cannot_tell(
        "TDX",
        format!(
            "CPUID leaf 0x21 {}; kernel log {}",
            leaf.summary(),
            ctx.view.get(&Input::Kmsg).summary()
        ),
    )
    .with(ev)
}

/// `cvm.snp`: see `docs/probe-checks.md#cvm-snp`.
fn cvm_snp(ctx: &Ctx) -> Outcome {
    if let Some(o) = not_on(ctx, Arch::Amd64, "SEV") {
        return o;
    }
    let mut ev = vec![
        ctx.ev(&Input::dir("sys/devices/platform/sev-guest")),
        ctx.ev(&Input::device("dev/sev-guest")),
        ctx.ev(&Input::msr(SEV_STATUS)),
    ];
    let platform = ctx.view.get(&Input::dir("sys/devices/platform/sev-guest"));
    let dev = ctx.view.get(&Input::device("dev/sev-guest"));
    let msr = ctx.view.get(&Input::msr(SEV_STATUS));
    let status = match msr {
        Reading::Msr { value } => Some(*value),
        _ => None,
    };
    let line = log(ctx)
        .and_then(|k| kmsg::find(&k.lines, &["Memory Encryption Features active", "AMD SEV"]));
    if let Some(l) = line {
        ev.push(log_evidence(l));
    }
    let snp = platform.present() == Some(true)
        || dev.present() == Some(true)
        || status.is_some_and(|m| m & 4 != 0)
        || line.is_some_and(|l| l.contains("SEV-SNP"));
    let sev = status.is_some_and(|m| m & 3 != 0) || line.is_some();
    if snp {
        return positive(CvmKind::SevSnp).with(ev);
    }
    if sev {
        return positive(CvmKind::SevEs).with(ev);
    }
    if bare_metal(ctx) == Some(true) {
        return negative("bare metal: not an SEV guest").with(ev);
    }
    if let Some(s) = host_sign(ctx, &[Proves::BareMetal, Proves::SevHost]) {
        return settled("SEV", s).with(ev);
    }
    if cpu(ctx).vendor.as_deref() == Some("GenuineIntel") {
        return negative("an Intel CPU: not an SEV guest").with(ev);
    }
    // KVM shows its SEV guests CPUID 0x8000001F with the SEV bit (EAX bit 1) set, as
    // systemd's detection relies on; Hyper-V hides the leaf (cvm.hyperv_isolation).
    if let Reading::Cpuid { eax, .. } = ctx.view.get(&Input::cpuid(0x8000_001F, 0)) {
        if eax & (1 << 1) == 0 {
            return negative("not an SEV guest (CPUID 0x8000001F shows no SEV)").with(ev);
        }
    }
    // Inside an SEV guest SEV_STATUS exists and has a bit set; elsewhere reading it fails.
    if status.is_some() || matches!(msr, Reading::Missing) {
        return negative("not an SEV guest (SEV_STATUS)").with(ev);
    }
    if log(ctx).is_some_and(|k| k.complete) {
        return negative(
            "not an SEV guest (the complete kernel log has no memory-encryption line)",
        )
        .with(ev);
    }
    cannot_tell(
        "SEV",
        format!(
            "SEV_STATUS {}; kernel log {}",
            msr.summary(),
            ctx.view.get(&Input::Kmsg).summary()
        ),
    )
    .with(ev)
}

/// `cvm.hyperv_isolation`: see `docs/probe-checks.md#cvm-hyperv_isolation`.
fn cvm_hyperv_isolation(ctx: &Ctx) -> Outcome {
    if let Some(o) = not_on(ctx, Arch::Amd64, "Hyper-V isolated") {
        return o;
    }
    let ev = vec![
        ctx.ev(&Input::cpuid(0x4000_0000, 0)),
        ctx.ev(&Input::cpuid(0x4000_000C, 0)),
    ];
    if bare_metal(ctx) == Some(true) {
        return negative("bare metal: not a Hyper-V VM").with(ev);
    }
    // A hardware-isolated Hyper-V VM is an SNP guest or a TD: it can reach neither the PSP
    // nor the TDX module, nor run KVM's SEV guests.
    let sign = || host_sign(ctx, &[Proves::BareMetal, Proves::SevHost, Proves::TdxHost]);
    let vendor = match ctx.view.get(&Input::cpuid(0x4000_0000, 0)) {
        Reading::Cpuid { ebx, ecx, edx, .. } => regs_text(&[*ebx, *ecx, *edx]),
        Reading::Missing => return negative("no hypervisor leaves").with(ev),
        other => {
            if let Some(s) = sign() {
                return settled("Hyper-V isolated", s).with(ev);
            }
            return cannot_tell("Hyper-V isolated", format!("CPUID {}", other.summary())).with(ev);
        }
    };
    if vendor != "Microsoft Hv" {
        return negative("not Hyper-V").with(ev);
    }
    // Leaf 0x4000000C EBX[3:0]: isolation type 1 VBS, 2 SNP, 3 TDX.
    match ctx.view.get(&Input::cpuid(0x4000_000C, 0)) {
        Reading::Cpuid { ebx, .. } if ebx & 0xf == 2 => positive(CvmKind::HypervSnp).with(ev),
        Reading::Cpuid { ebx, .. } if ebx & 0xf == 3 => positive(CvmKind::HypervTdx).with(ev),
        Reading::Cpuid { .. } | Reading::Missing => {
            negative("Hyper-V VM without hardware isolation").with(ev)
        }
        other => match sign() {
            Some(s) => settled("Hyper-V isolated", s).with(ev),
            None => cannot_tell(
                "Hyper-V isolated",
                format!("CPUID 0x4000000C {}", other.summary()),
            )
            .with(ev),
        },
    }
}

/// `cvm.se`: see `docs/probe-checks.md#cvm-se`.
fn cvm_se(ctx: &Ctx) -> Outcome {
    if let Some(o) = not_on(ctx, Arch::S390x, "Secure Execution") {
        return o;
    }
    let ev = vec![ctx.ev_file(PROT_VIRT_GUEST)];
    match ctx.view.file(PROT_VIRT_GUEST) {
        Reading::Text { value } if value.trim() == "1" => {
            positive(CvmKind::SecureExecution).with(ev)
        }
        Reading::Text { .. } | Reading::Missing => {
            negative("not a Secure Execution guest").with(ev)
        }
        other => match host_signs::from_prot_virt_host(
            ctx.view.file(PROT_VIRT_HOST).text(),
            &format!("/{PROT_VIRT_HOST}"),
        ) {
            Some(s) => settled("Secure Execution", s).with(ev),
            None => cannot_tell(
                "Secure Execution",
                format!("/{PROT_VIRT_GUEST} {}", other.summary()),
            )
            .with(ev),
        },
    }
}

/// `cvm.cca`: see `docs/probe-checks.md#cvm-cca`.
fn cvm_cca(ctx: &Ctx) -> Outcome {
    if let Some(o) = not_on(ctx, Arch::Arm64, "Arm CCA") {
        return o;
    }
    let ev = vec![ctx.ev(&Input::dir(CCA_DEV))];
    match ctx.view.get(&Input::dir(CCA_DEV)).present() {
        Some(true) => positive(CvmKind::Cca).with(ev),
        Some(false) => negative("not an Arm CCA realm").with(ev),
        None => cannot_tell(
            "Arm CCA",
            format!(
                "/{CCA_DEV} {}",
                ctx.view.get(&Input::dir(CCA_DEV)).summary()
            ),
        )
        .with(ev),
    }
}

/// `cvm.summary`: see `docs/probe-checks.md#cvm-summary`.
fn cvm_summary(ctx: &Ctx) -> Outcome {
    let parts = [
        CheckId::CvmTdx,
        CheckId::CvmSnp,
        CheckId::CvmHypervIsolation,
        CheckId::CvmSe,
        CheckId::CvmCca,
    ];
    let positive: Vec<(CheckId, CvmKind)> = parts
        .into_iter()
        .filter_map(|id| match ctx.earlier(id)?.facts {
            Some(Facts::Guest { guest: Some(kind) }) => Some((id, kind)),
            _ => None,
        })
        .collect();
    if let Some((_, kind)) = positive.first() {
        let ids: Vec<&str> = positive.iter().map(|(id, _)| id.as_str()).collect();
        return Outcome::warn(format!("yes ({}): use peer-pods", ids.join(", ")))
            .fix("cococtl install --profile remote")
            .facts(Facts::Guest { guest: Some(*kind) });
    }
    let unknown: Vec<Blocker> = parts
        .into_iter()
        .filter_map(|id| {
            let o = ctx.earlier(id)?;
            let negative =
                o.status == Status::Pass || o.skip_reason == Some(SkipReason::NotApplicable);
            (!negative).then(|| Blocker {
                check: id,
                kind: BlockKind::NotObserved,
                reason: o.message.clone(),
            })
        })
        .collect();
    if unknown.is_empty() {
        return negative("no: this node is not a confidential guest");
    }
    let ids: Vec<&str> = unknown.iter().map(|b| b.check.as_str()).collect();
    Outcome::unknown(format!(
        "unknown: {} could not tell; judged as a host",
        ids.join(", ")
    ))
    .fix("run the probe as root (SEV_STATUS MSR, kernel log) for a definite answer")
    .blocked_by(unknown)
}
