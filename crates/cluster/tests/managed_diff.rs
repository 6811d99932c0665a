//! `diff` compares only the fields cococtl manages (issue 18 item 8), checked on a real
//! kube-apiserver v1.36 pair: the kata-deploy DaemonSet as created (exchange 10) and as
//! applied again with one env var changed (exchange 13). The server set
//! `deprecated.daemonset.template.generation`, `generation`, defaults and `status` in
//! both; only the env var is cococtl's change.

use cococtl_cluster::core::fielddiff::{applied_fields, diff, managed_diff};
use serde_json::{json, Value};

/// An exchange's response body, by its path from the workspace root.
fn captured(file: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/kube-apiserver-1.36/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: Value = serde_json::from_str(&text).unwrap();
    v["response"]["body"].clone()
}

#[test]
fn only_cococtls_fields_differ_between_two_real_applies() {
    let live = captured("10-ssa-daemonset-create.json");
    let after = captured("13-ssa-daemonset-env-changed.json");
    let owned = applied_fields(&after, "cococtl").expect("cococtl's Apply entry");
    let changes = managed_diff(&live, &after, owned);
    assert!(!changes.is_empty());
    for c in &changes {
        assert!(
            c.path.starts_with(".spec.template.spec.containers[0].env["),
            "not an env var of kube-kata: {c:?}\nall: {changes:#?}"
        );
    }
    // The whole-object comparison sees what the server set.
    let all = diff(&live, &after);
    assert!(
        all.iter()
            .any(|c| c.path == ".metadata.annotations.deprecated.daemonset.template.generation"),
        "{all:#?}"
    );
}

#[test]
fn server_set_fields_never_show_whatever_their_values() {
    let live = captured("12-ssa-daemonset-reapply-unchanged.json");
    let owned = applied_fields(&live, "cococtl").unwrap().clone();
    let mut after = live.clone();
    after["metadata"]["annotations"]["deprecated.daemonset.template.generation"] = json!("7");
    after["metadata"]["generation"] = json!(9);
    after["status"] = json!({"numberReady": 3});
    // Defaulted by the server, not applied by cococtl.
    after["spec"]["revisionHistoryLimit"] = json!(3);
    after["spec"]["template"]["spec"]["dnsPolicy"] = json!("None");
    assert_eq!(managed_diff(&live, &after, &owned), vec![]);
}

#[test]
fn a_change_to_an_owned_field_shows_and_a_removed_list_item_shows() {
    let live = captured("12-ssa-daemonset-reapply-unchanged.json");
    let owned = applied_fields(&live, "cococtl").unwrap().clone();
    let mut after = live.clone();
    after["spec"]["template"]["spec"]["containers"][0]["image"] = json!("example/other:1");
    let c = managed_diff(&live, &after, &owned);
    assert_eq!(c.len(), 1, "{c:#?}");
    assert_eq!(c[0].path, ".spec.template.spec.containers[0].image");
    assert_eq!(c[0].new.as_deref(), Some("example/other:1"));

    let mut after = live.clone();
    let env = after["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array_mut()
        .unwrap();
    let gone = env.remove(0);
    let c = managed_diff(&live, &after, &owned);
    assert!(
        c.iter().any(|c| c.new.is_none()
            && c.old
                .as_deref()
                .is_some_and(|o| o.contains(gone["name"].as_str().unwrap()))),
        "{c:#?}"
    );
}
