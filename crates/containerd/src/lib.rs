//! The node agent that installs a custom containerd on one node, safely.
//!
//! Start with [`install::install`]. The order never touches the live containerd until the
//! new one is verified: [`fetch`] streams the tarball through SHA-256 to disk, [`extract`]
//! unpacks it into a staging directory with path, link, device and size checks, [`verify`]
//! requires the binaries, for this architecture, answering `--version`; only then does
//! [`install`] change the host, recording each change in the [`journal`] *before* making it,
//! restart containerd through [`systemd`], and pass the [`health`] gate, or roll back.
//!
//! Host layout (every path under `--host-root`):
//! - side mode (default): binaries in `/opt/confidential-containers/bin`, and the drop-in
//!   `/etc/systemd/system/containerd.service.d/50-cococtl.conf` pointing `ExecStart` there;
//!   the distro's binaries are never touched. Undo = remove both.
//! - in-place mode: the binaries next to the unit's `ExecStart` are replaced; originals go
//!   to `/var/lib/cococtl/containerd/backup/`.
//! - `/var/lib/cococtl/containerd/state.json`: what is installed (for idempotence, status,
//!   restore); `journal.json`: the in-flight change (for crash recovery).

pub mod config;
pub mod extract;
pub mod fetch;
pub mod health;
pub mod install;
pub mod journal;
pub mod report;
pub mod systemd;
pub mod verify;

pub use cococtl_core::labels;
