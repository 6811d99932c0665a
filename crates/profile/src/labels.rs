//! Labels and annotations cococtl owns (prefix `cococtl.confidentialcontainers.org/`), shared
//! by the rendered objects and the node agent that sets them. Pure constants, so the pure
//! crates and the node agent agree without the manifests depending on the agent.

/// Prefix of every label and annotation cococtl owns.
pub const PREFIX: &str = "cococtl.confidentialcontainers.org";

/// On every object cococtl renders: which install it belongs to.
pub const INSTANCE: &str = "cococtl.confidentialcontainers.org/instance";

/// Node label set by the containerd agent: `installing`, `ready`, `failed`, `rolled-back`,
/// `restored`. kata-deploy is scheduled on a node only once it is `ready`.
pub const CONTAINERD_STATE: &str = "cococtl.confidentialcontainers.org/containerd";
/// The value of [`CONTAINERD_STATE`] that lets kata-deploy onto the node.
pub const CONTAINERD_READY: &str = "ready";
/// Node annotation: installed containerd version.
pub const CONTAINERD_VERSION: &str = "cococtl.confidentialcontainers.org/containerd-version";
/// Node annotation: SHA-256 of the installed tarball.
pub const CONTAINERD_SHA256: &str = "cococtl.confidentialcontainers.org/containerd-sha256";
/// Node annotation: why the last install failed or rolled back.
pub const CONTAINERD_MESSAGE: &str = "cococtl.confidentialcontainers.org/containerd-message";
