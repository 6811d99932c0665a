//! Every label and annotation key cococtl, its CLI flags or one of its agents may write on a
//! Node, in one list ([`KEYS`]), and the rules uninstall cleans them up by.
//!
//! Nodes are the objects cococtl writes to but does not own, so nothing it sets there goes
//! away with its own objects. Two kinds of key:
//!
//! - cococtl's own (its prefixes): removed from every node on uninstall.
//! - keys owned by others (NFD's TEE labels, the GPU operator's workload label, the worker
//!   label): set only where the user asked for it, and each time cococtl sets one it records
//!   that it did in an annotation of its own ([`record_key`]), with the value it set and the
//!   value it replaced. Uninstall restores exactly those, and only while the label still has
//!   the value cococtl set (a later change by someone else is theirs to keep).
//!
//! Pure: the writers compute their merge patches from [`Changes`], and a test in each writer
//! crate fails when a writer uses a key this list does not have.

use std::collections::BTreeMap;

use crate::labels::{
    CONTAINERD_MESSAGE, CONTAINERD_SHA256, CONTAINERD_STATE, CONTAINERD_VERSION,
    GPU_WORKLOAD_LABEL, SE_NFD_LABEL, SNP_NFD_LABEL, TAKEOVER_CLEANUP, TDX_NFD_LABEL,
};

/// Label and annotation domain of the probe agent (`<domain>/<capability>`, `/profile`).
pub const PROBE_DOMAIN: &str = "probe.cococtl.confidentialcontainers.org";
/// The probe agent's report annotation.
pub const PROBE_REPORT: &str = "probe.cococtl.confidentialcontainers.org/report";
/// The probe agent's recommended-profile label.
pub const PROBE_PROFILE: &str = "probe.cococtl.confidentialcontainers.org/profile";
/// The label the cloud-api-adaptor DaemonSet selects on (`--label-workers`).
pub const WORKER_LABEL: &str = "node.kubernetes.io/worker";
/// Prefix of the annotations recording that cococtl set a label owned by others:
/// `<prefix><label with '/' as '_'>`.
pub const RECORD_PREFIX: &str = "cococtl.confidentialcontainers.org/set.";

/// A label or an annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `metadata.labels`.
    Label,
    /// `metadata.annotations`.
    Annotation,
}

/// Whose key it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// cococtl's: removed from every node on uninstall.
    Cococtl,
    /// Someone else's (NFD, the GPU operator, the worker label): set only on request,
    /// recorded, restored only where the record says cococtl set it.
    Foreign,
}

/// One key (or key prefix) cococtl may write on a Node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The key, or a prefix when [`Key::prefix`].
    pub key: &'static str,
    /// `key` is a prefix: every key starting with it.
    pub prefix: bool,
    /// Label or annotation.
    pub kind: Kind,
    /// Whose key it is.
    pub owner: Owner,
    /// Who writes it.
    pub writer: &'static str,
}

impl Key {
    /// Whether `key` of `kind` is this entry.
    pub fn matches(&self, kind: Kind, key: &str) -> bool {
        self.kind == kind
            && if self.prefix {
                key.starts_with(self.key)
            } else {
                key == self.key
            }
    }
}

const fn own(key: &'static str, prefix: bool, kind: Kind, writer: &'static str) -> Key {
    Key {
        key,
        prefix,
        kind,
        owner: Owner::Cococtl,
        writer,
    }
}

const fn foreign(key: &'static str, writer: &'static str) -> Key {
    Key {
        key,
        prefix: false,
        kind: Kind::Label,
        owner: Owner::Foreign,
        writer,
    }
}

/// Every key cococtl or one of its agents may write on a Node.
pub const KEYS: &[Key] = &[
    own(CONTAINERD_STATE, false, Kind::Label, "containerd agent"),
    own(
        CONTAINERD_VERSION,
        false,
        Kind::Annotation,
        "containerd agent",
    ),
    own(
        CONTAINERD_SHA256,
        false,
        Kind::Annotation,
        "containerd agent",
    ),
    own(
        CONTAINERD_MESSAGE,
        false,
        Kind::Annotation,
        "containerd agent",
    ),
    own(
        "probe.cococtl.confidentialcontainers.org/",
        true,
        Kind::Label,
        "probe agent (one label per capability, and the profile)",
    ),
    own(PROBE_REPORT, false, Kind::Annotation, "probe agent"),
    own(
        RECORD_PREFIX,
        true,
        Kind::Annotation,
        "every writer of a foreign label: the record that cococtl set it",
    ),
    own(
        TAKEOVER_CLEANUP,
        false,
        Kind::Label,
        "install --take-over (a node's turn in an old install's clean-up)",
    ),
    foreign(WORKER_LABEL, "install --label-workers"),
    foreign(GPU_WORKLOAD_LABEL, "check --label-gpu-nodes"),
    foreign(SNP_NFD_LABEL, "probe agent with probe.teeLabels"),
    foreign(TDX_NFD_LABEL, "probe agent with probe.teeLabels"),
    foreign(SE_NFD_LABEL, "probe agent with probe.teeLabels"),
];

/// The list entry for `key`, if cococtl may write it.
pub fn listed(kind: Kind, key: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.matches(kind, key))
}

/// The annotation recording that cococtl set the foreign label `label`.
pub fn record_key(label: &str) -> String {
    format!("{RECORD_PREFIX}{}", label.replace('/', "_"))
}

/// The foreign label a record annotation is about (`None`: not a record, or for a label
/// that is not in [`KEYS`]).
pub fn recorded_label(annotation: &str) -> Option<&'static str> {
    KEYS.iter()
        .filter(|k| k.owner == Owner::Foreign)
        .map(|k| k.key)
        .find(|l| record_key(l) == annotation)
}

/// What cococtl set a foreign label to, and what the label was before (`None`: absent).
/// Written as `set:<value>` or `set:<value>,was:<value>` (label values hold neither `:`
/// nor `,`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The value cococtl set.
    pub set: String,
    /// The value it replaced.
    pub was: Option<String>,
}

impl Record {
    /// The annotation value.
    pub fn encode(&self) -> String {
        match &self.was {
            Some(w) => format!("set:{},was:{w}", self.set),
            None => format!("set:{}", self.set),
        }
    }

    /// Reads an annotation value back (`None`: not a record cococtl wrote).
    pub fn decode(s: &str) -> Option<Record> {
        let rest = s.strip_prefix("set:")?;
        Some(match rest.split_once(",was:") {
            Some((set, was)) => Record {
                set: set.into(),
                was: Some(was.into()),
            },
            None => Record {
                set: rest.into(),
                was: None,
            },
        })
    }
}

/// Changes for one node's merge patch: `Some` sets, `None` removes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Label changes.
    pub labels: BTreeMap<String, Option<String>>,
    /// Annotation changes.
    pub annotations: BTreeMap<String, Option<String>>,
}

impl Changes {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.annotations.is_empty()
    }

    /// Adds `other`'s changes (its entries win).
    pub fn extend(&mut self, other: Changes) {
        self.labels.extend(other.labels);
        self.annotations.extend(other.annotations);
    }
}

/// Sets the foreign label `label` to `value` on a node with these labels and annotations,
/// recording it. A label that already has that value and no record is someone else's: it is
/// left alone and not recorded (uninstall must not remove it). Empty when nothing changes.
pub fn set_foreign(
    label: &str,
    value: &str,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Changes {
    let mut c = Changes::default();
    let now = labels.get(label);
    let record = annotations
        .get(&record_key(label))
        .and_then(|r| Record::decode(r));
    let was = match (now, record) {
        (Some(v), Some(r)) if v == value && r.set == value => return c,
        (Some(v), None) if v == value => return c,
        // cococtl set it before: keep the original value to restore.
        (_, Some(r)) => r.was,
        (now, None) => now.cloned(),
    };
    c.labels.insert(label.into(), Some(value.into()));
    c.annotations.insert(
        record_key(label),
        Some(
            Record {
                set: value.into(),
                was,
            }
            .encode(),
        ),
    );
    c
}

/// Undoes cococtl's setting of the foreign label `label`: back to the value it replaced (or
/// removed) while it still has the value cococtl set, and the record removed. A label
/// cococtl did not set is never touched.
pub fn unset_foreign(
    label: &str,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Changes {
    let mut c = Changes::default();
    let rk = record_key(label);
    let Some(raw) = annotations.get(&rk) else {
        return c;
    };
    if let Some(r) = Record::decode(raw) {
        if labels.get(label) == Some(&r.set) {
            c.labels.insert(label.into(), r.was);
        }
    }
    c.annotations.insert(rk, None);
    c
}

/// Everything uninstall changes on a node: every cococtl key removed (except those
/// `keep` names: a failed restore's evidence), every foreign label cococtl recorded
/// restored. Empty: the node carries nothing of cococtl's.
pub fn cleanup(
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    keep: &dyn Fn(Kind, &str) -> bool,
) -> Changes {
    let mut c = Changes::default();
    for (kind, map) in [(Kind::Label, labels), (Kind::Annotation, annotations)] {
        for k in map.keys() {
            let owned = listed(kind, k).is_some_and(|e| e.owner == Owner::Cococtl);
            if owned && !keep(kind, k) {
                let slot = match kind {
                    Kind::Label => &mut c.labels,
                    Kind::Annotation => &mut c.annotations,
                };
                slot.insert(k.clone(), None);
            }
        }
    }
    for a in annotations.keys() {
        if let Some(label) = recorded_label(a) {
            c.extend(unset_foreign(label, labels, annotations));
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_record_annotation_is_a_valid_key_that_reads_back() {
        for k in KEYS.iter().filter(|k| k.owner == Owner::Foreign) {
            let r = record_key(k.key);
            let (prefix, name) = r.split_once('/').unwrap();
            assert!(prefix.len() <= 253, "{r}");
            assert!(name.len() <= 63, "{r}: name part over 63 characters");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
                "{r}"
            );
            assert_eq!(recorded_label(&r), Some(k.key));
            assert_eq!(listed(Kind::Annotation, &r).unwrap().owner, Owner::Cococtl);
        }
    }

    #[test]
    fn records_read_back_for_any_label_values() {
        for set in ["", "true", "vm-passthrough"] {
            for was in [None, Some(""), Some("container")] {
                let r = Record {
                    set: set.into(),
                    was: was.map(String::from),
                };
                assert_eq!(Record::decode(&r.encode()), Some(r));
            }
        }
    }

    #[test]
    fn setting_then_cleaning_up_returns_every_node_to_what_it_was() {
        let starts = [
            map(&[]),
            map(&[(WORKER_LABEL, "x")]),
            map(&[(GPU_WORKLOAD_LABEL, "container")]),
            map(&[(SNP_NFD_LABEL, "false"), ("other", "1")]),
        ];
        for start in starts {
            for label in [WORKER_LABEL, GPU_WORKLOAD_LABEL, SNP_NFD_LABEL] {
                let mut labels = start.clone();
                let mut ann = BTreeMap::new();
                let c = set_foreign(label, "true", &labels, &ann);
                apply(&mut labels, &mut ann, &c);
                assert_eq!(labels[label], "true");
                let c = cleanup(&labels, &ann, &|_, _| false);
                apply(&mut labels, &mut ann, &c);
                assert_eq!(labels, start, "{label}");
                assert!(ann.is_empty(), "{ann:?}");
            }
        }
    }

    #[test]
    fn a_label_someone_else_already_set_is_neither_recorded_nor_removed() {
        let mut labels = map(&[(WORKER_LABEL, "")]);
        let mut ann = BTreeMap::new();
        assert!(set_foreign(WORKER_LABEL, "", &labels, &ann).is_empty());
        let c = cleanup(&labels, &ann, &|_, _| false);
        apply(&mut labels, &mut ann, &c);
        assert_eq!(labels, map(&[(WORKER_LABEL, "")]));
    }

    #[test]
    fn a_label_changed_by_someone_else_after_cococtl_set_it_is_theirs() {
        let mut labels = map(&[]);
        let mut ann = BTreeMap::new();
        let c = set_foreign(GPU_WORKLOAD_LABEL, "vm-passthrough", &labels, &ann);
        apply(&mut labels, &mut ann, &c);
        labels.insert(GPU_WORKLOAD_LABEL.into(), "container".into());
        let c = cleanup(&labels, &ann, &|_, _| false);
        apply(&mut labels, &mut ann, &c);
        assert_eq!(labels, map(&[(GPU_WORKLOAD_LABEL, "container")]));
        assert!(ann.is_empty());
    }

    #[test]
    fn cleanup_removes_every_cococtl_key_and_nothing_else() {
        let labels = map(&[
            (CONTAINERD_STATE, "ready"),
            ("probe.cococtl.confidentialcontainers.org/snp", "ready"),
            (PROBE_PROFILE, "x86_64"),
            ("kubernetes.io/arch", "amd64"),
            (SNP_NFD_LABEL, "true"),
        ]);
        let ann = map(&[
            (PROBE_REPORT, "{}"),
            (CONTAINERD_VERSION, "2.1.9"),
            ("x/y", "z"),
        ]);
        let c = cleanup(&labels, &ann, &|_, k| k == CONTAINERD_VERSION);
        let removed: Vec<&str> = c.labels.keys().map(String::as_str).collect();
        assert_eq!(
            removed,
            [
                CONTAINERD_STATE,
                "probe.cococtl.confidentialcontainers.org/profile",
                "probe.cococtl.confidentialcontainers.org/snp"
            ]
        );
        assert_eq!(c.annotations.keys().collect::<Vec<_>>(), [PROBE_REPORT]);
    }

    fn apply(
        labels: &mut BTreeMap<String, String>,
        ann: &mut BTreeMap<String, String>,
        c: &Changes,
    ) {
        for (m, ch) in [(&mut *labels, &c.labels), (&mut *ann, &c.annotations)] {
            for (k, v) in ch {
                match v {
                    Some(v) => m.insert(k.clone(), v.clone()),
                    None => m.remove(k),
                };
            }
        }
    }
}
