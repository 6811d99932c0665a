//! Every host path the agent may touch, relative to `--host-root`. One place, so the docs'
//! list of host files (`docs/node-agent.md#host-files`) and the code cannot drift.

use std::path::{Path, PathBuf};

/// The agent's own directory: state, journal, lock, staging and backups.
pub const DIR: &str = "var/lib/cococtl/containerd";
/// What is installed (for idempotence, status and restore).
pub const STATE: &str = "var/lib/cococtl/containerd/state.json";
/// The change in flight (for crash recovery).
pub const JOURNAL: &str = "var/lib/cococtl/containerd/journal.json";
/// Held (flock) for the whole run: one agent per host at a time.
pub const LOCK: &str = "var/lib/cococtl/containerd/lock";
/// Downloads and unpacked tarballs; removed on every exit path.
pub const STAGING: &str = "var/lib/cococtl/containerd/staging";
/// Copies of files a transaction replaces, one directory per transaction.
pub const TX_BACKUPS: &str = "var/lib/cococtl/containerd/tx";
/// The distribution's own files that an in-place install replaced, kept until restore.
pub const ORIGINALS: &str = "var/lib/cococtl/containerd/originals";
/// Side mode: one directory per installed version, owned by cococtl alone (a
/// pre-existing `/opt/confidential-containers/bin` is never touched).
pub const SIDE_ROOT: &str = "opt/confidential-containers/cococtl/containerd";
/// The unit cococtl restarts.
pub const UNIT: &str = "containerd.service";
/// cococtl's drop-in name.
pub const DROPIN_NAME: &str = "50-cococtl.conf";
/// Side mode's drop-in, pointing `ExecStart` at the side-installed binary.
pub const DROPIN: &str = "etc/systemd/system/containerd.service.d/50-cococtl.conf";
/// `proxy.containerd`: containerd's `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`, in either mode.
pub const PROXY_DROPIN: &str = "etc/systemd/system/containerd.service.d/cococtl-proxy.conf";
/// The containerd socket.
pub const SOCKET: &str = "run/containerd/containerd.sock";

/// The binaries cococtl installs from a release tarball's `bin/`, and only these: the
/// required ones first. Anything else in the tarball (a `kubelet`, a `runc`) is ignored,
/// and said so.
pub const KNOWN_BINARIES: &[&str] = &[
    "containerd",
    "containerd-shim-runc-v2",
    "ctr",
    "containerd-shim",
    "containerd-shim-runc-v1",
    "containerd-stress",
];

/// A path under the host root. `rel` may be written absolute (`/usr/bin/x`).
pub fn at(host_root: &Path, rel: &str) -> PathBuf {
    host_root.join(rel.trim_start_matches('/'))
}

/// The side-mode directory of one installed tarball.
pub fn side_dir(version: &str, sha256: &str) -> String {
    let v: String = version
        .trim_start_matches('v')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{SIDE_ROOT}/{v}-{}", &sha256[..sha256.len().min(12)])
}
