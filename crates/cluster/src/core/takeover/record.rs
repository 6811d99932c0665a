//! The record of a take-over in progress: a ConfigMap in cococtl's release namespace that
//! holds the whole list of actions as planned before the first change and how many are done.
//! Written before the first action and after each one, deleted once every action is done and
//! detection finds nothing left; a rerun of `install --take-over` continues from it, and
//! `status` shows it. Pure: encoding only (docs/take-over.md#record).

use k8s_openapi::api::core::v1::ConfigMap;
use serde::{Deserialize, Serialize};

use super::actions::{Action, InstallActions};

/// The ConfigMap's name.
pub const NAME: &str = "cococtl-takeover";

/// Its data key.
const KEY: &str = "takeover.json";

/// A take-over in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// When it started (RFC 3339).
    pub started: String,
    /// The actions, per found install, as planned at the start.
    pub installs: Vec<InstallActions>,
    /// How many actions (counted over all installs, in order) are done.
    pub done: usize,
    /// The last error, when a run stopped on one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// A record that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("take-over record ConfigMap {NAME}: {0}")]
pub struct RecordError(String);

impl Record {
    /// Every action in order, with the title of its install.
    pub fn flat(&self) -> Vec<(&str, &Action)> {
        self.installs
            .iter()
            .flat_map(|i| i.actions.iter().map(move |a| (i.install.as_str(), a)))
            .collect()
    }

    /// How many actions there are.
    pub fn total(&self) -> usize {
        self.installs.iter().map(|i| i.actions.len()).sum()
    }

    /// Whether every action is done.
    pub fn finished(&self) -> bool {
        self.done >= self.total()
    }

    /// The ConfigMap (namespace set by the caller), labelled as cococtl's.
    pub fn to_config_map(&self, namespace: &str, instance: &str) -> ConfigMap {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(NAME.into());
        cm.metadata.namespace = Some(namespace.into());
        cm.metadata.labels = Some(
            [
                (
                    "app.kubernetes.io/managed-by".to_string(),
                    "cococtl".to_string(),
                ),
                (
                    cococtl_core::labels::INSTANCE.to_string(),
                    instance.to_string(),
                ),
            ]
            .into(),
        );
        cm.data = Some(
            [(
                KEY.to_string(),
                serde_json::to_string_pretty(self).unwrap_or_default(),
            )]
            .into(),
        );
        cm
    }

    /// Reads it back.
    pub fn from_config_map(cm: &ConfigMap) -> Result<Record, RecordError> {
        let text = cm
            .data
            .as_ref()
            .and_then(|d| d.get(KEY))
            .ok_or_else(|| RecordError(format!("no {KEY}")))?;
        serde_json::from_str(text).map_err(|e| RecordError(e.to_string()))
    }

    /// Lines for `status` and the resume message.
    pub fn describe(&self) -> String {
        let total = self.total();
        let mut out = format!(
            "take-over started {}: {} of {total} step(s) done",
            self.started, self.done
        );
        if let Some((install, a)) = self.flat().get(self.done) {
            out.push_str(&format!("; next: {} ({install})", a.title()));
        }
        if let Some(e) = &self.stopped {
            out.push_str(&format!("; the last run stopped: {e}"));
        }
        out
    }
}

/// A take-over in progress, as `status` shows it: where it is, and each node the old
/// installs served with its state between the old install and cococtl's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// [`Record::describe`].
    pub summary: String,
    /// Per node: `old install (<labels>)`, `cleaning up`, or `clean`.
    pub nodes: Vec<(String, String)>,
}

impl Record {
    /// The per-node view from the nodes' labels (`nodes`: name → labels).
    pub fn progress(
        &self,
        nodes: &[(String, std::collections::BTreeMap<String, String>)],
    ) -> Progress {
        let mut served: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for (_, a) in self.flat() {
            let (ns, labels): (&[String], Vec<&str>) = match a {
                Action::Cleanup { nodes, label, .. } => (nodes, vec![label.as_str()]),
                Action::WaitNodesUnlabelled { nodes, labels }
                | Action::Unlabel { nodes, labels } => {
                    (nodes, labels.iter().map(String::as_str).collect())
                }
                _ => continue,
            };
            for n in ns {
                served.entry(n.as_str()).or_default().extend(labels.iter());
            }
        }
        let mut out = vec![];
        for (name, keys) in served {
            let Some((_, l)) = nodes.iter().find(|(n, _)| n == name) else {
                continue;
            };
            let state = if l.contains_key(super::actions::CLEANUP_NODE_LABEL) {
                "cleaning up".to_string()
            } else {
                let left: Vec<String> = keys
                    .iter()
                    .filter_map(|k| l.get(*k).map(|v| format!("{k}={v}")))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                if left.is_empty() {
                    "clean".to_string()
                } else {
                    format!("old install ({})", left.join(", "))
                }
            };
            out.push((name.to_string(), state));
        }
        Progress {
            summary: self.describe(),
            nodes: out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_written() {
        let r = Record {
            started: "2026-12-07T10:00:00Z".into(),
            installs: vec![InstallActions {
                install: "x".into(),
                actions: vec![Action::DeleteCcRuntime { name: "c".into() }],
            }],
            done: 0,
            stopped: Some("timeout".into()),
        };
        let back = Record::from_config_map(&r.to_config_map("ns", "default")).unwrap();
        assert_eq!(back, r);
        assert!(!back.finished());
        assert!(back.describe().contains("0 of 1"));
    }

    #[test]
    fn progress_tells_old_cleaning_and_clean_nodes_apart() {
        let r = Record {
            started: "t".into(),
            installs: vec![InstallActions {
                install: "x".into(),
                actions: vec![Action::Cleanup {
                    daemonset: serde_json::json!({}),
                    label: "katacontainers.io/kata-runtime".into(),
                    nodes: vec!["a".into(), "b".into(), "c".into()],
                }],
            }],
            done: 0,
            stopped: None,
        };
        let l = |kv: &[(&str, &str)]| -> std::collections::BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let p = r.progress(&[
            ("a".into(), l(&[("katacontainers.io/kata-runtime", "true")])),
            (
                "b".into(),
                l(&[
                    ("katacontainers.io/kata-runtime", "true"),
                    (super::super::actions::CLEANUP_NODE_LABEL, "x"),
                ]),
            ),
            ("c".into(), l(&[])),
        ]);
        assert_eq!(
            p.nodes,
            vec![
                (
                    "a".to_string(),
                    "old install (katacontainers.io/kata-runtime=true)".to_string()
                ),
                ("b".to_string(), "cleaning up".to_string()),
                ("c".to_string(), "clean".to_string()),
            ]
        );
    }
}
