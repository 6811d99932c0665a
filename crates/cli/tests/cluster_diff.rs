//! `diff` and `upgrade --dry-run=server` show only what cococtl changes (issue 18 item 8):
//! the stand-in sets the DaemonSet's `deprecated.daemonset.template.generation` as
//! kube-apiserver does, and it never shows as a change.

mod standin;

use standin::{cococtl, text};

#[test]
fn server_set_fields_never_show_in_diff_or_a_server_dry_run() {
    let (server, _dir, kc) = standin::with_nodes(1);
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
