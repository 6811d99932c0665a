//! cococtl's Kubernetes API edge (kube-rs): everything that talks to an API server lives
//! here, so the crates below it stay pure or host-only.
//!
//! Today: [`node_report`], the node agent's report on its own Node object. The cluster
//! lifecycle (apply, waits, release record, status) is built here next, on the same
//! client and the same retry policy ([`retry`]).
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod agent_trigger;
pub mod node_report;
pub mod probe_publish;
pub mod retry;

/// Selects rustls's ring provider for the whole process (reqwest and kube must agree, or
/// rustls panics at run time); a second call is a no-op.
pub fn tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client from the in-cluster configuration (a pod's ServiceAccount) or KUBECONFIG.
pub async fn client() -> Result<kube::Client, String> {
    tls_provider();
    kube::Client::try_default()
        .await
        .map_err(|e| format!("no Kubernetes API access: {e}"))
}
