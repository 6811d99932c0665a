//! Is this node itself a confidential VM? A CVM cannot host nested confidential VMs, so a
//! positive answer points to peer-pods (`remote`).

use super::basics::regs_text;
use super::CPUINFO;
use crate::check::{Check, Ctx, CvmKind, Facts, Outcome};
use crate::id::CheckId;
use crate::input::{Input, Reading};
use crate::parse::kmsg;

/// MSR_AMD64_SEV (SEV_STATUS), readable inside an SEV guest: bit 0 SEV, 1 SEV-ES, 2 SNP.
const SEV_STATUS: u32 = 0xC001_0131;

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
fn negative(message: &str) -> Outcome {
    Outcome::pass(message).facts(Facts::Guest { guest: None })
}

pub fn checks() -> Vec<Check> {
    vec![
        Check::new(
            CheckId::CvmTdx,
            vec![
                Input::cpuid(0, 0),
                Input::cpuid(0x21, 0),
                Input::device("dev/tdx_guest"),
                Input::file(CPUINFO),
            ],
            cvm_tdx,
        ),
        Check::new(
            CheckId::CvmSnp,
            vec![
                Input::dir("sys/devices/platform/sev-guest"),
                Input::device("dev/sev-guest"),
                Input::msr(SEV_STATUS),
                Input::Kmsg,
            ],
            cvm_snp,
        ),
        Check::new(
            CheckId::CvmHypervIsolation,
            vec![Input::cpuid(0x4000_0000, 0), Input::cpuid(0x4000_000C, 0)],
            cvm_hyperv_isolation,
        ),
        Check::new(
            CheckId::CvmSe,
            vec![Input::file("sys/firmware/uv/prot_virt_guest")],
            cvm_se,
        ),
        Check::new(CheckId::CvmSummary, vec![], cvm_summary),
    ]
}

/// `cvm.tdx`: see `docs/probe-checks.md#cvm-tdx`.
fn cvm_tdx(ctx: &Ctx) -> Outcome {
    let ev = vec![
        ctx.ev(&Input::cpuid(0x21, 0)),
        ctx.ev(&Input::device("dev/tdx_guest")),
    ];
    // CPUID 0x21 answers "IntelTDX    " in EBX, EDX, ECX inside a TD; guard on the
    // maximum basic leaf, beyond which the CPU repeats another leaf.
    let max_leaf = match ctx.view.get(&Input::cpuid(0, 0)) {
        Reading::Cpuid { eax, .. } => *eax,
        _ => 0,
    };
    let sig = match ctx.view.get(&Input::cpuid(0x21, 0)) {
        Reading::Cpuid { ebx, ecx, edx, .. } if max_leaf >= 0x21 => regs_text(&[*ebx, *edx, *ecx]),
        _ => String::new(),
    };
    let flag = super::cpu(ctx).flags.contains("tdx_guest");
    let dev = matches!(
        ctx.view.get(&Input::device("dev/tdx_guest")),
        Reading::Device { .. }
    );
    if sig == "IntelTDX    " || flag || dev {
        positive(CvmKind::Tdx).with(ev)
    } else {
        negative("not a TDX guest").with(ev)
    }
}

/// `cvm.snp`: see `docs/probe-checks.md#cvm-snp`.
fn cvm_snp(ctx: &Ctx) -> Outcome {
    let ev = vec![
        ctx.ev(&Input::dir("sys/devices/platform/sev-guest")),
        ctx.ev(&Input::device("dev/sev-guest")),
        ctx.ev(&Input::msr(SEV_STATUS)),
    ];
    let platform = matches!(
        ctx.view.get(&Input::dir("sys/devices/platform/sev-guest")),
        Reading::Entries { .. }
    );
    let dev = matches!(
        ctx.view.get(&Input::device("dev/sev-guest")),
        Reading::Device { .. }
    );
    let msr = match ctx.view.get(&Input::msr(SEV_STATUS)) {
        Reading::Msr { value } => Some(*value),
        _ => None,
    };
    let log = match ctx.view.get(&Input::Kmsg) {
        Reading::Kmsg(k) => {
            kmsg::find(&k.lines, &["Memory Encryption Features active", "SEV"]).map(str::to_string)
        }
        _ => None,
    };
    let snp = platform
        || dev
        || msr.is_some_and(|m| m & 4 != 0)
        || log.as_deref().is_some_and(|l| l.contains("SEV-SNP"));
    let sev = msr.is_some_and(|m| m & 3 != 0) || log.is_some();
    match (snp, sev) {
        (true, _) => positive(CvmKind::SevSnp).with(ev),
        (false, true) => positive(CvmKind::SevEs).with(ev),
        _ => negative("not an SEV guest").with(ev),
    }
}

/// `cvm.hyperv_isolation`: see `docs/probe-checks.md#cvm-hyperv_isolation`.
fn cvm_hyperv_isolation(ctx: &Ctx) -> Outcome {
    let ev = vec![
        ctx.ev(&Input::cpuid(0x4000_0000, 0)),
        ctx.ev(&Input::cpuid(0x4000_000C, 0)),
    ];
    let vendor = match ctx.view.get(&Input::cpuid(0x4000_0000, 0)) {
        Reading::Cpuid { ebx, ecx, edx, .. } => regs_text(&[*ebx, *ecx, *edx]),
        _ => return negative("no hypervisor leaves").with(ev),
    };
    if vendor != "Microsoft Hv" {
        return negative("not Hyper-V").with(ev);
    }
    // Leaf 0x4000000C EBX[3:0]: isolation type 1 VBS, 2 SNP, 3 TDX.
    match ctx.view.get(&Input::cpuid(0x4000_000C, 0)) {
        Reading::Cpuid { ebx, .. } if ebx & 0xf == 2 => positive(CvmKind::HypervSnp).with(ev),
        Reading::Cpuid { ebx, .. } if ebx & 0xf == 3 => positive(CvmKind::HypervTdx).with(ev),
        _ => negative("Hyper-V VM without hardware isolation").with(ev),
    }
}

/// `cvm.se`: see `docs/probe-checks.md#cvm-se`.
fn cvm_se(ctx: &Ctx) -> Outcome {
    let ev = vec![ctx.ev_file("sys/firmware/uv/prot_virt_guest")];
    match ctx.view.file("sys/firmware/uv/prot_virt_guest").text() {
        Some(v) if v.trim() == "1" => positive(CvmKind::SecureExecution).with(ev),
        _ => negative("not a Secure Execution guest").with(ev),
    }
}

/// `cvm.summary`: see `docs/probe-checks.md#cvm-summary`.
fn cvm_summary(ctx: &Ctx) -> Outcome {
    let parts = [
        CheckId::CvmTdx,
        CheckId::CvmSnp,
        CheckId::CvmHypervIsolation,
        CheckId::CvmSe,
    ];
    let positive: Vec<(CheckId, CvmKind)> = parts
        .into_iter()
        .filter_map(|id| match ctx.earlier(id)?.facts {
            Some(Facts::Guest { guest: Some(kind) }) => Some((id, kind)),
            _ => None,
        })
        .collect();
    match positive.first() {
        None => negative("no: this node is not a confidential guest"),
        Some((_, kind)) => {
            let ids: Vec<&str> = positive.iter().map(|(id, _)| id.as_str()).collect();
            Outcome::warn(format!("yes ({}): use peer-pods", ids.join(", ")))
                .fix("cococtl install --profile remote")
                .facts(Facts::Guest { guest: Some(*kind) })
        }
    }
}
