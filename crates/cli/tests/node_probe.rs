//! `cococtl node probe`: the probe agent prints or publishes the summary of this host (here
//! the captured fixture of this very machine), and writes to its Node only when something
//! changed. The API is a stand-in that keeps the Node's labels and annotations as a real
//! API server would after a merge patch.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

fn fixture() -> (PathBuf, PathBuf) {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../probe/tests/fixtures/this-machine");
    (d.join("root"), d.join("hw.json"))
}

#[derive(Default)]
struct NodeState {
    labels: serde_json::Map<String, serde_json::Value>,
    annotations: serde_json::Map<String, serde_json::Value>,
    patches: usize,
    gets: usize,
}

fn api() -> (String, Arc<Mutex<NodeState>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(Mutex::new(NodeState::default()));
    let st = state.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut r = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            let method = line.split_whitespace().next().unwrap_or("").to_string();
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            let mut s = st.lock().unwrap();
            if method == "PATCH" {
                s.patches += 1;
                let p: serde_json::Value = serde_json::from_slice(&body).unwrap();
                for (k, v) in p["metadata"]["labels"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default()
                {
                    s.labels.insert(k, v);
                }
                for (k, v) in p["metadata"]["annotations"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default()
                {
                    s.annotations.insert(k, v);
                }
            } else {
                s.gets += 1;
            }
            let node = serde_json::json!({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": "node-a", "labels": s.labels, "annotations": s.annotations},
            })
            .to_string();
            drop(s);
            let mut out = stream;
            let _ = write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{node}",
                node.len()
            );
        }
    });
    (url, state)
}

fn kubeconfig(dir: &Path, url: &str) -> PathBuf {
    let p = dir.join("kubeconfig");
    std::fs::write(
        &p,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: s\n  cluster:\n    server: {url}\ncontexts:\n- name: s\n  context:\n    cluster: s\n    user: s\nusers:\n- name: s\n  user: {{}}\ncurrent-context: s\n"),
    )
    .unwrap();
    p
}

fn agent(args: &[&str], kc: Option<&Path>) -> std::process::Output {
    let (root, hw) = fixture();
    let mut c = Command::new(env!("CARGO_BIN_EXE_cococtl"));
    c.args(["node", "probe", "--once", "--root"])
        .arg(root)
        .arg("--hw")
        .arg(hw)
        .args(args)
        .env_remove("KUBERNETES_SERVICE_HOST");
    if let Some(kc) = kc {
        c.env("KUBECONFIG", kc);
    }
    c.output().unwrap()
}

#[test]
fn without_publish_the_summary_is_printed() {
    let out = agent(&[], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = cococtl_probe::publish::parse(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    // This machine: a VM with /dev/kvm served by kvm_pvm, no TEE: peer-pods.
    assert_eq!(s.profile.as_deref(), Some("remote"));
}

#[test]
fn publish_patches_the_node_once_and_then_only_when_something_changed() {
    let (url, state) = api();
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(dir.path(), &url);
    for _ in 0..2 {
        let out = agent(&["--publish", "--node-name", "node-a"], Some(&kc));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let s = state.lock().unwrap();
    assert_eq!(s.patches, 1, "the second run found the node up to date");
    assert_eq!(s.gets, 2);
    assert_eq!(
        s.labels["probe.cococtl.confidentialcontainers.org/profile"],
        "remote"
    );
    // An AMD EPYC VM without SEV-SNP host support: blocked, not "not applicable".
    assert_eq!(
        s.labels["probe.cococtl.confidentialcontainers.org/snp"],
        "blocked"
    );
    assert_eq!(
        s.labels["probe.cococtl.confidentialcontainers.org/tdx"],
        "not-applicable"
    );
    let a = s.annotations["probe.cococtl.confidentialcontainers.org/report"]
        .as_str()
        .unwrap();
    assert!(cococtl_probe::publish::parse(a).is_ok());
}

#[test]
fn a_host_that_cannot_be_probed_is_published_as_failed() {
    let (url, state) = api();
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(dir.path(), &url);
    let out = Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args([
            "node",
            "probe",
            "--once",
            "--publish",
            "--node-name",
            "node-a",
            "--root",
        ])
        .arg(dir.path().join("missing"))
        .env("KUBECONFIG", &kc)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = state.lock().unwrap();
    assert_eq!(
        s.labels["probe.cococtl.confidentialcontainers.org/snp"],
        "probe-failed"
    );
    assert_eq!(
        s.labels["probe.cococtl.confidentialcontainers.org/profile"],
        "probe-failed"
    );
}

#[test]
fn publish_without_a_node_name_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args(["node", "probe", "--once", "--publish"])
        .env_remove("NODE_NAME")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NODE_NAME"));
}
