//! `cococtl artifact push` and the agent's `oci://` download, end to end with the real
//! binary: Debian's containerd 2.1.9 (repacked as a release tarball by
//! scripts/setup.d/containerd-debs.sh) pushed into a real registry (docker-registry, TLS
//! from a test CA, htpasswd), then fetched, unpacked and verified by
//! `cococtl node containerd fetch` with the pull secret. The install itself from such a
//! download is in node_containerd.rs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use cococtl_containerd::test_registry::{RegistryOptions, TestRegistry};

const V21: &str = "containerd-2.1.9-linux-amd64.tar.gz";

fn tarball() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-deps/containerd");
    assert!(d.join(".done-v1").exists(), "real containerd test deps are missing: run ./scripts/test (it runs scripts/setup.d/containerd-debs.sh)");
    d.join("tarballs").join(V21)
}

fn sha_of(p: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(p).unwrap()))
}

fn registry(dir: &Path) -> TestRegistry {
    TestRegistry::start(
        &dir.join("reg"),
        RegistryOptions {
            auth: Some(("robot".into(), "s3cret".into())),
        },
    )
    .unwrap()
}

fn push(reg: &TestRegistry, file: &Path, target: &str, password: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args(["artifact", "push", "--file"])
        .arg(file)
        .arg(target)
        .arg("--ca")
        .arg(reg.ca_pem())
        .args(["--username", "robot", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `tarballUrl:` and `sha256:` from push's output.
fn values(o: &Output) -> (String, String) {
    let out = String::from_utf8(o.stdout.clone()).unwrap();
    let get = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap_or_else(|| panic!("no {k} in {out}"))
            .trim()
            .to_string()
    };
    (get("tarballUrl:"), get("sha256:"))
}

#[test]
fn a_pushed_release_tarball_is_fetched_and_verified_from_the_registry_with_the_pull_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = registry(tmp.path());
    let target = format!("oci://{}/coco/containerd:2.1.9", reg.host());
    let out = push(&reg, &tarball(), &target, "s3cret");
    assert!(out.status.success(), "{}", stderr(&out));
    let (url, sha) = values(&out);
    assert!(
        url.starts_with(&format!("oci://{}/coco/containerd@sha256:", reg.host())),
        "{url}"
    );
    assert_eq!(sha, sha_of(&tarball()), "the tarball's own sha256");
    assert!(
        stderr(&out).contains("--set customContainerd.tarballUrl="),
        "{}",
        stderr(&out)
    );
    // Deterministic: the same tarball under another tag is the same manifest.
    let again = push(
        &reg,
        &tarball(),
        &format!("oci://{}/coco/containerd:latest", reg.host()),
        "s3cret",
    );
    assert_eq!(values(&again).0, url);

    let secret = tmp.path().join("config.json");
    std::fs::write(&secret, reg.docker_config()).unwrap();
    let dest = tmp.path().join("unpacked");
    let out = Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args([
            "node",
            "containerd",
            "fetch",
            "--tarball-url",
            &url,
            "--sha256",
            &sha,
        ])
        .arg("--pull-secret")
        .arg(&secret)
        .arg("--registry-ca")
        .arg(reg.ca_pem())
        .arg("--dest")
        .arg(&dest)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("verified containerd") && err.contains("2.1.9"),
        "{err}"
    );
    assert!(dest.join("bin/containerd").exists());
}

#[test]
fn a_wrong_password_is_refused_naming_the_registry_and_nothing_is_pushed() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = registry(tmp.path());
    let out = push(
        &reg,
        &tarball(),
        &format!("oci://{}/coco/containerd:2.1.9", reg.host()),
        "wrong",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).contains(&format!(
            "registry {} refused the credentials of --username/--password-stdin (user `robot`)",
            reg.host()
        )),
        "{}",
        stderr(&out)
    );
    assert!(reg.inspect_raw("coco/containerd:2.1.9").is_err());
}

#[test]
fn a_file_that_is_not_a_gzip_tarball_or_a_target_without_a_tag_is_refused_before_any_upload() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = registry(tmp.path());
    let not_gz = tmp.path().join("containerd.tar");
    std::fs::write(&not_gz, b"plain tar, not gzip").unwrap();
    let out = push(
        &reg,
        &not_gz,
        &format!("oci://{}/coco/containerd:x", reg.host()),
        "s3cret",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a gzip'd tar"),
        "{}",
        stderr(&out)
    );
    let out = push(
        &reg,
        &tarball(),
        &format!("oci://{}/coco/containerd", reg.host()),
        "s3cret",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("oci://HOST/REPO:TAG"),
        "{}",
        stderr(&out)
    );
}
