//! Kernel log lines the checks look for.

/// The first line containing every one of `needles`.
pub fn find<'a>(lines: &'a [String], needles: &[&str]) -> Option<&'a str> {
    lines
        .iter()
        .map(String::as_str)
        .find(|l| needles.iter().all(|n| l.contains(n)))
}

/// `kvm_amd: SEV-SNP enabled (ASIDs 1 - 99)` → the ASID count (99).
pub fn asid_range(line: &str) -> Option<u32> {
    let inner = line.split("ASIDs").nth(1)?;
    let nums: Vec<u32> = inner
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect();
    match nums.as_slice() {
        [a, b, ..] if b >= a => Some(b - a + 1),
        [n] => Some(*n),
        _ => None,
    }
}

/// Which ASID space a kvm_amd line describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsidKind {
    /// `SEV …`.
    Sev,
    /// `SEV-ES …` (SNP guests share this space).
    SevEs,
    /// `SEV-SNP …`.
    SevSnp,
    /// `SEV-ES and SEV-SNP supported: N ASIDs` (older SNP host kernels).
    SevEsAndSnp,
}

/// What kvm_amd said about an ASID space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsidState {
    /// `enabled` or `supported`.
    Enabled,
    /// `disabled`.
    Disabled,
    /// `unusable` (an empty range).
    Unusable,
}

/// One kvm_amd ASID line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsidLine {
    /// The ASID space.
    pub kind: AsidKind,
    /// Enabled, disabled or unusable.
    pub state: AsidState,
    /// How many ASIDs (guests), when the line says.
    pub count: Option<u32>,
}

/// Parses every kvm_amd ASID line format:
/// `kvm_amd: SEV-SNP enabled (ASIDs 1 - 99)`, `… SEV-ES unusable (ASIDs 100 - 99)`,
/// `… SEV-SNP disabled`, `SEV-ES and SEV-SNP supported: 509 ASIDs`,
/// `kvm_amd: SEV supported: 410 ASIDs`.
pub fn asid_line(line: &str) -> Option<AsidLine> {
    const KINDS: [(&str, AsidKind); 4] = [
        ("SEV-ES and SEV-SNP", AsidKind::SevEsAndSnp),
        ("SEV-SNP", AsidKind::SevSnp),
        ("SEV-ES", AsidKind::SevEs),
        ("SEV", AsidKind::Sev),
    ];
    const STATES: [(&str, AsidState); 4] = [
        (" enabled", AsidState::Enabled),
        (" supported", AsidState::Enabled),
        (" disabled", AsidState::Disabled),
        (" unusable", AsidState::Unusable),
    ];
    for (name, kind) in KINDS {
        for (at, _) in line.match_indices(name) {
            if at > 0 && !line[..at].ends_with(' ') {
                continue;
            }
            let rest = &line[at + name.len()..];
            let Some((state, tail)) = STATES
                .iter()
                .find_map(|(w, st)| rest.strip_prefix(w).map(|t| (*st, t)))
            else {
                continue;
            };
            let nums: Vec<u32> = tail
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty())
                .filter_map(|s| s.parse().ok())
                .collect();
            let count = if tail.contains("ASIDs") {
                match (tail.trim_start().starts_with(':'), nums.as_slice()) {
                    (true, [n, ..]) => Some(*n),
                    (false, [a, b, ..]) => Some(if b >= a { b - a + 1 } else { 0 }),
                    _ => None,
                }
            } else {
                None
            };
            let state = match (state, count) {
                (AsidState::Enabled, Some(0)) => AsidState::Unusable,
                (s, _) => s,
            };
            return Some(AsidLine { kind, state, count });
        }
    }
    None
}

/// Every ASID line of the log, in order.
pub fn asid_lines(lines: &[String]) -> Vec<(AsidLine, &str)> {
    lines
        .iter()
        .filter_map(|l| asid_line(l).map(|a| (a, l.as_str())))
        .collect()
}

/// `virt/tdx: BIOS enabled: private KeyID range [32, 64)` → the KeyIDs TDs can use (one
/// of the range is the TDX module's own): 31.
pub fn tdx_guest_keyids(line: &str) -> Option<u32> {
    let inner = line.split("KeyID range").nth(1)?;
    let inner = inner.split_once('[')?.1;
    let (a, b) = inner.split_once(',')?;
    let a: u32 = a.trim().parse().ok()?;
    let b: u32 = b.trim().trim_end_matches([')', ']']).trim().parse().ok()?;
    Some(b.saturating_sub(a).saturating_sub(1))
}

/// The first line containing `needle`, ignoring ASCII case.
pub fn find_ci<'a>(lines: &'a [String], needle: &str) -> Option<&'a str> {
    let n = needle.to_ascii_lowercase();
    lines
        .iter()
        .map(String::as_str)
        .find(|l| l.to_ascii_lowercase().contains(&n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asid_ranges() {
        assert_eq!(
            asid_range("kvm_amd: SEV-SNP enabled (ASIDs 1 - 99)"),
            Some(99)
        );
        assert_eq!(asid_range("SEV-ES and SEV-SNP supported: 509 ASIDs"), None);
        assert_eq!(asid_range("no numbers"), None);
    }

    #[test]
    fn every_kvm_amd_asid_line_format() {
        use AsidKind::*;
        use AsidState::*;
        let cases = [
            (
                "kvm_amd: SEV-SNP enabled (ASIDs 1 - 99)",
                SevSnp,
                Enabled,
                Some(99),
            ),
            (
                "kvm_amd: SEV-ES enabled (ASIDs 1 - 99)",
                SevEs,
                Enabled,
                Some(99),
            ),
            (
                "kvm_amd: SEV enabled (ASIDs 100 - 509)",
                Sev,
                Enabled,
                Some(410),
            ),
            (
                "kvm_amd: SEV-ES unusable (ASIDs 100 - 99)",
                SevEs,
                Unusable,
                Some(0),
            ),
            (
                "kvm_amd: SEV-SNP disabled (ASIDs 1 - 99)",
                SevSnp,
                Disabled,
                Some(99),
            ),
            ("kvm_amd: SEV-SNP disabled", SevSnp, Disabled, None),
            (
                "SEV-ES and SEV-SNP supported: 509 ASIDs",
                SevEsAndSnp,
                Enabled,
                Some(509),
            ),
            ("kvm_amd: SEV supported: 410 ASIDs", Sev, Enabled, Some(410)),
            (
                "kvm_amd: SEV-ES supported: 99 ASIDs",
                SevEs,
                Enabled,
                Some(99),
            ),
        ];
        for (line, kind, state, count) in cases {
            assert_eq!(
                asid_line(line),
                Some(AsidLine { kind, state, count }),
                "{line}"
            );
        }
        assert_eq!(
            asid_line("SEV-SNP: RMP table physical range [0x1 - 0x2]"),
            None
        );
        assert_eq!(
            asid_line("ccp 0000:45:00.1: SEV-SNP API:1.55 build:21"),
            None
        );
    }

    #[test]
    fn tdx_keyid_ranges() {
        assert_eq!(
            tdx_guest_keyids("virt/tdx: BIOS enabled: private KeyID range [32, 64)"),
            Some(31)
        );
        assert_eq!(tdx_guest_keyids("virt/tdx: module initialized"), None);
    }
}
