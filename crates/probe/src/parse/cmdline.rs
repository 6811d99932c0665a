//! `/proc/cmdline`: whitespace-separated tokens, `key=value` or bare `key`; the last
//! occurrence wins, as in the kernel. Module parameters accept `-` and `_` alike.

/// The effective value of `key` (`Some("")` for a bare flag).
pub fn get<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    let norm = |s: &str| s.replace('-', "_");
    let key = norm(key);
    cmdline
        .split_whitespace()
        .filter_map(|t| {
            let (k, v) = t.split_once('=').unwrap_or((t, ""));
            (norm(k) == key).then_some(v)
        })
        .next_back()
}

/// Whether `key` is present with any value.
pub fn has(cmdline: &str, key: &str) -> bool {
    get(cmdline, key).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_occurrence_wins_and_dashes_equal_underscores() {
        let c = "ro iommu=pt quiet kvm-amd.sev_snp=0 iommu=nopt kvm_amd.sev-snp=1 nohibernate";
        assert_eq!(get(c, "iommu"), Some("nopt"));
        assert_eq!(get(c, "kvm_amd.sev_snp"), Some("1"));
        assert_eq!(get(c, "nohibernate"), Some(""));
        assert_eq!(get(c, "intel_iommu"), None);
    }
}
