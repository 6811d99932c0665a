//! `cococtl version`: the binary's version, build and pinned upstream releases, in each
//! output format; `--version` keeps clap's one line.

use std::process::Command;

use serde_json::Value;

fn cococtl(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn json_names_the_version_commit_target_and_upstream_releases() {
    let v: Value = serde_json::from_str(&cococtl(&["version", "-o", "json"])).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    let commit = v["gitCommit"].as_str().unwrap();
    assert!(
        commit == "unknown"
            || (commit.len() == 40 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{commit}"
    );
    // The test build is for this machine; its triple starts with the architecture.
    assert!(
        v["target"]
            .as_str()
            .unwrap()
            .starts_with(std::env::consts::ARCH),
        "{v}"
    );
    assert_eq!(v["upstream"]["kataDeploy"], "4.1.0");
    assert_eq!(v["upstream"]["peerpodsChart"], "0.4.0");
    assert_eq!(v["upstream"]["cloudApiAdaptor"], "v0.22.0");
}

#[test]
fn yaml_and_text_say_the_same() {
    let json: Value = serde_json::from_str(&cococtl(&["version", "-o", "json"])).unwrap();
    let yaml: Value = serde_yaml::from_str(&cococtl(&["version", "-o", "yaml"])).unwrap();
    assert_eq!(json, yaml);
    let text = cococtl(&["version"]);
    assert!(
        text.starts_with(&format!("cococtl {}\n", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    for key in ["gitCommit", "target"] {
        assert!(text.contains(json[key].as_str().unwrap()), "{text}");
    }
    assert!(text.contains("kata-deploy:       4.1.0"), "{text}");
}

#[test]
fn the_version_flag_is_still_one_line() {
    assert_eq!(
        cococtl(&["--version"]),
        format!("cococtl {}\n", env!("CARGO_PKG_VERSION"))
    );
}
