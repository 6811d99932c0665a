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

/// A bare-metal AMD host whose KVM works but whose SEV-SNP is off (no `sev_snp` flag):
/// only the non-confidential `qemu-coco-dev` shim fits.
fn dev_only_host(dir: &Path) -> (PathBuf, PathBuf) {
    let root = dir.join("root");
    let file = |p: &str, text: &str| {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, format!("{text}\n")).unwrap();
    };
    file("proc/sys/kernel/arch", "x86_64");
    file("proc/sys/kernel/osrelease", "6.12.8");
    file("proc/self/status", "Name:\tcococtl\nUid:\t0\t0\t0\t0");
    file("proc/cmdline", "ro quiet");
    file(
        "proc/cpuinfo",
        "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\nmodel name\t: AMD EPYC 7763\nflags\t\t: fpu svm xsave",
    );
    file("sys/module/kvm_amd/parameters/sev_snp", "N");
    for m in ["kvm", "vhost", "vhost_net", "vhost_vsock"] {
        std::fs::create_dir_all(root.join("sys/module").join(m)).unwrap();
    }
    let hw = dir.join("hw.json");
    std::fs::write(
        &hw,
        r#"{"cpuid": {"0x0/0": [16, 0, 0, 0], "0x1/0": [0, 0, 0, 0],
                      "0x80000000/0": [2147483688, 0, 0, 0], "0x8000001f/0": [0, 0, 0, 0]},
            "kvm": {"api_version": 12, "vm_types": 1},
            "kmsg": {"lines": [], "complete": true},
            "devices": {"dev/kvm": "char"}}"#,
    )
    .unwrap();
    (root, hw)
}

#[test]
fn x86_64_profile_with_only_the_dev_shim_ready_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let (root, hw) = dev_only_host(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args(["probe", "--profile", "x86_64", "--root"])
        .arg(&root)
        .arg("--hw")
        .arg(&hw)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("Profile x86_64: not ready"), "{text}");
    assert!(
        text.contains("only non-confidential shims are ready: qemu-coco-dev"),
        "{text}"
    );
    let json = Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args(["probe", "-o", "json", "--profile", "x86_64", "--root"])
        .arg(&root)
        .arg("--hw")
        .arg(&hw)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["profile"]["ready"], false);
    assert_eq!(v["profile"]["dev_only_ready"][0], "qemu-coco-dev");
}
