//! Pure parsers for the text the kernel exposes. Each accepts any input (garbage included)
//! and returns what it could make of it; none panics.

pub mod capacity;
pub mod cmdline;
pub mod cpuinfo;
pub mod kmsg;
pub mod pci;

/// A module parameter or sysfs boolean: `Y`, `y`, `1` are on; `N`, `n`, `0` are off (tools
/// disagree on the spelling, so accept all of them).
pub fn bool_param(raw: &str) -> Option<bool> {
    match raw.trim() {
        "Y" | "y" | "1" => Some(true),
        "N" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// `6.11.0-foo` → (6, 11).
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.trim().split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_in_every_spelling() {
        for (s, v) in [
            ("Y", Some(true)),
            ("y\n", Some(true)),
            ("1", Some(true)),
            ("N", Some(false)),
            ("0", Some(false)),
            ("maybe", None),
            ("", None),
        ] {
            assert_eq!(bool_param(s), v, "{s:?}");
        }
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(kernel_version("6.18.44-fc-v669"), Some((6, 18)));
        assert_eq!(kernel_version("5.14.0-427.el9.x86_64"), Some((5, 14)));
        assert_eq!(kernel_version("garbage"), None);
    }
}
