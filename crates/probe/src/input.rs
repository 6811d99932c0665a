//! What a check may read (its declared [`Input`]s) and what was read ([`Reading`]).
//!
//! The runner gathers the union of all declared inputs once into a [`Snapshot`]; each check
//! then sees a [`View`] limited to its own declarations, so no check can read more of the
//! host than it says, and `capture` can record exactly the declared inputs.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// One declared input. Paths are relative to the host root, without a leading `/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Input {
    /// A file's contents.
    File {
        /// Relative to the host root.
        path: String,
    },
    /// A file's printable strings, one per line (a host program or package database:
    /// scanned, never executed).
    Strings {
        /// Relative to the host root.
        path: String,
    },
    /// A directory's entry names.
    Dir {
        /// Relative to the host root.
        path: String,
    },
    /// A symlink's target.
    Link {
        /// Relative to the host root.
        path: String,
    },
    /// `<dir>/<entry>/<name>` for every entry of `dir` (one level; e.g. every PCI device).
    EachFile {
        /// The directory whose entries are expanded.
        dir: String,
        /// The name under each entry.
        name: String,
    },
    /// `<dir>/<entry>/<name>` link targets for every entry of `dir`.
    EachLink {
        /// The directory whose entries are expanded.
        dir: String,
        /// The name under each entry.
        name: String,
    },
    /// `<dir>/<entry>/<name>` directory listings for every entry of `dir`.
    EachDir {
        /// The directory whose entries are expanded.
        dir: String,
        /// The name under each entry.
        name: String,
    },
    /// A `/dev` node: present (and which kind) or not.
    Device {
        /// Relative to the host root (`dev/kvm`).
        path: String,
    },
    /// CPUID leaf/subleaf.
    Cpuid {
        /// EAX on entry.
        leaf: u32,
        /// ECX on entry.
        subleaf: u32,
    },
    /// A model-specific register of CPU 0.
    Msr {
        /// The register number.
        index: u32,
    },
    /// `/dev/kvm`: API version and supported VM types.
    Kvm,
    /// `/dev/sev`: SNP_PLATFORM_STATUS.
    SnpStatus,
    /// `/dev/sev`: the legacy SEV PLATFORM_STATUS.
    SevStatus,
    /// The kernel log since boot.
    Kmsg,
    /// This node's labels (from the Node object, when known).
    NodeLabels,
    /// The kubelet version (from the Node object, when known).
    KubeletVersion,
}

impl Input {
    /// A file.
    pub fn file(p: &str) -> Input {
        Input::File { path: p.into() }
    }
    /// A file's printable strings.
    pub fn strings(p: &str) -> Input {
        Input::Strings { path: p.into() }
    }
    /// A directory listing.
    pub fn dir(p: &str) -> Input {
        Input::Dir { path: p.into() }
    }
    /// A symlink target.
    pub fn link(p: &str) -> Input {
        Input::Link { path: p.into() }
    }
    /// A `/dev` node.
    pub fn device(p: &str) -> Input {
        Input::Device { path: p.into() }
    }
    /// A file under every entry of `dir`.
    pub fn each_file(dir: &str, name: &str) -> Input {
        Input::EachFile {
            dir: dir.into(),
            name: name.into(),
        }
    }
    /// A link under every entry of `dir`.
    pub fn each_link(dir: &str, name: &str) -> Input {
        Input::EachLink {
            dir: dir.into(),
            name: name.into(),
        }
    }
    /// A directory listing under every entry of `dir`.
    pub fn each_dir(dir: &str, name: &str) -> Input {
        Input::EachDir {
            dir: dir.into(),
            name: name.into(),
        }
    }
    /// A CPUID leaf.
    pub fn cpuid(leaf: u32, subleaf: u32) -> Input {
        Input::Cpuid { leaf, subleaf }
    }
    /// An MSR of CPU 0.
    pub fn msr(index: u32) -> Input {
        Input::Msr { index }
    }

    /// Where a reading of this input comes from, for evidence.
    pub fn source(&self) -> String {
        match self {
            Input::File { path }
            | Input::Dir { path }
            | Input::Link { path }
            | Input::Device { path } => format!("/{path}"),
            Input::Strings { path } => format!("/{path} (strings)"),
            Input::EachFile { dir, name }
            | Input::EachLink { dir, name }
            | Input::EachDir { dir, name } => format!("/{dir}/*/{name}"),
            Input::Cpuid { leaf, subleaf } => format!("cpuid {leaf:#x}/{subleaf}"),
            Input::Msr { index } => format!("msr {index:#x}"),
            Input::Kvm => "ioctl /dev/kvm".into(),
            Input::SnpStatus => "ioctl /dev/sev SNP_PLATFORM_STATUS".into(),
            Input::SevStatus => "ioctl /dev/sev PLATFORM_STATUS".into(),
            Input::Kmsg => "kernel log".into(),
            Input::NodeLabels => "node labels".into(),
            Input::KubeletVersion => "kubelet version".into(),
        }
    }

    /// Whether `concrete` is this input or one of its expansions.
    fn covers(&self, concrete: &Input) -> bool {
        if self == concrete {
            return true;
        }
        let under = |dir: &str, name: &str, path: &str| {
            path.strip_prefix(dir)
                .and_then(|r| r.strip_prefix('/'))
                .and_then(|r| r.split_once('/'))
                .is_some_and(|(entry, rest)| !entry.is_empty() && rest == name)
        };
        match (self, concrete) {
            (Input::EachFile { dir, name }, Input::File { path })
            | (Input::EachLink { dir, name }, Input::Link { path }) => under(dir, name, path),
            // An expansion also lists its parent directory.
            (Input::EachDir { dir, name }, Input::Dir { path }) => {
                dir == path || under(dir, name, path)
            }
            (Input::EachFile { dir, .. } | Input::EachLink { dir, .. }, Input::Dir { path }) => {
                dir == path
            }
            _ => false,
        }
    }
}

/// What the kernel log held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kmsg {
    /// The messages, oldest first, without the record header.
    pub lines: Vec<String>,
    /// Whether the log still starts at boot and was read to its end (an absent line then
    /// means "did not happen"); `false` for a rotated or truncated log.
    pub complete: bool,
}

/// `/dev/kvm` facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvmInfo {
    /// KVM_GET_API_VERSION (12 on every kernel since 2.6.22).
    pub api_version: i32,
    /// KVM_CHECK_EXTENSION(KVM_CAP_VM_TYPES) bitmask: bit 3 SEV-ES, 4 SNP, 5 TDX; `None`
    /// when the API version was read but the VM types were not.
    #[serde(default)]
    pub vm_types: Option<u64>,
}

impl KvmInfo {
    /// VM type bits of `KVM_CAP_VM_TYPES`.
    pub const SEV_ES: u64 = 1 << 3;
    /// `KVM_X86_SNP_VM`.
    pub const SNP: u64 = 1 << 4;
    /// `KVM_X86_TDX_VM`.
    pub const TDX: u64 = 1 << 5;

    /// Whether KVM offers VM type `bit`, if the VM types are known.
    pub fn offers(&self, bit: u64) -> Option<bool> {
        self.vm_types.map(|t| t & bit != 0)
    }
}

/// The SNP_PLATFORM_STATUS fields the probe uses (decoded by the `sev` crate on real hosts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnpStatus {
    /// Firmware API major version.
    pub api_major: u8,
    /// Firmware API minor version.
    pub api_minor: u8,
    /// Firmware build.
    pub build_id: u32,
    /// 0 uninitialised, 1 initialised, 2 working.
    pub state: u8,
    /// The RMP table is initialised.
    pub rmp_initialized: bool,
    /// The memory alias check (BadRAM mitigation) has completed.
    pub alias_check_complete: bool,
    /// SNP guests running now.
    pub guest_count: u32,
    /// `bootloader.tee.snp.microcode` as printed by snphost.
    pub platform_tcb: String,
    /// The TCB version attestation reports carry.
    pub reported_tcb: String,
}

/// The legacy SEV PLATFORM_STATUS fields the probe uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SevStatus {
    /// Firmware API major version.
    pub api_major: u8,
    /// Firmware API minor version.
    pub api_minor: u8,
    /// Firmware build.
    pub build_id: u32,
    /// 0 uninitialised, 1 initialised, 2 working.
    pub state: u8,
    /// SEV guests running now.
    pub guest_count: u32,
}

/// The result of reading one concrete input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reading {
    /// File text, one trailing newline removed.
    Text {
        /// The text.
        value: String,
    },
    /// Directory entry names, sorted.
    Entries {
        /// The names.
        names: Vec<String>,
    },
    /// A symlink.
    Link {
        /// Where it points, as written.
        target: String,
    },
    /// A device node and its kind (`char`, `block`).
    Device {
        /// `char`, `block`, `dir` or `file`.
        node: String,
    },
    /// CPUID registers.
    Cpuid {
        /// EAX.
        eax: u32,
        /// EBX.
        ebx: u32,
        /// ECX.
        ecx: u32,
        /// EDX.
        edx: u32,
    },
    /// An MSR value.
    Msr {
        /// The value.
        value: u64,
    },
    /// `/dev/kvm` facts.
    Kvm(KvmInfo),
    /// SNP_PLATFORM_STATUS.
    Snp(SnpStatus),
    /// The legacy SEV PLATFORM_STATUS.
    Sev(SevStatus),
    /// The kernel log.
    Kmsg(Kmsg),
    /// The node's labels.
    Labels {
        /// Label key to value.
        labels: BTreeMap<String, String>,
    },
    /// A version string.
    Version {
        /// The version.
        value: String,
    },
    /// Does not exist (ENOENT, or a CPUID leaf beyond the maximum).
    Missing,
    /// Exists but needs privileges this process lacks.
    Denied {
        /// The error.
        detail: String,
    },
    /// Cannot be observed here (no msr module, not x86, no API access, log rotated).
    NotObservable {
        /// Why.
        detail: String,
    },
    /// Read failed or made no sense (loops, escapes, garbage).
    Error {
        /// The error.
        detail: String,
    },
}

impl Reading {
    /// File text, if that is what was read.
    pub fn text(&self) -> Option<&str> {
        match self {
            Reading::Text { value } => Some(value),
            _ => None,
        }
    }

    /// Directory entries (none unless a listing was read).
    pub fn entries(&self) -> &[String] {
        match self {
            Reading::Entries { names } => names,
            _ => &[],
        }
    }

    /// A link target, if that is what was read.
    pub fn link(&self) -> Option<&str> {
        match self {
            Reading::Link { target } => Some(target),
            _ => None,
        }
    }

    /// Whether the input exists: `Some(false)` only when it is known to be absent,
    /// `None` when it could not be observed (denied, not observable, error).
    pub fn present(&self) -> Option<bool> {
        match self {
            Reading::Missing => Some(false),
            Reading::Denied { .. } | Reading::NotObservable { .. } | Reading::Error { .. } => None,
            _ => Some(true),
        }
    }

    /// Whether this is a definite answer (not denied, not observable, not an error).
    pub fn known(&self) -> bool {
        self.present().is_some()
    }

    /// A short form for evidence and messages.
    pub fn summary(&self) -> String {
        match self {
            Reading::Text { value } => {
                let one: String = value.chars().take(160).collect();
                if one.len() < value.len() {
                    format!("{one}…")
                } else {
                    one
                }
            }
            Reading::Entries { names } => format!("[{}]", names.join(", ")),
            Reading::Link { target } => format!("-> {target}"),
            Reading::Device { node } => format!("{node} device"),
            Reading::Cpuid { eax, ebx, ecx, edx } => {
                format!("eax={eax:#010x} ebx={ebx:#010x} ecx={ecx:#010x} edx={edx:#010x}")
            }
            Reading::Msr { value } => format!("{value:#018x}"),
            Reading::Kvm(k) => match k.vm_types {
                Some(t) => format!("api {} vm_types {t:#x}", k.api_version),
                None => format!("api {} vm_types not observable", k.api_version),
            },
            Reading::Snp(s) => format!(
                "API {}.{} build {} state {}",
                s.api_major, s.api_minor, s.build_id, s.state
            ),
            Reading::Sev(s) => format!(
                "API {}.{} build {} state {}",
                s.api_major, s.api_minor, s.build_id, s.state
            ),
            Reading::Kmsg(k) => format!(
                "{} lines{}",
                k.lines.len(),
                if k.complete {
                    ""
                } else {
                    " (partial: does not reach back to boot)"
                }
            ),
            Reading::Labels { labels } => format!("{} labels", labels.len()),
            Reading::Version { value } => value.clone(),
            Reading::Missing => "absent".into(),
            Reading::Denied { detail } => format!("permission denied ({detail})"),
            Reading::NotObservable { detail } => format!("not observable ({detail})"),
            Reading::Error { detail } => format!("error: {detail}"),
        }
    }
}

/// Every concrete input that was read, with its reading.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Concrete input to reading.
    pub readings: BTreeMap<Input, Reading>,
}

impl Snapshot {
    /// Gathers `declared` (expanding the `Each*` inputs) through `host`.
    pub fn gather(host: &dyn crate::host::Host, declared: &BTreeSet<Input>) -> Snapshot {
        let mut s = Snapshot::default();
        for input in declared {
            match input {
                Input::EachFile { dir, name }
                | Input::EachLink { dir, name }
                | Input::EachDir { dir, name } => {
                    let listing = s.read(host, &Input::dir(dir)).clone();
                    for entry in listing.entries() {
                        let path = format!("{dir}/{entry}/{name}");
                        let concrete = match input {
                            Input::EachFile { .. } => Input::File { path },
                            Input::EachLink { .. } => Input::Link { path },
                            _ => Input::Dir { path },
                        };
                        s.read(host, &concrete);
                    }
                }
                other => {
                    s.read(host, other);
                }
            }
        }
        s
    }

    fn read(&mut self, host: &dyn crate::host::Host, input: &Input) -> &Reading {
        if !self.readings.contains_key(input) {
            let r = host.read(input);
            self.readings.insert(input.clone(), r);
        }
        &self.readings[input]
    }
}

/// One check's window on the snapshot: only what it declared.
pub struct View<'a> {
    snapshot: &'a Snapshot,
    declared: &'a [Input],
    /// Undeclared reads, reported as a defect of the check (tests assert none happen).
    pub violations: RefCell<Vec<Input>>,
}

const UNDECLARED: Reading = Reading::Missing;

impl<'a> View<'a> {
    /// The window of a check that declared `declared`.
    pub fn new(snapshot: &'a Snapshot, declared: &'a [Input]) -> Self {
        View {
            snapshot,
            declared,
            violations: RefCell::new(vec![]),
        }
    }

    /// The reading of a concrete input (recorded as a violation when undeclared).
    pub fn get(&self, input: &Input) -> &'a Reading {
        if !self.declared.iter().any(|d| d.covers(input)) {
            self.violations.borrow_mut().push(input.clone());
            return &UNDECLARED;
        }
        self.snapshot.readings.get(input).unwrap_or(&UNDECLARED)
    }

    /// A file's reading.
    pub fn file(&self, path: &str) -> &'a Reading {
        self.get(&Input::file(path))
    }

    /// A directory's entries (empty unless it was listed).
    pub fn dir(&self, path: &str) -> &'a [String] {
        self.get(&Input::dir(path)).entries()
    }

    /// A link's target.
    pub fn link(&self, path: &str) -> Option<&'a str> {
        self.get(&Input::link(path)).link()
    }
}
