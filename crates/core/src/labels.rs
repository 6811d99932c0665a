//! Labels and annotations cococtl owns (prefix `cococtl.confidentialcontainers.org/`), shared
//! by the rendered objects and the node agent that sets them. Pure constants, so the pure
//! crates and the node agent agree without the manifests depending on the agent.

/// Prefix of every label and annotation cococtl owns.
pub const PREFIX: &str = "cococtl.confidentialcontainers.org";

/// On every object cococtl renders: which install it belongs to.
pub const INSTANCE: &str = "cococtl.confidentialcontainers.org/instance";

/// A node's turn in an old install's clean-up during `install --take-over` (the clean-up
/// DaemonSet selects it; value: that DaemonSet's name).
pub const TAKEOVER_CLEANUP: &str = "cococtl.confidentialcontainers.org/takeover-cleanup";

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

// Labels owned by others, read by cococtl (and written only where kata-deploy selects on
// them and the user asked for it).

/// Node label the NVIDIA GPU operator sets when a GPU is (or is not) in confidential mode.
pub const GPU_CC_READY_LABEL: &str = "nvidia.com/cc.ready.state";
/// The GPU operator's per-node workload mode; `vm-passthrough` hands the GPUs to VMs (Kata).
pub const GPU_WORKLOAD_LABEL: &str = "nvidia.com/gpu.workload.config";
/// The GPU operator's CC mode label (`on`, `off`, `devtools`).
pub const GPU_CC_MODE_LABEL: &str = "nvidia.com/cc.mode";
/// NFD label for an AMD SEV-SNP capable host (the chart's NodeFeatureRule sets it).
pub const SNP_NFD_LABEL: &str = "amd.feature.node.kubernetes.io/snp";
/// NFD label for an Intel TDX capable host.
pub const TDX_NFD_LABEL: &str = "intel.feature.node.kubernetes.io/tdx";
/// NFD label for an IBM SE capable host.
pub const SE_NFD_LABEL: &str = "feature.node.kubernetes.io/cpu-security.se.enabled";
/// Set to `true` by kata-deploy on every node where it finished installing.
pub const KATA_RUNTIME_LABEL: &str = "katacontainers.io/kata-runtime";
/// Per-install ownership marker prefix (4.1): `<prefix>/<suffix or "default">`.
pub const KATA_INSTANCE_LABEL_PREFIX: &str = "kata-deploy.katacontainers.io";
