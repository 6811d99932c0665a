//! Runs the API-server stand-in with simulated nodes, for trying the cluster commands by
//! hand: `cargo run -p cococtl-cluster --features test-support --example standin -- 3`,
//! then `cococtl --kubeconfig <printed path> install --wait`. Stops after 10 minutes.

use std::time::Duration;

use cococtl_cluster::testing::{ApiServer, Sim};

fn main() {
    let nodes: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let server = ApiServer::start(Sim::default());
    for i in 0..nodes {
        server.add_node(&format!("worker-{}", i + 1), &[]);
    }
    let path =
        std::env::temp_dir().join(format!("cococtl-standin-{}.kubeconfig", std::process::id()));
    if let Err(e) = std::fs::write(&path, server.kubeconfig()) {
        eprintln!("cannot write {}: {e}", path.display());
        return;
    }
    println!("{}", path.display());
    std::thread::sleep(Duration::from_secs(600));
}
