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

use crate::catalog::{shim_by_name, Arch};

/// The shims a profile (built-in or a values file's text) enables, per architecture.
///
/// A shim counts for an arch when it is enabled and its `supportedArches` (or, when the
/// profile does not set them, the catalog's) contains that arch.
pub fn enabled_shims(profile_yaml: &str) -> Result<BTreeMap<Arch, Vec<String>>, serde_yaml::Error> {
    let doc: serde_yaml::Value = serde_yaml::from_str(profile_yaml)?;
    let shims = doc.get("shims");
    let disable_all = shims
        .and_then(|s| s.get("disableAll"))
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let mut out: BTreeMap<Arch, Vec<String>> = BTreeMap::new();
    for shim in crate::catalog::SHIMS {
        let entry = shims.and_then(|s| s.get(shim.name));
        let enabled = entry
            .and_then(|e| e.get("enabled"))
            .and_then(|v| v.as_bool())
            .or(shim.default_enabled)
            .unwrap_or(!disable_all);
        if !enabled {
            continue;
        }
        let arches: Vec<Arch> = match entry
            .and_then(|e| e.get("supportedArches"))
            .and_then(|v| v.as_sequence())
        {
            Some(list) => list
                .iter()
                .filter_map(|a| a.as_str().and_then(Arch::from_k8s_name))
                .collect(),
            None => shim_by_name(shim.name)
                .map(|s| s.arches.to_vec())
                .unwrap_or_default(),
        };
        for arch in arches {
            out.entry(arch).or_default().push(shim.name.to_string());
        }
    }
    Ok(out)
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
