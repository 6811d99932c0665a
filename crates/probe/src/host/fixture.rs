//! A recorded host: a fake root directory (files, directories, relative symlinks as sysfs
//! has them) plus `hw.json` for CPUID, MSRs, ioctls, the kernel log, devices and node
//! facts. `cococtl probe capture` writes this format; tests build it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::fs::RootFs;
use super::Host;
use crate::input::{Input, Kmsg, KvmInfo, Reading, SevStatus, SnpStatus};

/// A hardware fact, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Hw<T> {
    /// The fact.
    Value(T),
    /// Why it is not known.
    Unavailable {
        /// `missing`, `denied`, `not_observable` or `error`.
        unavailable: String,
        /// The error or reason.
        #[serde(default)]
        detail: String,
    },
}

impl<T: Clone> Hw<T> {
    fn reading(&self, ok: impl FnOnce(T) -> Reading) -> Reading {
        match self {
            Hw::Value(v) => ok(v.clone()),
            Hw::Unavailable {
                unavailable,
                detail,
            } => unavailable_reading(unavailable, detail),
        }
    }
}

/// The reading an unavailable marker (`missing`, `denied`, ...) stands for.
pub fn unavailable_reading(kind: &str, detail: &str) -> Reading {
    let detail = detail.to_string();
    match kind {
        "missing" => Reading::Missing,
        "denied" => Reading::Denied { detail },
        "not_observable" => Reading::NotObservable { detail },
        _ => Reading::Error { detail },
    }
}

/// Why a file, directory, link or device could not be read (in `unavailable`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unavailable {
    /// `missing`, `denied`, `not_observable` or `error`.
    pub unavailable: String,
    /// The error or reason.
    #[serde(default)]
    pub detail: String,
}

/// The `hw.json` of a fixture. Absent sections are not observable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HwFile {
    /// `"0x8000001f/0": [eax, ebx, ecx, edx]` or an unavailable marker; an empty map
    /// means "no CPUID" (not x86); a leaf not listed does not exist.
    #[serde(default)]
    pub cpuid: BTreeMap<String, Hw<[u32; 4]>>,
    /// `"0xc0010010": value` or an unavailable marker.
    #[serde(default)]
    pub msr: BTreeMap<String, Hw<u64>>,
    /// `/dev/kvm` ioctls; absent: not observable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kvm: Option<Hw<KvmInfo>>,
    /// SNP_PLATFORM_STATUS; absent: no `/dev/sev`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snp_status: Option<Hw<SnpStatus>>,
    /// The legacy SEV PLATFORM_STATUS; absent: no `/dev/sev`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sev_status: Option<Hw<SevStatus>>,
    /// The kernel log; absent: not observable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kmsg: Option<Hw<Kmsg>>,
    /// `/dev` nodes that exist (`"dev/kvm": "char"`), or whose existence is unknown
    /// (`"dev/sev": {"unavailable": "not_observable", "detail": "..."}`).
    #[serde(default)]
    pub devices: BTreeMap<String, Hw<String>>,
    /// The Node object's labels; absent: not observable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_labels: Option<BTreeMap<String, String>>,
    /// The kubelet version; absent: not observable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubelet_version: Option<String>,
    /// Paths whose reads fail with EACCES (what a non-root capture met).
    #[serde(default)]
    pub denied: Vec<String>,
    /// Files, directories and links that could not be read for another reason (not
    /// observable, or an error), with why.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unavailable: BTreeMap<String, Unavailable>,
    /// Directory listings recorded by `capture` (git cannot hold empty directories, and a
    /// listing is the whole input for checks like "is kvm_amd loaded").
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dirs: BTreeMap<String, Vec<String>>,
}

/// The `cpuid` key of a leaf: `0x8000001f/0`.
pub fn cpuid_key(leaf: u32, subleaf: u32) -> String {
    format!("{leaf:#x}/{subleaf}")
}

/// The `msr` key of a register: `0xc0010010`.
pub fn msr_key(index: u32) -> String {
    format!("{index:#x}")
}

/// A recorded host: a root directory plus its `hw.json`.
pub struct FixtureHost {
    fs: RootFs,
    hw: HwFile,
}

/// Why a fixture cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// The root directory cannot be resolved.
    #[error("--root {path}: {source}")]
    Root {
        /// The `--root` argument.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The hardware file cannot be read.
    #[error("--hw {path}: {source}")]
    HwRead {
        /// The `--hw` argument.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The hardware file is not a `hw.json`.
    #[error("--hw {path}: not a probe hardware file: {source}")]
    HwParse {
        /// The `--hw` argument.
        path: String,
        /// The JSON error.
        source: serde_json::Error,
    },
}

impl FixtureHost {
    /// A fixture from a root directory and parsed hardware facts.
    pub fn new(root: &Path, hw: HwFile) -> Result<Self, FixtureError> {
        let fs = RootFs::fixture(root).map_err(|source| FixtureError::Root {
            path: root.display().to_string(),
            source,
        })?;
        Ok(FixtureHost { fs, hw })
    }

    /// Loads `hw` (JSON); no file means every hardware fact is unobservable.
    pub fn load(root: &Path, hw: Option<&Path>) -> Result<Self, FixtureError> {
        let hw = match hw {
            None => HwFile::default(),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| FixtureError::HwRead {
                    path: p.display().to_string(),
                    source,
                })?;
                serde_json::from_str(&text).map_err(|source| FixtureError::HwParse {
                    path: p.display().to_string(),
                    source,
                })?
            }
        };
        FixtureHost::new(root, hw)
    }
}

fn absent(what: &str) -> Reading {
    Reading::NotObservable {
        detail: format!("the fixture records no {what}"),
    }
}

impl Host for FixtureHost {
    fn read(&self, input: &Input) -> Reading {
        let denied = |p: &str| self.hw.denied.iter().any(|d| d == p);
        match input {
            Input::File { path }
            | Input::Strings { path }
            | Input::Dir { path }
            | Input::Link { path }
                if denied(path) =>
            {
                Reading::Denied {
                    detail: "recorded as denied".into(),
                }
            }
            Input::File { path }
            | Input::Strings { path }
            | Input::Dir { path }
            | Input::Link { path }
                if self.hw.unavailable.contains_key(path) =>
            {
                let u = &self.hw.unavailable[path];
                unavailable_reading(&u.unavailable, &u.detail)
            }
            Input::File { path } => self.fs.file(path),
            Input::Strings { path } => self.fs.strings(path),
            Input::Dir { path } => match self.hw.dirs.get(path) {
                Some(names) => Reading::Entries {
                    names: names.clone(),
                },
                None => self.fs.dir(path),
            },
            Input::Link { path } => self.fs.link(path),
            Input::Device { path } => match self.hw.devices.get(path.trim_start_matches('/')) {
                Some(h) => h.reading(|node| Reading::Device { node }),
                None => Reading::Missing,
            },
            Input::Cpuid { leaf, subleaf } if self.hw.cpuid.is_empty() => {
                let _ = (leaf, subleaf);
                Reading::NotObservable {
                    detail: "no CPUID on this architecture".into(),
                }
            }
            Input::Cpuid { leaf, subleaf } => {
                match self.hw.cpuid.get(&cpuid_key(*leaf, *subleaf)) {
                    Some(h) => {
                        h.reading(|[eax, ebx, ecx, edx]| Reading::Cpuid { eax, ebx, ecx, edx })
                    }
                    None => Reading::Missing,
                }
            }
            Input::Msr { index } => match self.hw.msr.get(&msr_key(*index)) {
                Some(h) => h.reading(|value| Reading::Msr { value }),
                None => Reading::NotObservable {
                    detail: "no /dev/cpu/0/msr (modprobe msr)".into(),
                },
            },
            Input::Kvm => self
                .hw
                .kvm
                .as_ref()
                .map_or_else(|| absent("KVM ioctls"), |h| h.reading(Reading::Kvm)),
            Input::SnpStatus => self
                .hw
                .snp_status
                .as_ref()
                .map_or(Reading::Missing, |h| h.reading(Reading::Snp)),
            Input::SevStatus => self
                .hw
                .sev_status
                .as_ref()
                .map_or(Reading::Missing, |h| h.reading(Reading::Sev)),
            Input::Kmsg => self
                .hw
                .kmsg
                .as_ref()
                .map_or_else(|| absent("kernel log"), |h| h.reading(Reading::Kmsg)),
            Input::NodeLabels => match &self.hw.node_labels {
                Some(l) => Reading::Labels { labels: l.clone() },
                None => absent("node labels"),
            },
            Input::KubeletVersion => match &self.hw.kubelet_version {
                Some(v) => Reading::Version { value: v.clone() },
                None => absent("kubelet version"),
            },
            Input::EachFile { .. } | Input::EachLink { .. } | Input::EachDir { .. } => {
                Reading::Error {
                    detail: "pattern inputs are expanded by the snapshot".into(),
                }
            }
        }
    }
}
