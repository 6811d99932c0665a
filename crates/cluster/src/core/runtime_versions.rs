//! What kata-deploy 4.1.0 refuses on a node for its container runtime
//! (docs/cluster-lifecycle.md#runtime-versions): any snapshotter mapping (every profile
//! maps nydus) needs containerd 1.7 or newer, an `erofs` mapping containerd 2.2.0 or newer.
//! A CRI-O node takes CRI-O's path (its snapshotter mapping is ignored there). With
//! `customContainerd`, the version that counts is the one the agent installs first, read
//! from the tarball's file name where it says it. Pure: the nodes as preflight listed them.

use std::collections::{BTreeMap, BTreeSet};

use super::preflight::Finding;
use super::snapshot::NodeSnap;

/// A `major.minor.patch` version.
pub type Version = (u32, u32, u32);

/// The runtime a node reports in `status.nodeInfo.containerRuntimeVersion`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runtime {
    /// `containerd://<version>` (k3s/rke2 builds included).
    Containerd(Option<Version>),
    /// `cri-o://<version>`.
    Crio,
    /// Anything else.
    Other(String),
}

/// The first `a.b.c` in `s` (`1.7.11-k3s2` → 1.7.11).
pub fn first_version(s: &str) -> Option<Version> {
    let b = s.as_bytes();
    (0..b.len())
        .filter(|&i| b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit()))
        .find_map(|i| {
            let mut parts = s[i..].splitn(3, '.');
            let ma = parts.next()?.parse().ok()?;
            let mi = parts.next()?.parse().ok()?;
            let rest = parts.next()?;
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let pa = rest[..end].parse().ok()?;
            Some((ma, mi, pa))
        })
}

/// Reads `containerRuntimeVersion`.
pub fn runtime(version: &str) -> Runtime {
    let v = version.to_ascii_lowercase();
    if v.contains("cri-o") || v.contains("crio") {
        Runtime::Crio
    } else if let Some(rest) = v.strip_prefix("containerd://") {
        Runtime::Containerd(first_version(rest))
    } else {
        Runtime::Other(version.to_string())
    }
}

/// The containerd version in a release tarball's file name
/// (`.../containerd-2.1.9-linux-amd64.tar.gz`), if it says one.
pub fn tarball_version(url: &str) -> Option<Version> {
    let file = url.rsplit('/').next().unwrap_or(url);
    let at = file.find("containerd")?;
    first_version(&file[at..])
}

/// What the plan needs of the runtime on each architecture.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// Per node architecture (Kubernetes spelling): shim → its snapshotter mapping.
    pub mappings: BTreeMap<String, BTreeMap<String, String>>,
    /// `customContainerd` on: per architecture, the version its tarball installs (`None`:
    /// the file name does not say).
    pub custom: Option<BTreeMap<String, Option<Version>>>,
    /// `snapshotter.erofsDmverity`: erofs layers behind dm-verity.
    pub dmverity: bool,
}

/// What `config` needs: each enabled shim's snapshotter mapping per architecture, and the
/// custom containerd's version per architecture.
pub fn needs_of(config: &cococtl_profile::Config) -> Needs {
    let mut mappings: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for s in config.shims.iter().filter(|s| !s.snapshotter.is_empty()) {
        for a in &s.arches {
            mappings
                .entry(a.k8s_name().to_string())
                .or_default()
                .insert(s.shim.name.to_string(), s.snapshotter.clone());
        }
    }
    let custom = config.custom_containerd.as_ref().map(|c| {
        mappings
            .keys()
            .filter_map(|a| cococtl_core::Arch::from_k8s_name(a).map(|arch| (a.clone(), arch)))
            .map(|(a, arch)| {
                let v = c.agent.tarball(arch).and_then(|t| tarball_version(&t.url));
                (a, v)
            })
            .collect()
    });
    Needs {
        mappings,
        custom,
        dmverity: config.erofs_dmverity,
    }
}

const SNAPSHOTTER_MIN: Version = (1, 7, 0);
const EROFS_MIN: Version = (2, 2, 0);

fn show(v: Version) -> String {
    format!("{}.{}.{}", v.0, v.1, v.2)
}

/// The nodes (with their version) a rule refuses, and the shims whose mapping needs it.
type Refused = (Vec<String>, BTreeSet<String>);

/// The refusals and the notes for `nodes` (those the plan targets).
pub fn check(nodes: &[NodeSnap], needs: &Needs) -> (Vec<Finding>, Vec<String>) {
    // (rule, minimum) → nodes with their version, and the shims that need it.
    let mut refused: BTreeMap<(&str, Version), Refused> = BTreeMap::new();
    let mut notes = vec![];
    let mut crio = vec![];
    for n in nodes {
        let Some(mapped) = needs.mappings.get(n.arch()).filter(|m| !m.is_empty()) else {
            continue;
        };
        let (version, from) = match needs.custom.as_ref().and_then(|c| c.get(n.arch())) {
            Some(Some(v)) => (Some(*v), "customContainerd installs"),
            Some(None) => {
                notes.push(format!(
                    "node {}: the customContainerd tarball for {} does not name its version; kata-deploy 4.1.0 needs containerd {} or newer there ({} for erofs)",
                    n.name,
                    n.arch(),
                    show(SNAPSHOTTER_MIN),
                    show(EROFS_MIN)
                ));
                continue;
            }
            None => match runtime(&n.container_runtime) {
                Runtime::Containerd(Some(v)) => (Some(v), "runs"),
                Runtime::Containerd(None) | Runtime::Other(_) => (None, "runs"),
                Runtime::Crio => {
                    crio.push(format!("{} ({})", n.name, n.container_runtime));
                    continue;
                }
            },
        };
        let Some(v) = version else {
            notes.push(format!(
                "node {}: cannot read a containerd version from `{}`; kata-deploy 4.1.0 needs containerd {} or newer for the snapshotter mapping",
                n.name,
                n.container_runtime,
                show(SNAPSHOTTER_MIN)
            ));
            continue;
        };
        let label = format!("{} ({from} containerd {})", n.name, show(v));
        if v < SNAPSHOTTER_MIN {
            let e = refused
                .entry(("any snapshotter mapping", SNAPSHOTTER_MIN))
                .or_default();
            e.0.push(label.clone());
            e.1.extend(mapped.keys().cloned());
        }
        let erofs: BTreeSet<String> = mapped
            .iter()
            .filter(|(_, s)| s.as_str() == "erofs")
            .map(|(k, _)| k.clone())
            .collect();
        if !erofs.is_empty() && v < EROFS_MIN {
            let e = refused.entry(("an erofs mapping", EROFS_MIN)).or_default();
            e.0.push(label);
            e.1.extend(erofs);
        }
    }
    if !crio.is_empty() {
        notes.push(format!(
            "{} node(s) run CRI-O: {}; kata-deploy 4.1.0 configures CRI-O there, where the snapshotter mapping is ignored and only crio.guestPull applies (docs/cluster-lifecycle.md#runtime-versions)",
            crio.len(),
            crio.join(", ")
        ));
    }
    let findings = refused
        .into_iter()
        .map(|((rule, min), (nodes, shims))| {
            let shims: Vec<String> = shims.into_iter().collect();
            Finding {
                problem: format!(
                    "kata-deploy 4.1.0 refuses {rule} with containerd older than {}, and would crash-loop on {} node(s): {} (mapped shims: {}; docs/cluster-lifecycle.md#runtime-versions)",
                    show(min),
                    nodes.len(),
                    nodes.join(", "),
                    shims.join(", ")
                ),
                fix: format!(
                    "upgrade containerd on those nodes to {} or newer, or let cococtl install one first (--set customContainerd.enabled=true with a containerd-{}-or-newer tarballUrl and its sha256), or leave those nodes out with a nodeSelector",
                    show(min),
                    show(min)
                ),
            }
        })
        .collect();
    (findings, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, runtime: &str) -> NodeSnap {
        let n: k8s_openapi::api::core::v1::Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/arch": "amd64"}},
            "status": {"nodeInfo": {"architecture": "amd64", "containerRuntimeVersion": runtime,
                "kernelVersion": "", "osImage": "", "kubeletVersion": "v1.36.0", "kubeProxyVersion": "",
                "bootID": "", "machineID": "", "operatingSystem": "linux", "systemUUID": ""}}
        }))
        .unwrap();
        NodeSnap::of(&n)
    }

    fn needs(snapshotter: &str, custom: Option<Option<Version>>) -> Needs {
        Needs {
            mappings: [(
                "amd64".to_string(),
                [("qemu-snp".to_string(), snapshotter.to_string())].into(),
            )]
            .into(),
            custom: custom.map(|c| [("amd64".to_string(), c)].into()),
            dmverity: false,
        }
    }

    #[test]
    fn versions_are_read_from_runtime_strings_and_tarball_names() {
        assert_eq!(
            runtime("containerd://1.6.20"),
            Runtime::Containerd(Some((1, 6, 20)))
        );
        assert_eq!(
            runtime("containerd://1.7.11-k3s2"),
            Runtime::Containerd(Some((1, 7, 11)))
        );
        assert_eq!(
            runtime("containerd://2.2.2-bd1.34"),
            Runtime::Containerd(Some((2, 2, 2)))
        );
        assert_eq!(runtime("cri-o://1.30.2"), Runtime::Crio);
        assert_eq!(
            runtime("docker://24.0.7"),
            Runtime::Other("docker://24.0.7".into())
        );
        assert_eq!(
            tarball_version("https://x/v2.1.9/containerd-2.1.9-linux-amd64.tar.gz"),
            Some((2, 1, 9))
        );
        assert_eq!(
            tarball_version("https://x/containerd-static-1.7.24-linux-arm64.tar.gz"),
            Some((1, 7, 24))
        );
        assert_eq!(tarball_version("https://x/c.tar.gz"), None);
    }

    #[test]
    fn the_rules_refuse_what_kata_deploy_refuses_and_nothing_else() {
        // (node runtime, mapping, customContainerd, refused minimum)
        type Row = (
            &'static str,
            &'static str,
            Option<Option<Version>>,
            Option<&'static str>,
        );
        let table: &[Row] = &[
            ("containerd://1.6.20", "nydus", None, Some("1.7.0")),
            ("containerd://1.6.20", "", None, None),
            ("containerd://1.7.0", "nydus", None, None),
            ("containerd://1.7.24", "erofs", None, Some("2.2.0")),
            ("containerd://2.1.9", "erofs", None, Some("2.2.0")),
            ("containerd://2.2.0", "erofs", None, None),
            ("containerd://1.6.20", "nydus", Some(Some((2, 1, 9))), None),
            (
                "containerd://2.2.0",
                "nydus",
                Some(Some((1, 6, 20))),
                Some("1.7.0"),
            ),
            ("containerd://2.1.9", "erofs", Some(Some((2, 2, 1))), None),
            ("cri-o://1.30.2", "erofs", None, None),
        ];
        for (rt, snap, custom, want) in table {
            let n = needs(snap, *custom);
            let n = if snap.is_empty() {
                Needs {
                    mappings: Default::default(),
                    ..n
                }
            } else {
                n
            };
            let (f, _) = check(&[node("n1", rt)], &n);
            match want {
                None => assert!(f.is_empty(), "{rt} {snap} {custom:?}: {f:?}"),
                Some(min) => {
                    assert_eq!(f.len(), 1, "{rt} {snap} {custom:?}: {f:?}");
                    let t = f[0].to_string();
                    assert!(
                        t.contains(&format!("older than {min}"))
                            && t.contains("n1 (")
                            && t.contains("qemu-snp"),
                        "{t}"
                    );
                    assert!(t.contains("customContainerd.enabled=true"), "{t}");
                }
            }
        }
    }

    #[test]
    fn cri_o_and_unknown_versions_are_notes_not_refusals() {
        let (f, notes) = check(&[node("c1", "cri-o://1.30.2")], &needs("nydus", None));
        assert!(f.is_empty());
        assert!(
            notes[0].contains("CRI-O") && notes[0].contains("c1 (cri-o://1.30.2)"),
            "{notes:?}"
        );
        let (f, notes) = check(
            &[node("n1", "containerd://1.6.20")],
            &needs("nydus", Some(None)),
        );
        assert!(f.is_empty());
        assert!(notes[0].contains("does not name its version"), "{notes:?}");
    }

    #[test]
    fn nodes_are_named_together_per_rule() {
        let (f, _) = check(
            &[
                node("a", "containerd://1.6.20"),
                node("b", "containerd://1.6.9"),
                node("c", "containerd://2.1.9"),
            ],
            &needs("nydus", None),
        );
        assert_eq!(f.len(), 1);
        let t = f[0].to_string();
        assert!(
            t.contains("2 node(s): a (runs containerd 1.6.20), b (runs containerd 1.6.9)"),
            "{t}"
        );
    }
}
