//! The node agent that installs a custom containerd on one node, safely.
//!
//! Start with [`agent::Agent::install`]. It never touches the live containerd until the
//! new one is verified: [`fetch`] streams the tarball through SHA-256 to disk (capped),
//! [`extract`] unpacks it into a staging directory with path, link, device and size checks,
//! ([`oci`]: from a registry, for air-gapped clusters),
//! [`verify`] requires the binaries, regular files for this architecture answering their
//! version flag; only then does the agent change the host, in a [`journal`]led transaction
//! (each change recorded *before* it is made, backups as hard links so a rollback needs no
//! space), restart containerd through the [`service`] manager, and pass the [`health`] gate
//! (the intended binary at the intended version answering on the socket), or roll back.
//!
//! One run at a time per host ([`lock`]); free space is checked first ([`space`]); SIGTERM
//! rolls back the change in progress ([`stop`]). Every host path is in [`layout`], and
//! `docs/node-agent.md` lists them with what restore returns to.
//!
//! Test builds (`test-hooks` feature, enabled only by dev-dependencies) add fault injection
//! ([`faults`]) and the process-based and recording service managers (`testing`).
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod agent;
pub mod config;
pub mod extract;
pub mod faults;
pub mod fetch;
pub mod health;
pub mod journal;
pub mod layout;
pub mod lock;
pub mod oci;
pub mod report;
pub mod service;
pub mod space;
pub mod state;
pub mod stop;
#[cfg(feature = "test-hooks")]
pub mod test_proxy;
#[cfg(feature = "test-hooks")]
pub mod test_registry;
#[cfg(feature = "test-hooks")]
pub mod testing;
pub mod unit;
pub mod verify;

pub use cococtl_core::labels;
