//! Peer pods end to end (issue 10, items 4–5): the built binary against the API-server
//! stand-in. Preflight refusals (cert-manager, worker labels, referenced Secrets, with key
//! names only), `--label-workers`, install with the webhook ready before its
//! configuration, uninstall.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use cococtl_cluster::testing::{ApiServer, Sim};
use serde_json::json;

struct Env {
    server: ApiServer,
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

fn env(workers: bool, cert_manager: bool) -> Env {
    let server = ApiServer::start(Sim {
        watch_quiet: Duration::from_millis(400),
        ..Default::default()
    });
    for n in ["worker-1", "worker-2"] {
        if workers {
            server.add_node(n, &[("node.kubernetes.io/worker", "")]);
        } else {
            server.add_node(n, &[]);
        }
    }
    if cert_manager {
        server.install_cert_manager();
    }
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(&kubeconfig, server.kubeconfig()).unwrap();
    Env {
        server,
        _dir: dir,
        kubeconfig,
    }
}

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/peerpods/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn cococtl(e: &Env, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args(args)
        .arg("--kubeconfig")
        .arg(&e.kubeconfig)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    if std::env::var_os("COCOCTL_SHOW").is_some() {
        println!("$ cococtl {}", args.join(" "));
        print!("{}", String::from_utf8_lossy(&out.stderr));
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
    out
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    )
}

fn writes(e: &Env) -> usize {
    e.server
        .requests()
        .iter()
        .filter(|r| {
            matches!(r.method.as_str(), "PATCH" | "PUT" | "DELETE")
                || (r.method == "POST" && !r.path.contains("/selfsubject"))
        })
        .count()
}

#[test]
fn without_cert_manager_install_refuses_and_names_the_way_out() {
    let e = env(true, false);
    let lv = fixture("libvirt.yaml");
    let o = cococtl(
        &e,
        &["install", "--profile", "remote", "-f", &lv, "--wait=false"],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "{t}");
    assert!(
        t.contains("preflight found 1 problem(s); nothing was changed"),
        "{t}"
    );
    assert!(
        t.contains("certificates.cert-manager.io, issuers.cert-manager.io are missing"),
        "{t}"
    );
    assert!(t.contains("--set peerpods.webhook.enabled=false"), "{t}");
    assert!(t.contains("charges to the worker node"), "{t}");
    assert_eq!(writes(&e), 0, "{t}");

    // Without the webhook, cert-manager is not needed.
    let o = cococtl(
        &e,
        &[
            "install",
            "--profile",
            "remote",
            "-f",
            &lv,
            "--set",
            "peerpods.webhook.enabled=false",
            "--wait=false",
        ],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(e
        .server
        .list(
            "/apis/admissionregistration.k8s.io/v1",
            "mutatingwebhookconfigurations"
        )
        .is_empty());
}

#[test]
fn workers_are_labelled_only_when_named() {
    let e = env(false, true);
    let lv = fixture("libvirt.yaml");
    let o = cococtl(
        &e,
        &["install", "--profile", "remote", "-f", &lv, "--wait=false"],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "{t}");
    assert!(
        t.contains("no node carries the label node.kubernetes.io/worker"),
        "{t}"
    );
    assert!(t.contains("nodes without it: worker-1, worker-2"), "{t}");
    assert!(t.contains("--label-workers NODE..."), "{t}");
    assert_eq!(writes(&e), 0, "{t}");

    let o = cococtl(
        &e,
        &[
            "install",
            "--profile",
            "remote",
            "-f",
            &lv,
            "--label-workers",
            "worker-1",
            "--wait",
            "--timeout",
            "1m",
        ],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.contains("preflight: labelled node worker-1 node.kubernetes.io/worker="),
        "{t}"
    );
    assert!(
        t.contains("1 node(s) without node.kubernetes.io/worker run no peer pods: worker-2"),
        "{t}"
    );
    let label = |n: &str| {
        e.server
            .get("/api/v1", "nodes", "", n)
            .unwrap()
            .pointer("/metadata/labels/node.kubernetes.io~1worker")
            .cloned()
    };
    assert_eq!(label("worker-1"), Some(json!("")));
    assert_eq!(label("worker-2"), None);
    assert_eq!(e.server.admission_outages(), Vec::<String>::new());

    // status: the CAA pod and VM capacity per worker, PeerPods, the webhook.
    for _ in 0..100 {
        let n = e.server.get("/api/v1", "nodes", "", "worker-1").unwrap();
        if n.pointer("/status/allocatable/kata.peerpods.io~1vm")
            .is_some()
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = cococtl(&e, &["status"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("peer pods:"), "{t}");
    assert!(
        t.lines()
            .any(|l| l.starts_with("worker-1") && l.contains("running") && l.contains("10")),
        "{t}"
    );
    assert!(
        !t.lines().any(|l| l.starts_with("worker-2      running")),
        "{t}"
    );
    assert!(t.contains("PeerPods: 0 (0 without a pod)"), "{t}");
    assert!(t.contains("webhook: 2 ready endpoint(s)"), "{t}");
    assert!(t.contains("webhook certificate: Ready"), "{t}");
    let o = cococtl(&e, &["status", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["peerpods"]["nodes"][0]["vmAllocatable"], "10");
    assert_eq!(v["peerpods"]["webhookReadyEndpoints"], 2);

    let o = cococtl(&e, &["uninstall", "--timeout", "1m"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(e
        .server
        .list(
            "/apis/admissionregistration.k8s.io/v1",
            "mutatingwebhookconfigurations"
        )
        .is_empty());
}

#[test]
fn referenced_secrets_are_checked_by_key_name_never_value() {
    let e = env(true, true);
    e.server.put_raw(
        "/api/v1",
        "namespaces",
        "",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "confidential-containers-system"}}),
    );
    // The SSH key Secret holds only the public key: `id_rsa` is missing.
    e.server.put_raw(
        "/api/v1",
        "secrets",
        "confidential-containers-system",
        json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "libvirt-ssh", "namespace": "confidential-containers-system"},
            "type": "Opaque", "data": {"id_rsa.pub": "c3NoLXJzYSBWRVJZLVNFQ1JFVC1WQUxVRQ=="}}),
    );
    let lv = fixture("libvirt-reference.yaml");
    let o = cococtl(
        &e,
        &["install", "--profile", "remote", "-f", &lv, "--wait=false"],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "{t}");
    assert!(
        t.contains("Secret confidential-containers-system/libvirt-creds (credentials (cloud-api-adaptor and peerpod-ctrl)) is referenced (secrets.mode=reference) but does not exist"),
        "{t}"
    );
    assert!(
        t.contains("Secret confidential-containers-system/libvirt-ssh (SSH keys) holds keys id_rsa.pub, but needs id_rsa"),
        "{t}"
    );
    assert!(!t.contains("c3NoLXJzYSBWRVJZLVNFQ1JFVC1WQUxVRQ"), "{t}");
    assert!(!t.contains("VERY-SECRET-VALUE"), "{t}");
    assert_eq!(writes(&e), 0, "{t}");
}
