//! The profiles shipped in `profiles/`, embedded in the binary so `--profile NAME` needs no files.

/// `(name, YAML text)` of every built-in profile, in the order `profiles list` shows them.
pub static PROFILES: &[(&str, &str)] = &[
    ("x86_64", include_str!("../../../profiles/x86_64.yaml")),
    ("s390x", include_str!("../../../profiles/s390x.yaml")),
    ("aarch64", include_str!("../../../profiles/aarch64.yaml")),
    ("remote", include_str!("../../../profiles/remote.yaml")),
    (
        "nvidia-gpu",
        include_str!("../../../profiles/nvidia-gpu.yaml"),
    ),
];

/// Names of the built-in profiles.
pub fn names() -> impl Iterator<Item = &'static str> {
    PROFILES.iter().map(|(n, _)| *n)
}

/// The YAML text of a built-in profile.
pub fn source(name: &str) -> Option<&'static str> {
    PROFILES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

use std::collections::BTreeMap;

use cococtl_core::Arch;

/// The shims a profile (built-in or a values file's text) enables, per architecture,
/// through the same layering and validation as `render` (so an invalid profile is an
/// error here too). Peer-pods settings are left out: a profile names no cloud provider, so
/// its provider keys are checked only when rendering.
pub fn enabled_shims(profile_yaml: &str) -> Result<BTreeMap<Arch, Vec<String>>, crate::Error> {
    let inputs = crate::Inputs {
        profile: Some(("profile".into(), profile_yaml.into())),
        sets: vec![crate::SetArg {
            string: false,
            arg: "peerpods.enabled=false".into(),
        }],
        namespace: "coco-system".into(),
        ..Default::default()
    };
    let config = crate::resolve(&inputs)?.config;
    Ok(Arch::ALL
        .into_iter()
        .filter_map(|a| {
            let shims: Vec<String> = config.shims_for(a).map(|s| s.name().to_string()).collect();
            (!shims.is_empty()).then_some((a, shims))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_profile_parses_and_enables_shims() {
        for (name, text) in PROFILES {
            let shims = enabled_shims(text).unwrap();
            assert!(!shims.is_empty(), "profile {name} enables no shim");
        }
    }

    #[test]
    fn x86_64_profile_enables_the_coco_shims_on_amd64_only() {
        let shims = enabled_shims(source("x86_64").unwrap()).unwrap();
        assert_eq!(
            shims[&Arch::Amd64],
            [
                "qemu-coco-dev",
                "qemu-nvidia-gpu-snp",
                "qemu-nvidia-gpu-tdx",
                "qemu-snp",
                "qemu-tdx"
            ]
        );
        assert_eq!(shims.len(), 1);
    }
}
