//! cococtl's shared vocabulary: the types and pure rules that several crates agree on.
//!
//! kube-core is the model: this crate holds types and pure logic only, no I/O, no clock,
//! no async. Start with [`arch::Arch`] (every spelling of an architecture), [`labels`]
//! (every label and annotation name cococtl reads or writes), [`node_keys`] (every key it may
//! write on a Node, and how uninstall removes them), [`catalog`] (the shims
//! kata-deploy 4.1.0 builds), and [`agent`] (what the `cococtl-containerd` DaemonSet tells
//! the node agent, with the single validator of a containerd tarball source; [`oci_ref`] for
//! tarballs kept in an image mirror).

#![warn(missing_docs)]

pub mod agent;
pub mod arch;
pub mod catalog;
pub mod distribution;
pub mod labels;
pub mod node_keys;
pub mod oci_ref;
pub mod proxy;

pub use arch::Arch;
pub use distribution::Distribution;
