//! PCI sysfs attributes: ids, class codes, `resource` BAR lines.

/// `0x10de` → 0x10de.
pub fn hex_id(s: &str) -> Option<u32> {
    u32::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok()
}

/// `0x030200` → (base class 0x03, subclass 0x02).
pub fn class(s: &str) -> Option<(u8, u8)> {
    let v = hex_id(s)?;
    Some(((v >> 16) as u8, (v >> 8) as u8))
}

/// Total size of the memory BARs in a `resource` file (lines `start end flags`).
pub fn bar_bytes(resource: &str) -> u64 {
    resource
        .lines()
        .filter_map(|l| {
            let mut it = l
                .split_whitespace()
                .map(|x| u64::from_str_radix(x.trim_start_matches("0x"), 16).ok());
            let (start, end) = (it.next()??, it.next()??);
            (end > start).then(|| end - start + 1)
        })
        .fold(0u64, u64::saturating_add)
}

/// The last path component of a sysfs link (`../../bus/pci/drivers/vfio-pci` → `vfio-pci`).
pub fn link_name(target: &str) -> &str {
    target.rsplit('/').next().unwrap_or(target)
}

/// NVIDIA's PCI vendor id.
pub const NVIDIA: u32 = 0x10de;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_classes_and_bars() {
        assert_eq!(hex_id("0x10de\n"), Some(0x10de));
        assert_eq!(class("0x030200"), Some((3, 2)));
        assert_eq!(class("0x068000"), Some((6, 0x80)));
        assert_eq!(
            bar_bytes("0x00000000fd000000 0x00000000fdffffff 0x0000000000040200\n0x0 0x0 0x0\n"),
            0x100_0000
        );
        assert_eq!(link_name("../../../bus/pci/drivers/vfio-pci"), "vfio-pci");
    }
}
