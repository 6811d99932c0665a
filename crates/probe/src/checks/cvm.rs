//! Is this node itself a confidential VM? A CVM cannot host nested confidential VMs, so a
//! positive answer points to peer-pods (`remote`).

use super::basics::regs_text;
use super::CPUINFO;
use crate::check::{Check, Group, Outcome};
use crate::input::{Input, Reading};
use crate::parse::kmsg;

/// MSR_AMD64_SEV (SEV_STATUS), readable inside an SEV guest: bit 0 SEV, 1 SEV-ES, 2 SNP.
const SEV_STATUS: u32 = 0xC001_0131;

fn positive(what: &str) -> Outcome {
    Outcome::warn(format!(
        "this node is a {what} guest: it cannot start confidential VMs itself"
    ))
    .fix("run confidential pods through peer-pods: cococtl install --profile remote")
}

pub fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "cvm.tdx",
            title: "Intel TDX guest",
            group: Group::Cvm,
            inputs: vec![
                Input::cpuid(0, 0),
                Input::cpuid(0x21, 0),
                Input::device("dev/tdx_guest"),
                Input::file(CPUINFO),
            ],
            eval: |ctx| {
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
                    Reading::Cpuid { ebx, ecx, edx, .. } if max_leaf >= 0x21 => {
                        regs_text(&[*ebx, *edx, *ecx])
                    }
                    _ => String::new(),
                };
                let flag = super::cpu(ctx).flags.contains("tdx_guest");
                let dev = matches!(
                    ctx.view.get(&Input::device("dev/tdx_guest")),
                    Reading::Device { .. }
                );
                if sig == "IntelTDX    " || flag || dev {
                    positive("TDX").with(ev)
                } else {
                    Outcome::pass("not a TDX guest").with(ev)
                }
            },
        },
        Check {
            id: "cvm.snp",
            title: "AMD SEV / SEV-SNP guest",
            group: Group::Cvm,
            inputs: vec![
                Input::dir("sys/devices/platform/sev-guest"),
                Input::device("dev/sev-guest"),
                Input::msr(SEV_STATUS),
                Input::Kmsg,
            ],
            eval: |ctx| {
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
                        kmsg::find(&k.lines, &["Memory Encryption Features active", "SEV"])
                            .map(str::to_string)
                    }
                    _ => None,
                };
                let snp = platform
                    || dev
                    || msr.is_some_and(|m| m & 4 != 0)
                    || log.as_deref().is_some_and(|l| l.contains("SEV-SNP"));
                let sev = msr.is_some_and(|m| m & 3 != 0) || log.is_some();
                match (snp, sev) {
                    (true, _) => positive("SEV-SNP").with(ev),
                    (false, true) => positive("SEV/SEV-ES").with(ev),
                    _ => Outcome::pass("not an SEV guest").with(ev),
                }
            },
        },
        Check {
            id: "cvm.hyperv_isolation",
            title: "Hyper-V isolated VM (Azure confidential VM)",
            group: Group::Cvm,
            inputs: vec![Input::cpuid(0x4000_0000, 0), Input::cpuid(0x4000_000C, 0)],
            eval: |ctx| {
                let ev = vec![
                    ctx.ev(&Input::cpuid(0x4000_0000, 0)),
                    ctx.ev(&Input::cpuid(0x4000_000C, 0)),
                ];
                let vendor = match ctx.view.get(&Input::cpuid(0x4000_0000, 0)) {
                    Reading::Cpuid { ebx, ecx, edx, .. } => regs_text(&[*ebx, *ecx, *edx]),
                    _ => return Outcome::pass("no hypervisor leaves").with(ev),
                };
                if vendor != "Microsoft Hv" {
                    return Outcome::pass("not Hyper-V").with(ev);
                }
                // Leaf 0x4000000C EBX[3:0]: isolation type 1 VBS, 2 SNP, 3 TDX.
                match ctx.view.get(&Input::cpuid(0x4000_000C, 0)) {
                    Reading::Cpuid { ebx, .. } if ebx & 0xf == 2 => {
                        positive("Hyper-V SEV-SNP isolated").with(ev)
                    }
                    Reading::Cpuid { ebx, .. } if ebx & 0xf == 3 => {
                        positive("Hyper-V TDX isolated").with(ev)
                    }
                    _ => Outcome::pass("Hyper-V VM without hardware isolation").with(ev),
                }
            },
        },
        Check {
            id: "cvm.se",
            title: "IBM Secure Execution guest",
            group: Group::Cvm,
            inputs: vec![Input::file("sys/firmware/uv/prot_virt_guest")],
            eval: |ctx| {
                let ev = vec![ctx.ev_file("sys/firmware/uv/prot_virt_guest")];
                match ctx.view.file("sys/firmware/uv/prot_virt_guest").text() {
                    Some(v) if v.trim() == "1" => positive("Secure Execution").with(ev),
                    _ => Outcome::pass("not a Secure Execution guest").with(ev),
                }
            },
        },
        Check {
            id: "cvm.summary",
            title: "Node is a confidential VM",
            group: Group::Cvm,
            inputs: vec![],
            eval: |ctx| {
                let positive: Vec<&str> = ["cvm.tdx", "cvm.snp", "cvm.hyperv_isolation", "cvm.se"]
                    .into_iter()
                    .filter(|id| {
                        ctx.earlier(id)
                            .is_some_and(|o| o.status == crate::check::Status::Warn)
                    })
                    .collect();
                if positive.is_empty() {
                    Outcome::pass("no: this node is not a confidential guest")
                } else {
                    Outcome::warn(format!("yes ({}): use peer-pods", positive.join(", ")))
                        .fix("cococtl install --profile remote")
                }
            },
        },
    ]
}
