//! Evidence that only a TEE host, never a confidential guest, can produce: the `cvm.*`
//! checks' negative evidence (`docs/probe-checks.md#cvm-negative`). Each sign names the
//! kernel behaviour that makes it conclusive, so a verdict can say which fact settled it.

use crate::check::Evidence;
use crate::parse::cpuinfo::CpuInfo;
use crate::parse::kmsg::{self, AsidState};

/// What a sign proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proves {
    /// No hypervisor at all: not a guest of any kind.
    BareMetal,
    /// An AMD SEV host (PSP firmware, KVM's own SEV guests): not an SEV guest.
    SevHost,
    /// A TDX host (the TDX module, its KeyIDs): not a TD.
    TdxHost,
    /// An s390x Secure Execution host (`prot_virt_host=1`): not an SE guest.
    SeHost,
}

/// One sign, with the evidence that shows it and why it is conclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sign {
    /// What it proves.
    pub proves: Proves,
    /// The input and what was read.
    pub evidence: Evidence,
    /// Why only a host can show it.
    pub why: &'static str,
}

fn log(line: &str, proves: Proves, why: &'static str) -> Sign {
    Sign {
        proves,
        evidence: Evidence {
            source: "kernel log".into(),
            value: line.to_string(),
        },
        why,
    }
}

/// The host-only lines of a kernel log, oldest first.
pub fn from_log(lines: &[String]) -> Vec<Sign> {
    let mut v = vec![];
    if let Some(l) = kmsg::find(lines, &["SEV-SNP: RMP table physical range"]) {
        v.push(log(
            l,
            Proves::BareMetal,
            "the kernel sets up the RMP table only when it runs under no hypervisor",
        ));
    }
    for needle in ["SEV-SNP API:", "SEV API:"] {
        if let Some(l) = kmsg::find(lines, &[needle]) {
            v.push(log(
                l,
                Proves::SevHost,
                "the PSP (SEV firmware) answered, and the PSP is never given to an SEV guest",
            ));
        }
    }
    if let Some(l) = lines
        .iter()
        .find(|l| l.contains("ccp") && l.to_ascii_lowercase().contains("sev enabled"))
    {
        v.push(log(
            l,
            Proves::SevHost,
            "the ccp driver enabled the PSP's SEV interface, which no SEV guest has",
        ));
    }
    if let Some((_, l)) = kmsg::asid_lines(lines)
        .into_iter()
        .find(|(a, _)| a.state == AsidState::Enabled)
    {
        v.push(log(
            l,
            Proves::SevHost,
            "KVM set up SEV for its own guests, which an SEV guest cannot do (no nested SEV)",
        ));
    }
    for needles in [
        &["virt/tdx:", "KeyID range"][..],
        &["virt/tdx:", "module initialized"],
        &["virt/tdx:", "TDX-Module initialized"],
        &["virt/tdx:", "TDX module:"],
        &["virt/tdx:", "allocated for PAMT"],
    ] {
        if let Some(l) = kmsg::find(lines, needles) {
            v.push(log(
                l,
                Proves::TdxHost,
                "the kernel reached the TDX module and its KeyIDs, which a TD cannot",
            ));
            break;
        }
    }
    v
}

/// A complete cpuinfo flags line without `hypervisor`.
pub fn from_cpuinfo(c: &CpuInfo, source: &str) -> Option<Sign> {
    (c.bare_metal() == Some(true)).then(|| Sign {
        proves: Proves::BareMetal,
        evidence: Evidence {
            source: format!("{source} flags"),
            value: "complete flags line without `hypervisor`".into(),
        },
        why: "the flag mirrors the CPUID hypervisor bit",
    })
}

/// `prot_virt_host` reading `1`.
pub fn from_prot_virt_host(value: Option<&str>, source: &str) -> Option<Sign> {
    (value.map(str::trim) == Some("1")).then(|| Sign {
        proves: Proves::SeHost,
        evidence: Evidence {
            source: source.to_string(),
            value: "1".into(),
        },
        why: "the kernel clears prot_virt_host inside a protected guest",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proves(lines: &[&str]) -> Vec<Proves> {
        let lines: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        from_log(&lines).into_iter().map(|s| s.proves).collect()
    }

    #[test]
    fn a_guests_own_lines_prove_nothing() {
        assert!(proves(&[
            "Memory Encryption Features active: AMD SEV SEV-ES SEV-SNP",
            "SEV: Status: SEV SEV-ES SEV-SNP",
            "SEV: SNP guest platform device initialized.",
            "tdx: Guest detected",
            "Memory Encryption Features active: Intel TDX",
        ])
        .is_empty());
    }

    #[test]
    fn host_lines_prove_what_the_kernel_guarantees() {
        assert_eq!(
            proves(&["SEV-SNP: RMP table physical range [0x1 - 0x2]"]),
            [Proves::BareMetal]
        );
        assert_eq!(
            proves(&["ccp 0000:45:00.1: SEV API:1.55 build:21"]),
            [Proves::SevHost]
        );
        assert_eq!(
            proves(&["ccp 0000:45:00.1: sev enabled"]),
            [Proves::SevHost]
        );
        assert_eq!(
            proves(&["kvm_amd: SEV enabled (ASIDs 100 - 509)"]),
            [Proves::SevHost]
        );
        assert!(proves(&["kvm_amd: SEV-SNP disabled"]).is_empty());
        assert_eq!(
            proves(&["virt/tdx: BIOS enabled: private KeyID range [32, 64)"]),
            [Proves::TdxHost]
        );
    }
}
