//! cococtl's Kubernetes API edge (kube-rs): everything that talks to an API server lives
//! here, so the crates below it stay pure or host-only.
//!
//! Start with [`core`]: the cluster lifecycle's decisions (release record, inventory and
//! prune set, forbidden upgrades, uninstall order, readiness, status), pure and tested
//! without a server. The edge modules around it do the talking: [`client`] (kubeconfig,
//! context, in-cluster), [`error`] (API errors a user can act on), [`apply`] (server-side
//! apply), [`list`] (lists in one request or paged, watches with bookmarks and relists), [`release_store`],
//! [`preflight`], and the operations [`install`], [`uninstall`], [`status`], [`verify`],
//! [`diff`]. [`peerpods`] adds the peer-pods gates, preflight, uninstall guards and status
//! (decisions in [`core::peerpods`]). [`node_report`] is the node agent's report on its
//! own Node.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod agent_trigger;
pub mod apply;
pub mod check;
pub mod client;
pub mod core;
pub mod deploy;
pub mod diff;
pub mod error;
pub mod list;
pub mod node_labels;
pub mod node_report;
pub mod observe;
pub mod peerpods;
pub mod preflight;
pub mod probe_publish;
pub mod release_store;
pub mod retry;
pub mod spec;
pub mod status;
pub mod takeover;
pub mod takeover_run;
pub mod uninstall;
pub mod verification;
pub mod verify;
pub mod wait;

/// Selects rustls's ring provider for the whole process (reqwest and kube must agree, or
/// rustls panics at run time); a second call is a no-op.
pub fn tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The node agents' client: the in-cluster configuration (a pod's ServiceAccount), or
/// KUBECONFIG. The user-facing commands connect through [`client::Cluster`] instead.
pub async fn agent_client() -> Result<kube::Client, String> {
    tls_provider();
    kube::Client::try_default()
        .await
        .map_err(|e| format!("no Kubernetes API access: {e}"))
}

#[cfg(feature = "test-support")]
pub mod testing;
