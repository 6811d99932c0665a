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
}
