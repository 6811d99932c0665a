//! Two installs side by side (issue 18 item 7): the default instance and one with
//! `env.multiInstallSuffix=teamb` in the same namespace. Each has its own state ConfigMap
//! and records; upgrading one leaves every object of the other as it was (same
//! resourceVersion); uninstalling one leaves every object of the other in place and its
//! status healthy.

mod standin;

use std::collections::BTreeMap;

use cococtl_cluster::testing::ApiServer;
use standin::{cococtl, text};

const INSTANCE: &str = "cococtl.confidentialcontainers.org/instance";

/// Every kind an install applies or records, where the stand-in stores it.
const KINDS: [(&str, &str); 8] = [
    ("/api/v1", "namespaces"),
    ("/api/v1", "serviceaccounts"),
    ("/api/v1", "configmaps"),
    ("/api/v1", "secrets"),
    ("/apis/apps/v1", "daemonsets"),
    ("/apis/node.k8s.io/v1", "runtimeclasses"),
    ("/apis/rbac.authorization.k8s.io/v1", "clusterroles"),
    ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings"),
];

/// `plural/namespace/name` → resourceVersion of every object labelled for `instance`
/// (its records included).
fn objects_of(server: &ApiServer, instance: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (prefix, plural) in KINDS {
        for o in server.list(prefix, plural) {
            let labels = &o["metadata"]["labels"];
            let mine = labels[INSTANCE] == instance
                || labels["cococtl.confidentialcontainers.org/release"] == instance;
            if mine {
                out.insert(
                    format!(
                        "{plural}/{}/{}",
                        o["metadata"]["namespace"].as_str().unwrap_or(""),
                        o["metadata"]["name"].as_str().unwrap_or("")
                    ),
                    o["metadata"]["resourceVersion"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                );
            }
        }
    }
    out
}

fn ok(kc: &std::path::Path, args: &[&str]) -> String {
    let o = cococtl(kc, args);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "cococtl {}:\n{t}", args.join(" "));
    t
}

#[test]
fn two_instances_side_by_side_upgrade_and_uninstall_one_and_the_other_is_untouched() {
    let (server, _dir, kc) = standin::with_nodes(2);
    ok(
        &kc,
        &[
            "install",
            "--profile",
            "x86_64",
            "--wait",
            "--timeout",
            "1m",
        ],
    );
    let t = ok(
        &kc,
        &[
            "install",
            "--profile",
            "x86_64",
            "--set",
            "env.multiInstallSuffix=teamb",
            "--wait",
            "--timeout",
            "1m",
        ],
    );
    assert!(t.contains("release teamb revision 1 deployed"), "{t}");

    // Each its own state ConfigMap, DaemonSet and records.
    for (name, sfx) in [
        ("cococtl-kata-deploy-state", ""),
        ("cococtl-teamb-kata-deploy-state", "teamb"),
    ] {
        let cm = server
            .get("/api/v1", "configmaps", "coco-system", name)
            .unwrap_or_else(|| panic!("no {name}"));
        assert_eq!(cm["data"]["multiInstallSuffix"], sfx, "{cm}");
    }
    for ds in ["kata-deploy", "kata-deploy-teamb"] {
        assert!(
            server
                .get("/apis/apps/v1", "daemonsets", "coco-system", ds)
                .is_some(),
            "{ds}"
        );
    }
    let a = objects_of(&server, "default");
    let b = objects_of(&server, "teamb");
    assert!(a.keys().all(|k| !b.contains_key(k)), "{a:?}\n{b:?}");
    assert!(
        b.contains_key("secrets/coco-system/cococtl.release.teamb.v1"),
        "{b:?}"
    );

    // Upgrading A rewrites none of B's objects.
    let t = ok(
        &kc,
        &[
            "upgrade",
            "--instance",
            "default",
            "--reuse-values",
            "--set",
            "debug=true",
            "--wait",
            "--timeout",
            "1m",
        ],
    );
    assert!(t.contains("revision 2"), "{t}");
    // The namespace is shared: both apply it (its Pod Security labels), and the instance
    // label of the last one to apply it wins.
    let own = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        m.iter()
            .filter(|(k, _)| !k.starts_with("namespaces/"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    assert_eq!(
        own(&objects_of(&server, "teamb")),
        own(&b),
        "B after upgrading A"
    );

    // Uninstalling A leaves every object of B, and B healthy.
    let t = ok(
        &kc,
        &["uninstall", "--instance", "default", "--timeout", "1m"],
    );
    assert!(t.contains("nothing left"), "{t}");
    assert!(objects_of(&server, "default").is_empty());
    let after = objects_of(&server, "teamb");
    let missing: Vec<&String> = b.keys().filter(|k| !after.contains_key(*k)).collect();
    assert!(missing.is_empty(), "B lost {missing:?}\n{t}");
    assert_eq!(
        own(&after),
        own(&b),
        "B's objects unchanged by A's uninstall"
    );
    let ns = server
        .get("/api/v1", "namespaces", "", "coco-system")
        .unwrap();
    assert!(ns["metadata"]["deletionTimestamp"].is_null(), "{ns}");
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "privileged",
        "B's pods still may mount host paths: {ns}"
    );
    let t = ok(&kc, &["status", "--instance", "teamb"]);
    assert!(t.contains("nodes: 2/2 targeted ready"), "{t}");
    assert!(!t.contains("DEGRADED"), "{t}");
}
