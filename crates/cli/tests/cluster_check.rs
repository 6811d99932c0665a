//! `cococtl check` end to end against the API-server stand-in: the published table, and a
//! probe run that applies its DaemonSet, collects what each node's probe published for this
//! run (a simulated probe agent answers here), names the node that never answered, and
//! removes everything it applied.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cococtl_cluster::testing::{ApiServer, Sim};
use serde_json::json;

fn summary(snp: &str, profile: &str, run: Option<&str>) -> String {
    json!({
        "schema": "cococtl.probe-summary/v1",
        "probe_version": "0.1.0",
        "run": run,
        "verdicts": {
            "snp": {"verdict": snp, "blocked_by": if snp == "ready" { json!([]) } else { json!([["snp.bios.msr", "SEV-SNP is disabled in SYSCFG"]]) }},
            "tdx": {"verdict": "not-applicable"},
            "se": {"verdict": "not-applicable"},
            "gpu-passthrough": {"verdict": "not-applicable"},
            "cvm": {"verdict": "not-applicable"}
        },
        "profile": profile,
        "shims": {
            "qemu-snp": {"ready": snp == "ready", "why": if snp == "ready" { "ready: SEV-SNP host" } else { "needs a ready SEV-SNP host (snp.ready)" }},
            "qemu-tdx": {"ready": false, "why": "needs a ready TDX host (tdx.ready)"},
            "qemu-coco-dev": {"ready": true, "why": "ready (not confidential)"}
        },
        "checks": {"kvm.present": "p", "snp.ready": if snp == "ready" { "p" } else { "f" }},
        "remediations": if snp == "ready" { json!([]) } else { json!([["snp.bios.msr", "enable SEV-SNP and SMEE in the BIOS"]]) }
    })
    .to_string()
}

fn annotate(server: &ApiServer, node: &str, s: &str) {
    server.merge(
        "/api/v1",
        "nodes",
        "",
        node,
        json!({"metadata": {"annotations": {"probe.cococtl.confidentialcontainers.org/report": s}}}),
    );
}

struct Env {
    server: ApiServer,
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

fn env(nodes: &[&str]) -> Env {
    let server = ApiServer::start(Sim {
        watch_quiet: Duration::from_millis(400),
        ..Default::default()
    });
    for n in nodes {
        server.add_node(n, &[]);
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

fn cococtl(e: &Env, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args(args)
        .arg("--kubeconfig")
        .arg(&e.kubeconfig)
        .env_remove("KUBECONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn published_results_make_one_table_with_the_profile_verdict_and_the_fixes() {
    let e = env(&["snp-1", "snp-2", "bare-1"]);
    annotate(&e.server, "snp-1", &summary("ready", "x86_64", None));
    annotate(&e.server, "snp-2", &summary("blocked", "none", None));
    let out = cococtl(&e, &["check", "--published", "--profile", "x86_64"])
        .wait_with_output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    println!("{stdout}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("kata-qemu-snp: 1 node(s): snp-1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("bare-1: no probe result published"),
        "{stdout}"
    );
    assert!(
        stdout.contains("enable SEV-SNP and SMEE in the BIOS\n    on snp-2"),
        "{stdout}"
    );
    // One paged list, never a request per node, and nothing written.
    let reqs = e.server.requests();
    assert!(
        reqs.iter().all(|r| r.method == "GET"),
        "{:?}",
        reqs.iter().map(|r| r.line()).collect::<Vec<_>>()
    );
    let node_lists = reqs.iter().filter(|r| r.path == "/api/v1/nodes").count();
    assert_eq!(
        node_lists, 1,
        "the table and the GPU flow share one node list"
    );
}

#[test]
fn a_probe_run_collects_this_runs_results_names_the_silent_node_and_removes_itself() {
    let e = env(&["snp-1", "silent-1"]);
    // An older result must not count for this run.
    annotate(
        &e.server,
        "silent-1",
        &summary("ready", "x86_64", Some("an-older-run")),
    );
    let child = cococtl(
        &e,
        &[
            "check",
            "--timeout",
            "8s",
            "--image",
            "registry.local/cococtl:test",
        ],
    );
    // The probe agent on snp-1: publishes with the run id its DaemonSet gave it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let run = loop {
        let ds = e.server.get(
            "/apis/apps/v1",
            "daemonsets",
            "cococtl-check",
            "cococtl-check",
        );
        if let Some(ds) = ds {
            let env = &ds["spec"]["template"]["spec"]["containers"][0]["env"];
            let run = env
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == "COCOCTL_PROBE_RUN")
                .and_then(|v| v["value"].as_str())
                .unwrap()
                .to_string();
            // It runs only on the selected nodes, with the image asked for.
            assert_eq!(
                ds["spec"]["template"]["spec"]["containers"][0]["image"],
                "registry.local/cococtl:test"
            );
            break run;
        }
        assert!(Instant::now() < deadline, "no probe DaemonSet applied");
        std::thread::sleep(Duration::from_millis(100));
    };
    annotate(&e.server, "snp-1", &summary("ready", "x86_64", Some(&run)));
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    println!("{stderr}{stdout}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("snp-1") && stdout.contains("x86_64"),
        "{stdout}"
    );
    assert!(
        stdout.contains("silent-1: the probe did not run: timed out"),
        "{stdout}"
    );
    // Everything it applied is gone.
    assert!(e
        .server
        .get(
            "/apis/apps/v1",
            "daemonsets",
            "cococtl-check",
            "cococtl-check"
        )
        .is_none());
    assert!(e
        .server
        .get("/api/v1", "namespaces", "", "cococtl-check")
        .is_none());
    assert!(e
        .server
        .get(
            "/apis/rbac.authorization.k8s.io/v1",
            "clusterroles",
            "",
            "cococtl-check"
        )
        .is_none());
    assert!(e
        .server
        .get(
            "/apis/rbac.authorization.k8s.io/v1",
            "clusterrolebindings",
            "",
            "cococtl-check"
        )
        .is_none());
}

#[test]
fn an_unknown_profile_is_refused_before_any_request() {
    let e = env(&["n1"]);
    let out = cococtl(&e, &["check", "--profile", "no-such-profile"])
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(e.server.requests().is_empty());
}

#[test]
fn status_shows_each_nodes_published_verdicts_next_to_the_kata_state() {
    let e = env(&["snp-1", "plain-1"]);
    e.server.merge(
        "/api/v1",
        "nodes",
        "",
        "snp-1",
        json!({"metadata": {"labels": {
            "probe.cococtl.confidentialcontainers.org/snp": "ready",
            "probe.cococtl.confidentialcontainers.org/tdx": "not-applicable",
            "probe.cococtl.confidentialcontainers.org/profile": "x86_64"
        }}}),
    );
    let out = cococtl(&e, &["status"]).wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(
        stdout.contains("probe: snp=ready (fits x86_64)"),
        "{stdout}{stderr}"
    );
    assert_eq!(
        stdout.matches("probe:").count(),
        1,
        "only the probed node: {stdout}"
    );
}

fn gpu_summary(vfio: bool) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&summary("blocked", "none", None)).unwrap();
    v["gpus"] = json!({"count": 8, "vfio_bound": vfio});
    v.to_string()
}

#[test]
fn the_gpu_operator_flow_names_what_each_gpu_node_lacks_and_labels_only_the_selected_nodes() {
    let e = env(&["gpu-1", "gpu-2", "cpu-1"]);
    annotate(&e.server, "gpu-1", &gpu_summary(false));
    annotate(&e.server, "gpu-2", &gpu_summary(true));
    e.server.merge(
        "/api/v1",
        "nodes",
        "",
        "gpu-2",
        json!({"metadata": {"labels": {"nvidia.com/gpu.workload.config": "vm-passthrough", "nvidia.com/cc.mode": "on"}}}),
    );
    let out = cococtl(&e, &["check", "--published"])
        .wait_with_output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    println!("{stdout}");
    assert!(
        stdout.contains("NVIDIA GPU Operator:\n  not installed"),
        "{stdout}{stderr}"
    );
    assert!(
        stdout.contains("gpu-1: 8 GPU(s), workload=-, vfio=no, cc=?"),
        "{stdout}"
    );
    assert!(
        stdout.contains("gpu-2: 8 GPU(s), workload=vm-passthrough, vfio=yes, cc=on"),
        "{stdout}"
    );
    assert!(
        !stdout
            .split("NVIDIA GPU Operator:")
            .nth(1)
            .unwrap()
            .contains("cpu-1"),
        "a node without GPUs is not in the GPU flow: {stdout}"
    );
    // Label exactly the selected node.
    let out = cococtl(
        &e,
        &[
            "check",
            "--published",
            "--label-gpu-nodes",
            "--nodes",
            "kubernetes.io/hostname=gpu-1",
        ],
    )
    .wait_with_output()
    .unwrap();
    assert!(out.status.code().is_some(), "{}", text(&out).1);
    let label = |n: &str| {
        e.server.get("/api/v1", "nodes", "", n).unwrap()["metadata"]["labels"]
            ["nvidia.com/gpu.workload.config"]
            .clone()
    };
    assert_eq!(label("gpu-1"), "vm-passthrough");
    assert!(label("cpu-1").is_null());
    // Without --nodes the flag is refused: it would label the whole cluster.
    let out = cococtl(&e, &["check", "--published", "--label-gpu-nodes"])
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_gpu_operator_without_sandbox_workloads_is_named() {
    let e = env(&["gpu-1"]);
    annotate(&e.server, "gpu-1", &gpu_summary(false));
    e.server.put_raw(
        "/apis/nvidia.com/v1",
        "clusterpolicies",
        "",
        json!({"apiVersion": "nvidia.com/v1", "kind": "ClusterPolicy",
               "metadata": {"name": "cluster-policy"},
               "spec": {"sandboxWorkloads": {"enabled": false}}}),
    );
    let out = cococtl(&e, &["check", "--published"])
        .wait_with_output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(
        stdout.contains("installed, but sandboxWorkloads.enabled is false"),
        "{stdout}{stderr}"
    );
}
