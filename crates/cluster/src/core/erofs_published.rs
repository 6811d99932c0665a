//! What the nodes' published probe results (`docs/probe-checks.md#erofs-mkfs`) say about an
//! erofs mapping before it is installed: a node whose probe saw a kernel without erofs, or
//! a host `mkfs.erofs` older than erofs-utils 1.8.2 (or without `--mkfs-time`/`--sort`),
//! would take the erofs snapshotter and fail every pull of the shims mapped to it. Only a
//! published *fail* refuses: a node the probe could not see into, or never probed, is a
//! note, because a refusal needs positive evidence. Pure: the nodes' summaries as
//! preflight listed them.

use std::collections::{BTreeMap, BTreeSet};

use cococtl_probe::publish;

use super::preflight::Finding;
use super::runtime_versions::Needs;

/// The erofs checks whose published failure refuses the node, with the fix to give when
/// the summary carries none (it keeps at most a few remediations).
const CHECKS: [(&str, &str); 3] = [
    (
        "erofs.kernel",
        "use a kernel with CONFIG_EROFS_FS on those nodes (most distribution kernels since 5.4 ship the erofs module)",
    ),
    (
        "erofs.mkfs",
        "install erofs-utils 1.8.2 or newer on those nodes (Debian trixie or bookworm-backports, Ubuntu 25.04+, Fedora 41+)",
    ),
    (
        "erofs.dmverity",
        "use a kernel with CONFIG_DM_VERITY on those nodes, or snapshotter.erofsDmverity=false",
    ),
];
/// A check whose published warning matters to an erofs mapping, noted, never refused
/// (docs/probe-checks.md#erofs-fsverity).
const FSVERITY: &str = "erofs.fsverity";
const OR_ELSE: &str = "or map those shims to nydus, or leave those nodes out with a nodeSelector; then `cococtl check` to publish new results";

/// A failing check's nodes, the shims mapped to erofs there, and the fixes as published.
type Failed = (Vec<String>, BTreeSet<String>, BTreeSet<String>);

/// One node as preflight sees it for this rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbedNode {
    /// The node's name.
    pub name: String,
    /// `status.nodeInfo.architecture` (Kubernetes spelling).
    pub arch: String,
    /// The probe's summary annotation (`node_keys::PROBE_REPORT`), when published.
    pub report: Option<String>,
}

/// The refusals (one per failing check, naming its nodes) and the notes for `nodes`.
pub fn check(nodes: &[ProbedNode], needs: &Needs) -> (Vec<Finding>, Vec<String>) {
    let mut failed: BTreeMap<&str, Failed> = BTreeMap::new();
    let mut not_probed = vec![];
    let mut notes = vec![];
    for n in nodes {
        let erofs: BTreeSet<String> = needs
            .mappings
            .get(&n.arch)
            .into_iter()
            .flatten()
            .filter(|(_, s)| s.as_str() == "erofs")
            .map(|(shim, _)| shim.clone())
            .collect();
        if erofs.is_empty() {
            continue;
        }
        let Some(report) = n.report.as_deref() else {
            not_probed.push(n.name.clone());
            continue;
        };
        let s = match publish::parse(report) {
            Ok(s) => s,
            Err(e) => {
                notes.push(format!(
                    "node {}: its published probe summary cannot be read ({e}); the erofs prerequisites are not checked there; run `cococtl check`",
                    n.name
                ));
                continue;
            }
        };
        if let Some(e) = &s.error {
            notes.push(format!(
                "node {}: the probe failed there ({e}); the erofs prerequisites are not checked there",
                n.name
            ));
            continue;
        }
        for (id, _) in CHECKS {
            // dm-verity is only needed when erofs layers use it; its absence is a warning.
            if id == "erofs.dmverity" && !needs.dmverity {
                continue;
            }
            let refused = match s.checks.get(id) {
                Some('w') if id == "erofs.dmverity" => Some('f'),
                other => other.copied(),
            };
            match refused.as_ref() {
                Some('f') => {
                    let e = failed.entry(id).or_default();
                    e.0.push(n.name.clone());
                    e.1.extend(erofs.iter().cloned());
                    e.2.extend(
                        s.remediations
                            .iter()
                            .filter(|(c, _)| c == id)
                            .map(|(_, f)| f.clone()),
                    );
                }
                Some('p') => {}
                Some('w') if id == "erofs.mkfs" => notes.push(format!(
                    "node {}: the probe found no mkfs.erofs; the erofs snapshotter needs erofs-utils 1.8.2 or newer there (the probe pod sees the host's programs only through a host mount: docs/probe-checks.md#erofs-mkfs)",
                    n.name
                )),
                Some(_) => notes.push(format!(
                    "node {}: the probe could not observe {id}; see `cococtl check`",
                    n.name
                )),
                None => notes.push(format!(
                    "node {}: its published probe results predate {id}; run `cococtl check`",
                    n.name
                )),
            }
        }
        if s.checks.get(FSVERITY) == Some(&'w') {
            notes.push(format!(
                "node {}: the probe found no fs-verity in its kernel; containerd's erofs snapshotter, configured with enable_fsverity=true, does not start where fs-verity cannot be enabled (docs/probe-checks.md#erofs-fsverity)",
                n.name
            ));
        }
    }
    if !not_probed.is_empty() {
        notes.push(format!(
            "{} node(s) not probed: {}; the erofs prerequisites (kernel erofs, mkfs.erofs from erofs-utils 1.8.2 or newer) are not checked there; run `cococtl check`",
            not_probed.len(),
            not_probed.join(", ")
        ));
    }
    let findings = CHECKS
        .iter()
        .filter_map(|(id, default_fix)| {
            let (nodes, shims, fixes) = failed.remove(id)?;
            let shims: Vec<String> = shims.into_iter().collect();
            let fix = if fixes.is_empty() {
                (*default_fix).to_string()
            } else {
                fixes.into_iter().collect::<Vec<_>>().join("; ")
            };
            Some(Finding {
                problem: format!(
                    "the erofs snapshotter would fail on {} node(s) whose published probe result fails {id}: {} (mapped to erofs: {}; docs/probe-checks.md#{})",
                    nodes.len(),
                    nodes.join(", "),
                    shims.join(", "),
                    id.replace('.', "-")
                ),
                fix: format!("{fix}; {OR_ELSE}"),
            })
        })
        .collect();
    (findings, notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn needs(snapshotter: &str) -> Needs {
        Needs {
            mappings: BTreeMap::from([(
                "amd64".to_string(),
                BTreeMap::from([(
                    "qemu-coco-dev-runtime-rs".to_string(),
                    snapshotter.to_string(),
                )]),
            )]),
            custom: None,
            dmverity: false,
        }
    }

    fn summary(checks: &[(&str, char)], fixes: &[(&str, &str)]) -> String {
        let mut s = publish::failed("x", None);
        s.error = None;
        s.checks = checks.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        s.remediations = fixes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        publish::annotation(&s)
    }

    fn node(name: &str, report: Option<String>) -> ProbedNode {
        ProbedNode {
            name: name.into(),
            arch: "amd64".into(),
            report,
        }
    }

    #[test]
    fn a_published_mkfs_failure_refuses_the_node_with_the_published_fix() {
        let s = summary(
            &[("erofs.kernel", 'p'), ("erofs.mkfs", 'f')],
            &[("erofs.mkfs", "install erofs-utils 1.8.2 or newer")],
        );
        let (f, notes) = check(
            &[node("w1", Some(s.clone())), node("w2", Some(s))],
            &needs("erofs"),
        );
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(
            f[0].problem.contains("fails erofs.mkfs: w1, w2"),
            "{}",
            f[0].problem
        );
        assert!(f[0].problem.contains("qemu-coco-dev-runtime-rs"));
        assert!(
            f[0].fix.starts_with("install erofs-utils 1.8.2"),
            "{}",
            f[0].fix
        );
        assert!(notes.is_empty(), "{notes:?}");
    }

    #[test]
    fn a_published_kernel_failure_refuses_with_a_fix_even_when_none_was_published() {
        let s = summary(&[("erofs.kernel", 'f'), ("erofs.mkfs", 'p')], &[]);
        let (f, _) = check(&[node("w1", Some(s))], &needs("erofs"));
        assert_eq!(f.len(), 1);
        assert!(f[0].problem.contains("erofs.kernel: w1"));
        assert!(f[0].fix.contains("CONFIG_EROFS_FS"));
    }

    #[test]
    fn unprobed_unobserved_and_not_found_are_notes_not_refusals() {
        let unseen = summary(&[("erofs.kernel", 's'), ("erofs.mkfs", 'w')], &[]);
        let old = summary(&[("erofs.kernel", 'p')], &[]);
        let (f, notes) = check(
            &[
                node("w1", None),
                node("w2", Some(unseen)),
                node("w3", Some(old)),
                node("w4", Some("not json".into())),
            ],
            &needs("erofs"),
        );
        assert!(f.is_empty(), "{f:?}");
        let all = notes.join("\n");
        assert!(all.contains("not probed: w1; "), "{all}");
        assert!(all.contains("run `cococtl check`"), "{all}");
        assert!(
            all.contains("node w2: the probe found no mkfs.erofs"),
            "{all}"
        );
        assert!(
            all.contains("node w2: the probe could not observe erofs.kernel"),
            "{all}"
        );
        assert!(
            all.contains("node w3: its published probe results predate erofs.mkfs"),
            "{all}"
        );
        assert!(
            all.contains("node w4: its published probe summary cannot be read"),
            "{all}"
        );
    }

    #[test]
    fn no_dm_verity_refuses_only_when_erofs_layers_use_it_and_no_fs_verity_is_a_note() {
        let s = summary(
            &[
                ("erofs.kernel", 'p'),
                ("erofs.mkfs", 'p'),
                ("erofs.fsverity", 'w'),
                ("erofs.dmverity", 'w'),
            ],
            &[],
        );
        let (f, notes) = check(&[node("w1", Some(s.clone()))], &needs("erofs"));
        assert!(f.is_empty(), "dm-verity not asked for: {f:?}");
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].contains("node w1: the probe found no fs-verity")
                && notes[0].contains("enable_fsverity=true"),
            "{notes:?}"
        );
        let dm = Needs {
            dmverity: true,
            ..needs("erofs")
        };
        let (f, _) = check(&[node("w1", Some(s))], &dm);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(
            f[0].problem.contains("erofs.dmverity: w1"),
            "{}",
            f[0].problem
        );
        assert!(f[0].fix.contains("CONFIG_DM_VERITY"), "{}", f[0].fix);
        let loaded = summary(
            &[
                ("erofs.kernel", 'p'),
                ("erofs.mkfs", 'p'),
                ("erofs.dmverity", 'p'),
            ],
            &[],
        );
        let (f, _) = check(&[node("w1", Some(loaded))], &dm);
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn without_an_erofs_mapping_nothing_is_read() {
        let s = summary(&[("erofs.kernel", 'f'), ("erofs.mkfs", 'f')], &[]);
        let (f, notes) = check(&[node("w1", Some(s)), node("w2", None)], &needs("nydus"));
        assert!(f.is_empty() && notes.is_empty());
        let other_arch = ProbedNode {
            arch: "s390x".into(),
            ..node("w1", None)
        };
        let (f, notes) = check(&[other_arch], &needs("erofs"));
        assert!(f.is_empty() && notes.is_empty());
    }
}
