//! The shipped binary carries no test hooks: the agent's fault injection and the
//! process-based service manager exist only in test builds (the `test-hooks` feature,
//! enabled by dev-dependencies). `scripts/test` builds the binary as `cargo build` does and
//! runs this test against it (`COCOCTL_PRODUCTION_BINARY`); it is ignored otherwise,
//! because `cargo test` itself links the hooks in.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn production() -> PathBuf {
    PathBuf::from(std::env::var("COCOCTL_PRODUCTION_BINARY").expect(
        "COCOCTL_PRODUCTION_BINARY: the path of a binary built by `cargo build -p cococtl` (scripts/test sets it)",
    ))
}

#[test]
#[ignore = "run by scripts/test against the binary `cargo build` makes"]
fn the_shipped_binary_does_not_know_the_test_variables() {
    let bytes = std::fs::read(production()).unwrap();
    for var in ["COCOCTL_TEST_CRASH_AFTER", "COCOCTL_TEST_SYSTEMD"] {
        assert!(
            !bytes.windows(var.len()).any(|w| w == var.as_bytes()),
            "{var} is compiled into the shipped binary"
        );
    }
}

#[test]
#[ignore = "run by scripts/test against the binary `cargo build` makes"]
fn the_shipped_agent_ignores_the_test_variables() {
    let deps = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-deps/containerd");
    let tarballs = deps.join("tarballs");
    let name = "containerd-1.7.24-linux-amd64.tar.gz";
    let sha = std::fs::read_to_string(tarballs.join("SHA256SUMS"))
        .unwrap()
        .lines()
        .find(|l| l.ends_with(name))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let mut srv = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/fault_server.py"))
        .arg(&tarballs)
        .arg("60")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    std::io::BufReader::new(srv.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    let host = tempfile::tempdir().unwrap();
    let r = host.path();
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::fs::write(r.join("etc/os-release"), "ID=debian\n").unwrap();
    std::fs::create_dir_all(r.join("lib/systemd/system")).unwrap();
    std::fs::write(
        r.join("lib/systemd/system/containerd.service"),
        "[Service]\nExecStart=/usr/bin/containerd\n",
    )
    .unwrap();
    let out = Command::new(production())
        .args([
            "node",
            "containerd",
            "install",
            "--once",
            "--allow-insecure-http",
            "--health-timeout",
            "2",
            "--host-root",
        ])
        .arg(r)
        .args([
            "--tarball-url",
            &format!("http://127.0.0.1:{}/files/{name}", port.trim()),
            "--sha256",
            &sha,
        ])
        .env("COCOCTL_TEST_CRASH_AFTER", "journal")
        .env("COCOCTL_TEST_SYSTEMD", "process")
        .env_remove("NODE_NAME")
        .output()
        .unwrap();
    let _ = srv.kill();
    let _ = srv.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // No abort at the journal (SIGABRT), and systemd is the host's, not the test build's
    // process-based one (which answers everything): where the host's systemd cannot be
    // reached (this sandbox: `__host-exec` may not enter PID 1, or finds no systemctl
    // there) the agent refuses before any change, naming the cause; where it can, the
    // install fails at the restart and rolls back. Either way never the test hooks'
    // behaviour.
    assert!(!stderr.contains("test hook"), "{stderr}");
    assert!(
        stderr.contains("systemctl") || stderr.contains("mount namespace"),
        "{stderr}"
    );
    match out.status.code() {
        Some(2) => assert!(
            stderr.contains("cannot reach the host's systemd")
                && stderr.contains("nothing was changed"),
            "{stderr}"
        ),
        Some(1) => assert!(stderr.contains("rolled back"), "{stderr}"),
        other => panic!("exit {other:?}: {stderr}"),
    }
    assert!(!r.join("var/lib/cococtl/containerd/journal.json").exists());
}
