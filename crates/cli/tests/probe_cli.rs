//! `cococtl probe` as a user runs it: exit codes 0 ready / 1 not ready / 2 probe failed, the
//! versioned JSON report, and capture then replay.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture() -> (PathBuf, PathBuf) {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../probe/tests/fixtures/this-machine");
    (d.join("root"), d.join("hw.json"))
}

fn probe(args: &[&str]) -> Output {
    let (root, hw) = fixture();
    Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .arg("probe")
        .args([
            "--root",
            root.to_str().unwrap(),
            "--hw",
            hw.to_str().unwrap(),
        ])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn recommended_profile_ready_exits_0_and_names_it() {
    let out = probe(&[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("profile: remote"), "{text}");
    assert!(
        !text.contains("\x1b["),
        "no colour when stdout is not a terminal"
    );
}

#[test]
fn requested_profile_not_ready_exits_1() {
    let out = probe(&["--profile", "x86_64"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Profile x86_64: not ready"));
}

#[test]
fn json_report_is_versioned_and_complete() {
    let out = probe(&["-o", "json", "--profile", "remote"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], "cococtl.probe/v1");
    assert!(v["checks"].as_array().unwrap().len() >= 40);
    let c = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "kvm.vendor_module")
        .unwrap();
    assert_eq!(c["status"], "fail");
    assert!(c["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["source"] == "/sys/module/kvm_amd"));
    assert!(c["remediation"].as_str().unwrap().contains("remote"));
    assert_eq!(v["profile"]["ready"], true);
}

#[test]
fn unreadable_hw_file_or_unknown_profile_exits_2() {
    let (root, _) = fixture();
    let out = Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args([
            "probe",
            "--root",
            root.to_str().unwrap(),
            "--hw",
            "/nonexistent/hw.json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--hw /nonexistent/hw.json"));
    let out = probe(&["--profile", "no-such-profile"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn capture_then_replay_gives_the_same_report() {
    let (root, hw) = fixture();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args([
            "probe",
            "--root",
            root.to_str().unwrap(),
            "--hw",
            hw.to_str().unwrap(),
            "capture",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args(["probe", "-o", "json", "--root"])
        .arg(dir.path().join("root"))
        .arg("--hw")
        .arg(dir.path().join("hw.json"))
        .output()
        .unwrap();
    assert_eq!(again.stdout, probe(&["-o", "json"]).stdout);
}
