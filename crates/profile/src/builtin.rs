//! The profiles shipped in `profiles/`, embedded in the binary so `--profile NAME` needs no files.

/// `(name, YAML text)` of every built-in profile, in the order `profiles list` shows them.
pub static PROFILES: &[(&str, &str)] = &[
    ("x86_64", include_str!("../../../profiles/x86_64.yaml")),
    ("s390x", include_str!("../../../profiles/s390x.yaml")),
    ("aarch64", include_str!("../../../profiles/aarch64.yaml")),
    ("remote", include_str!("../../../profiles/remote.yaml")),
    ("nvidia-gpu", include_str!("../../../profiles/nvidia-gpu.yaml")),
];

/// Names of the built-in profiles.
pub fn names() -> impl Iterator<Item = &'static str> {
    PROFILES.iter().map(|(n, _)| *n)
}

/// The YAML text of a built-in profile.
pub fn source(name: &str) -> Option<&'static str> {
    PROFILES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}
