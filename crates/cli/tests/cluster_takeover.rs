//! `cococtl diff --take-over` against the stand-in seeded with a brownfield capture (the
//! kata-deploy chart 4.1.0 installed by Helm in kube-system): what was found, then the plan,
//! exit 0, and `-o json` gives the same as JSON; nothing is written. `install --take-over`
//! refuses honestly (exit 2) while the take-over is not implemented.

mod standin;

use std::path::Path;
use std::time::Duration;

use cococtl_cluster::testing::{ApiServer, Sim};
use standin::{cococtl, text};

const DIR: &str = "01-helm-kata-deploy-4.1.0-kube-system";

/// The stand-in with the capture's objects and nodes, and a kubeconfig for it.
fn seeded() -> (ApiServer, tempfile::TempDir, std::path::PathBuf) {
    let server = ApiServer::start(Sim {
        watch_quiet: Duration::from_millis(400),
        ..Default::default()
    });
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cluster/tests/fixtures/brownfield")
        .join(DIR);
    for file in ["objects.json", "nodes.json"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let list: serde_json::Value = serde_json::from_str(&text).unwrap();
        for o in list["items"].as_array().unwrap() {
            let (prefix, plural) = match o["kind"].as_str().unwrap() {
                "Node" => ("/api/v1", "nodes"),
                "Namespace" => ("/api/v1", "namespaces"),
                "ServiceAccount" => ("/api/v1", "serviceaccounts"),
                "ConfigMap" => ("/api/v1", "configmaps"),
                "Secret" => ("/api/v1", "secrets"),
                "ClusterRole" => ("/apis/rbac.authorization.k8s.io/v1", "clusterroles"),
                "ClusterRoleBinding" => {
                    ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings")
                }
                "DaemonSet" => ("/apis/apps/v1", "daemonsets"),
                "RuntimeClass" => ("/apis/node.k8s.io/v1", "runtimeclasses"),
                _ => continue,
            };
            let ns = o["metadata"]["namespace"].as_str().unwrap_or("");
            server.put_raw(prefix, plural, ns, o.clone());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("config");
    std::fs::write(&kc, server.kubeconfig()).unwrap();
    (server, dir, kc)
}

fn nothing_written(server: &ApiServer) {
    for r in server.requests() {
        assert!(
            !matches!(r.method.as_str(), "POST" | "PATCH" | "PUT" | "DELETE"),
            "wrote: {}",
            r.line()
        );
    }
}

#[test]
fn diff_take_over_prints_what_was_found_then_the_plan_and_writes_nothing() {
    let (server, _dir, kc) = seeded();
    let o = cococtl(&kc, &["diff", "--profile", "x86_64", "--take-over"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Found 1 install(s):", "{out}");
    assert_eq!(
        lines[1],
        "1. kata-deploy chart 4.1.0 from Helm release kata-deploy (namespace kube-system, revision 1, deployed)",
        "{out}"
    );
    assert!(out.contains("25 RuntimeClass"), "{out}");
    let plan_at = lines
        .iter()
        .position(|l| l.starts_with("Take-over plan (into namespace coco-system"))
        .unwrap_or_else(|| panic!("no plan:\n{out}"));
    assert!(plan_at > 1, "found before the plan:\n{out}");
    assert!(
        lines[plan_at + 2].contains("delete DaemonSet kube-system/kata-deploy")
            && lines[plan_at + 2].contains("--max-unavailable cannot bound this"),
        "{out}"
    );
    assert!(
        out.contains("delete Secret kube-system/sh.helm.release.v1.kata-deploy.v1"),
        "{out}"
    );
    assert!(out.contains("Nothing refuses the take-over."), "{out}");
    assert!(
        !out.contains("object(s) would change"),
        "no object diff:\n{out}"
    );
    nothing_written(&server);

    let o = cococtl(
        &kc,
        &["diff", "--profile", "x86_64", "--take-over", "-o", "json"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("-o json parses");
    assert_eq!(v["found"][0]["kind"], "helm_kata_deploy", "{v}");
    assert_eq!(v["found"][0]["release"]["chart_version"], "4.1.0", "{v}");
    assert_eq!(v["found"][0]["release"]["name"], "kata-deploy", "{v}");
    assert_eq!(
        v["found"][0]["runtime_classes"].as_array().unwrap().len(),
        25
    );
    assert_eq!(v["plan"]["refusals"], serde_json::json!([]));
    assert_eq!(v["target"]["namespace"], "coco-system");
    nothing_written(&server);
}

#[test]
fn install_take_over_refuses_while_it_is_not_implemented() {
    let (server, _dir, kc) = seeded();
    let o = cococtl(&kc, &["install", "--profile", "x86_64", "--take-over"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("not implemented yet: run `cococtl diff --take-over` for the plan"),
        "{t}"
    );
    assert!(server.requests().is_empty(), "refused before any request");

    let o = cococtl(&kc, &["install", "--profile", "x86_64", "--wait=false"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("kata-deploy chart 4.1.0 from Helm release kata-deploy (namespace kube-system"),
        "{t}"
    );
    assert!(
        t.contains("cococtl diff --profile x86_64 --take-over"),
        "{t}"
    );
    for r in server.requests() {
        let review = r.method == "POST" && r.path.contains("/selfsubject");
        assert!(
            !matches!(r.method.as_str(), "POST" | "PATCH" | "PUT" | "DELETE") || review,
            "wrote: {}",
            r.line()
        );
    }
}
