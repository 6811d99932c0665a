//! The built binary against the API-server stand-in, for the cluster test suites: a
//! stand-in with simulated nodes and a kubeconfig for it, and `cococtl` run against it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use cococtl_cluster::testing::{ApiServer, Sim};

/// A stand-in with `nodes` worker nodes and the kubeconfig that points at it (the temp
/// directory holding it lives as long as the returned value).
pub fn with_nodes(nodes: usize) -> (ApiServer, tempfile::TempDir, PathBuf) {
    let server = ApiServer::start(Sim {
        watch_quiet: Duration::from_millis(400),
        ..Default::default()
    });
    for i in 0..nodes {
        server.add_node(&format!("worker-{}", i + 1), &[]);
    }
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("config");
    std::fs::write(&kc, server.kubeconfig()).unwrap();
    (server, dir, kc)
}

/// Runs `cococtl ARGS --kubeconfig KC`, independent of the caller's KUBECONFIG and RUST_LOG.
pub fn cococtl(kc: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args(args)
        .arg("--kubeconfig")
        .arg(kc)
        .env_remove("KUBECONFIG")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// stderr then stdout, for assertion messages and searches.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    )
}
