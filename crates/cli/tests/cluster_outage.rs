//! The control plane blinks (issue 18 item 1), as a user meets it: the stand-in stops
//! listening (connection refused, open watches cut) for a few seconds in the middle of a
//! phase or a wait of install, upgrade and uninstall, under `status --watch` and during
//! `check`'s wait for the probe results and `verify`'s pod; the command completes (or keeps watching), says
//! it is retrying, and the release record shows no failure.

mod standin;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cococtl_cluster::testing::{ApiServer, OutageTrigger};
use standin::{cococtl, text};

/// Longer than the five retries (about 6 s in all) that used to give up.
const DOWN: Duration = Duration::from_secs(8);

fn on(method: &str, path: &str, watch: bool) -> OutageTrigger {
    OutageTrigger {
        method: method.into(),
        path_contains: path.into(),
        watch,
        down: DOWN,
    }
}

/// Arms `triggers`, runs the command, and asserts every outage happened and it succeeded.
fn survives(
    server: &ApiServer,
    kc: &std::path::Path,
    args: &[&str],
    triggers: Vec<OutageTrigger>,
) -> String {
    let n = triggers.len();
    let before = server.outages_fired();
    for t in triggers {
        server.outage_on(t);
    }
    let o = cococtl(kc, args);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{args:?}:\n{t}");
    assert!(
        server.outages_pending().is_empty(),
        "{args:?}: every outage happened: {:?}\n{t}",
        server.outages_pending()
    );
    assert_eq!(server.outages_fired() - before, n);
    assert!(
        t.contains("API server unreachable since "),
        "{args:?}:\n{t}"
    );
    t
}

#[test]
fn install_upgrade_and_uninstall_ride_out_api_server_restarts_in_each_phase_and_wait() {
    let (server, _dir, kc) = standin::with_nodes(2);
    let t = survives(
        &server,
        &kc,
        &[
            "install",
            "--profile",
            "x86_64",
            "--wait",
            "--timeout",
            "1m",
        ],
        vec![
            // preflight, the apply phase, the wait (lists are watch-lists)
            on("GET", "/api/v1/nodes", true),
            on("PATCH", "/runtimeclasses/", false),
            // the wait's node list and watch (the second nodes list) and its pods'
            on("GET", "/api/v1/nodes", true),
            on("GET", "/namespaces/coco-system/pods", true),
        ],
    );
    assert!(t.contains("release default revision 1 deployed"), "{t}");

    let t = survives(
        &server,
        &kc,
        &[
            "upgrade",
            "--reuse-values",
            "--set",
            "debug=true",
            "--wait",
            "--timeout",
            "1m",
        ],
        vec![
            on("PATCH", "/daemonsets/", false),
            on("GET", "/namespaces/coco-system/pods", true),
        ],
    );
    assert!(t.contains("revision 2"), "{t}");
    let h = text(&cococtl(&kc, &["history"]));
    assert!(!h.contains("failed"), "no revision recorded failed:\n{h}");
    assert!(h.contains("superseded") && h.contains("deployed"), "{h}");

    let t = survives(
        &server,
        &kc,
        &["uninstall", "--timeout", "1m"],
        vec![
            on("DELETE", "/daemonsets/", false),
            on("GET", "/namespaces/coco-system/pods", true),
        ],
    );
    assert!(t.contains("nothing left"), "{t}");
}

#[test]
fn verify_rides_out_api_server_restarts_while_it_creates_watches_and_reads_its_pod() {
    let (server, _dir, kc) = standin::with_nodes(1);
    let o = cococtl(&kc, &["install", "--wait", "--timeout", "1m"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = survives(
        &server,
        &kc,
        &[
            "verify",
            "--runtime-class",
            "kata-qemu-coco-dev",
            // Three 8 s outages and their backoff take about 30 s; a loaded CI machine
            // doubles that, and the point here is riding them out, not the pace.
            "--timeout",
            "3m",
        ],
        vec![
            on("POST", "/pods", false),
            on("GET", "/pods", true),
            on("GET", "/log", false),
        ],
    );
    assert!(t.contains("guest kernel"), "{t}");
    assert!(
        server
            .list("/api/v1", "pods")
            .iter()
            .all(|p| !p["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with("cococtl-verify")),
        "the verify pod is deleted after the outages:\n{t}"
    );
}

/// Reads `pipe` line by line on a thread, so a test can look at what a running command
/// printed so far.
fn collect(pipe: impl std::io::Read + Send + 'static) -> Arc<Mutex<String>> {
    let out = Arc::new(Mutex::new(String::new()));
    let o = out.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(pipe).lines().map_while(Result::ok) {
            let mut o = o.lock().unwrap();
            o.push_str(&l);
            o.push('\n');
        }
    });
    out
}

/// Polls `f` every 100 ms until it holds or `within` passed.
fn until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

fn spawn(kc: &std::path::Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args(args)
        .arg("--kubeconfig")
        .arg(kc)
        .env_remove("KUBECONFIG")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn status_watch_keeps_watching_through_an_api_server_restart_and_shows_what_changed_meanwhile() {
    let (server, _dir, kc) = standin::with_nodes(2);
    let o = cococtl(&kc, &["install", "--wait", "--timeout", "1m"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let mut child = spawn(&kc, &["status", "--watch"]);
    let stdout = collect(child.stdout.take().unwrap());
    let stderr = collect(child.stderr.take().unwrap());
    let shown = |s: &str| stdout.lock().unwrap().contains(s);
    assert!(
        until(Duration::from_secs(20), || shown(
            "nodes: 2/2 targeted ready"
        )),
        "{}",
        stdout.lock().unwrap()
    );
    let watches = || server.requests().iter().filter(|r| r.is_watch()).count();
    assert!(until(Duration::from_secs(10), || watches() >= 2));
    // The control plane restarts under the open watches; a node joins while it is away.
    server.outage(DOWN);
    assert!(!cococtl_cluster::testing::listening(
        server.url.trim_start_matches("http://")
    ));
    server.add_node("worker-3", &[]);
    let seen = until(DOWN + Duration::from_secs(20), || {
        shown("worker-3") && shown("nodes: 3/3 targeted ready")
    });
    // Ctrl-C ends a watch, as without an outage.
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let code = child.wait().unwrap().code();
    let (out, err) = (stdout.lock().unwrap(), stderr.lock().unwrap());
    assert!(seen, "the watch resumed after the outage:\n{err}{out}");
    assert!(err.contains("API server unreachable since "), "{err}");
    assert_eq!(code, Some(0), "{err}{out}");
}

#[test]
fn check_rides_out_an_api_server_restart_while_it_waits_for_the_probe_results() {
    let (server, _dir, kc) = standin::with_nodes(1);
    let mut child = spawn(
        &kc,
        &[
            "check",
            "--timeout",
            "1m",
            "--image",
            "registry.local/cococtl:test",
        ],
    );
    let stderr = collect(child.stderr.take().unwrap());
    let stdout = collect(child.stdout.take().unwrap());
    // The run's id, once its DaemonSet is applied and the wait has begun.
    let mut run = None;
    assert!(until(Duration::from_secs(20), || {
        run = server
            .get(
                "/apis/apps/v1",
                "daemonsets",
                "cococtl-check",
                "cococtl-check",
            )
            .and_then(|ds| {
                ds["spec"]["template"]["spec"]["containers"][0]["env"]
                    .as_array()?
                    .iter()
                    .find(|v| v["name"] == "COCOCTL_PROBE_RUN")?["value"]
                    .as_str()
                    .map(str::to_string)
            });
        run.is_some() && stderr.lock().unwrap().contains("node(s) reported")
    }));
    let run = run.unwrap();
    server.outage(DOWN);
    // The node's probe agent publishes while the API server is away (the stand-in's
    // store, not its port).
    server.merge(
        "/api/v1",
        "nodes",
        "",
        "worker-1",
        serde_json::json!({"metadata": {"annotations": {
            "probe.cococtl.confidentialcontainers.org/report": summary(&run)
        }}}),
    );
    let code = child.wait().unwrap().code();
    let (out, err) = (stdout.lock().unwrap(), stderr.lock().unwrap());
    assert!(err.contains("API server unreachable since "), "{err}");
    assert_eq!(code, Some(0), "{err}{out}");
    assert!(out.contains("worker-1"), "{out}");
    assert!(
        !out.contains("did not run"),
        "the result came through: {out}"
    );
    assert!(server
        .get("/api/v1", "namespaces", "", "cococtl-check")
        .is_none());
}

/// A probe summary of `run`: a coco-dev-capable node.
fn summary(run: &str) -> String {
    serde_json::json!({
        "schema": "cococtl.probe-summary/v1",
        "probe_version": "0.1.0",
        "run": run,
        "verdicts": {
            "snp": {"verdict": "ready", "blocked_by": []},
            "tdx": {"verdict": "not-applicable"},
            "se": {"verdict": "not-applicable"},
            "gpu-passthrough": {"verdict": "not-applicable"},
            "cvm": {"verdict": "not-applicable"}
        },
        "profile": "x86_64",
        "shims": {"qemu-snp": {"ready": true, "why": "ready: SEV-SNP host"}},
        "checks": {"kvm.present": "p", "snp.ready": "p"},
        "remediations": []
    })
    .to_string()
}
