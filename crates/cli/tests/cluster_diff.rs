//! `diff` and `upgrade --dry-run=server` show only what cococtl changes (issue 18 item 8):
//! the stand-in sets the DaemonSet's `deprecated.daemonset.template.generation` as
//! kube-apiserver does, and it never shows as a change.

use std::process::{Command, Output};
use std::time::Duration;

use cococtl_cluster::testing::{ApiServer, Sim};

fn cococtl(kc: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args(args)
        .arg("--kubeconfig")
        .arg(kc)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    )
}

#[test]
fn server_set_fields_never_show_in_diff_or_a_server_dry_run() {
    let server = ApiServer::start(Sim {
        watch_quiet: Duration::from_millis(400),
        ..Default::default()
    });
    server.add_node("worker-1", &[]);
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("config");
    std::fs::write(&kc, server.kubeconfig()).unwrap();
    let o = cococtl(&kc, &["install", "--profile", "x86_64", "--wait=false"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let ds = server
        .get("/apis/apps/v1", "daemonsets", "coco-system", "kata-deploy")
        .unwrap();
    assert_eq!(
        ds["metadata"]["annotations"]["deprecated.daemonset.template.generation"], "1",
        "the stand-in sets it as the real server does"
    );

    for args in [
        &["diff", "--profile", "x86_64", "--set", "debug=true"][..],
        &[
            "upgrade",
            "--reuse-values",
            "--set",
            "debug=true",
            "--dry-run=server",
        ][..],
    ] {
        let o = cococtl(&kc, args);
        let t = text(&o);
        assert!(
            t.contains("kata-deploy"),
            "{args:?}: the DaemonSet changes:\n{t}"
        );
        // debug=true changes the container's command and its DEBUG env var, nothing else
        // cococtl applies.
        let ds = t
            .lines()
            .find(|l| l.contains("DaemonSet/coco-system/kata-deploy"))
            .unwrap_or_default();
        assert!(ds.ends_with("(2 field(s))"), "{args:?}: {ds}\n{t}");
        for server_set in [
            "deprecated.daemonset.template.generation",
            ".metadata.generation",
            ".status",
        ] {
            assert!(
                !t.contains(server_set),
                "{args:?}: {server_set} shown:\n{t}"
            );
        }
    }
    // Nothing changed by cococtl: nothing shown, though the server moved its own fields.
    let o = cococtl(&kc, &["diff", "--profile", "x86_64"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("0 object(s) would change"), "{t}");
}
