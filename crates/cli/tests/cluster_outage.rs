//! The control plane blinks (issue 18 item 1), as a user meets it: the stand-in stops
//! listening (connection refused, open watches cut) for a few seconds in the middle of a
//! phase or a wait of install, upgrade and uninstall; the command completes, says it is
//! retrying, and the release record shows no failure.

mod standin;

use std::time::Duration;

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
            // preflight, the apply phase, the wait
            on("GET", "/api/v1/nodes", false),
            on("PATCH", "/runtimeclasses/", false),
            // the wait's first node list (the second nodes list) and its pod list
            on("GET", "/api/v1/nodes", false),
            on("GET", "/pods", false),
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
            on("GET", "/pods", false),
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
            on("GET", "/pods", true),
        ],
    );
    assert!(t.contains("nothing left"), "{t}");
}
