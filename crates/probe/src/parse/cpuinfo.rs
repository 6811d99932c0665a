//! `/proc/cpuinfo`: the first processor block's identity and flags (x86), or the
//! `facilities` list (s390x).

use std::collections::BTreeSet;

/// What the first processor block says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuInfo {
    /// `vendor_id` (`AuthenticAMD`, `GenuineIntel`, `IBM/S390`).
    pub vendor: Option<String>,
    /// `cpu family`.
    pub family: Option<u32>,
    /// `model`.
    pub model: Option<u32>,
    /// `model name`.
    pub model_name: Option<String>,
    /// `flags` (x86) or `Features` (arm64).
    pub flags: BTreeSet<String>,
    /// Whether a flags line was there at all (no line: the flags are unknown, not empty).
    pub flags_known: bool,
    /// Whether the x86 flags line is whole at least up to `hypervisor`'s place: the kernel
    /// prints flags in capability-word order, `fpu` first and `hypervisor` last of word 4
    /// (CPUID 1 ECX), so a line that starts with `fpu`, reaches a flag of a later word and
    /// elides nothing (`...`) would show `hypervisor` if the CPU bit were set.
    pub flags_complete: bool,
    /// s390x facility numbers.
    pub facilities: BTreeSet<u32>,
    /// Whether a `facilities` line was there at all.
    pub facilities_known: bool,
    /// arm64 `CPU implementer` (its presence identifies an Arm CPU).
    pub arm_implementer: Option<String>,
}

/// Parses cpuinfo text (any text: never panics).
pub fn parse(text: &str) -> CpuInfo {
    let mut c = CpuInfo::default();
    let mut seen_processor = false;
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        match k {
            // Only the first CPU's block: the rest repeat it.
            "processor" if seen_processor => break,
            "processor" => seen_processor = true,
            "vendor_id" => c.vendor = Some(v.to_string()),
            "cpu family" => c.family = v.parse().ok(),
            "model" => c.model = v.parse().ok(),
            "model name" => c.model_name = Some(v.to_string()),
            "flags" | "Features" | "features" => {
                c.flags_known = true;
                c.flags.extend(v.split_whitespace().map(str::to_string))
            }
            "facilities" => {
                c.facilities_known = true;
                c.facilities
                    .extend(v.split_whitespace().filter_map(|f| f.parse::<u32>().ok()))
            }
            "CPU implementer" if c.arm_implementer.is_none() => {
                c.arm_implementer = Some(v.to_string())
            }
            _ => {}
        }
    }
    c.flags_complete = c.flags_known
        && c.flags.contains("fpu")
        && LATER_WORDS.iter().any(|f| c.flags.contains(*f))
        && !c.flags.iter().any(|f| f.contains("...") || f.contains('…'));
    c
}

/// Flags of capability words the kernel prints after word 4 (the one that ends with
/// `hypervisor`): every x86_64 CPU has at least `lahf_lm` (word 6, CPUID 0x80000001 ECX).
const LATER_WORDS: &[&str] = &[
    "lahf_lm", "svm", "abm", "ept", "vpid", "fsgsbase", "avx2", "bmi1", "erms", "arat", "xsaveopt",
    "sme", "sev",
];

impl CpuInfo {
    /// `Some(false)` when a complete flags line shows `hypervisor` (a VM), `Some(true)`
    /// when it does not (bare metal: the flag mirrors the CPUID hypervisor bit), `None`
    /// when the line is missing or partial.
    pub fn bare_metal(&self) -> Option<bool> {
        if self.flags.contains("hypervisor") {
            return Some(false);
        }
        self.flags_complete.then_some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_first_block_only() {
        let c = parse("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\nmodel name\t: AMD EPYC 7763\nflags\t\t: fpu sme sev sev_es sev_snp\n\nprocessor\t: 1\nflags\t\t: other\n");
        assert_eq!(c.vendor.as_deref(), Some("AuthenticAMD"));
        assert_eq!((c.family, c.model), (Some(25), Some(1)));
        assert!(c.flags.contains("sev_snp") && !c.flags.contains("other"));
        assert!(c.flags_known);
    }

    #[test]
    fn a_vendor_without_a_flags_line_leaves_the_flags_unknown() {
        let c = parse("processor\t: 0\nvendor_id\t: AuthenticAMD\n");
        assert_eq!(c.vendor.as_deref(), Some("AuthenticAMD"));
        assert!(!c.flags_known && c.flags.is_empty());
    }

    #[test]
    fn a_flags_line_is_complete_only_from_fpu_past_the_hypervisor_word() {
        let bare = parse("flags\t\t: fpu vme pse msr pni ssse3 lahf_lm svm\n");
        assert!(bare.flags_complete);
        assert_eq!(bare.bare_metal(), Some(true));
        let vm = parse("flags\t\t: fpu vme pni hypervisor lahf_lm\n");
        assert_eq!(vm.bare_metal(), Some(false));
        // Cut before the words after `hypervisor`, cut at the front, or elided: unknown.
        for partial in [
            "flags\t\t: fpu vme pse msr pni ssse3\n",
            "flags\t\t: pse msr pni lahf_lm svm\n",
            "flags\t\t: fpu vme ... lahf_lm svm\n",
            "flags\t\t: fpu vme … lahf_lm svm\n",
        ] {
            let c = parse(partial);
            assert!(!c.flags_complete, "{partial}");
            assert_eq!(c.bare_metal(), None, "{partial}");
        }
        // A partial line that does show `hypervisor` still proves a VM.
        assert_eq!(parse("flags : ... hypervisor\n").bare_metal(), Some(false));
    }

    #[test]
    fn s390x_facilities() {
        let c = parse("vendor_id       : IBM/S390\nfacilities      : 0 1 2 3 158 159\n");
        assert!(c.facilities.contains(&158));
    }
}
