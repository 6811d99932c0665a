//! cgroup v2 `misc.capacity`: lines `sev 410`, `sev_es 99`, `tdx 31`.

/// The capacity of resource `name`.
pub fn get(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next()? == name).then_some(())?;
        it.next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_named_lines() {
        assert_eq!(super::get("sev 410\nsev_es 99\n", "sev_es"), Some(99));
        assert_eq!(super::get("sev 410\n", "tdx"), None);
        assert_eq!(super::get("tdx x\n", "tdx"), None);
    }
}
