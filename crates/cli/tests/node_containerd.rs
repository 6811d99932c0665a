//! `cococtl node containerd` end to end: the real binary installs Debian's real containerd
//! builds (served over HTTP on 127.0.0.1) into a temporary host root whose "distribution"
//! containerd 1.6.20 really runs as an isolated process. systemd is the process-based test
//! implementation (COCOCTL_TEST_SYSTEMD=process). Prepared by scripts/setup.d/containerd-debs.sh.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use cococtl_containerd::testing::ProcessSystemd;

/// containerd processes are heavy for a 2-core machine: one host at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn deps() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-deps/containerd");
    assert!(d.join(".done-v1").exists(), "real containerd test deps are missing: run ./scripts/test (it runs scripts/setup.d/containerd-debs.sh)");
    d
}

fn sha(name: &str) -> String {
    let sums = std::fs::read_to_string(deps().join("tarballs/SHA256SUMS")).unwrap();
    sums.lines()
        .find(|l| l.ends_with(name))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn file_sha(p: &Path) -> String {
    let out = Command::new("sha256sum").arg(p).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let mut child = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/fault_server.py"))
            .arg(dir)
            .arg("120")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Server {
            child,
            port: line.trim().parse().unwrap(),
        }
    }

    fn url(&self, mode: &str, name: &str) -> String {
        format!("http://127.0.0.1:{}/{mode}/{name}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Host {
    dir: tempfile::TempDir,
    _serial: MutexGuard<'static, ()>,
}

impl Host {
    /// A host whose distribution containerd 1.6.20 runs from /usr/bin under a systemd unit.
    fn new() -> Host {
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        for f in std::fs::read_dir(deps().join("1.6.20/release/bin")).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), root.join("usr/bin").join(f.file_name())).unwrap();
        }
        std::fs::create_dir_all(root.join("lib/systemd/system")).unwrap();
        std::fs::write(
            root.join("lib/systemd/system/containerd.service"),
            "[Unit]\nDescription=containerd\n[Service]\nExecStart=/usr/bin/containerd\n",
        )
        .unwrap();
        std::fs::create_dir_all(root.join("etc/containerd")).unwrap();
        std::fs::write(root.join("etc/os-release"), "ID=debian\nVERSION_ID=12\n").unwrap();
        let r = root.display();
        std::fs::write(
            root.join("etc/containerd/config.toml"),
            format!("version = 2\nroot = \"{r}/var/lib/containerd\"\nstate = \"{r}/run/containerd\"\n[grpc]\n  address = \"{r}/run/containerd/containerd.sock\"\n[ttrpc]\n  address = \"{r}/run/containerd/containerd.sock.ttrpc\"\n"),
        )
        .unwrap();
        let h = Host {
            dir,
            _serial: serial,
        };
        h.systemd().start("containerd.service").unwrap();
        assert_eq!(
            h.wait_version(),
            "1.6.20~ds1",
            "the distribution containerd runs"
        );
        h
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn systemd(&self) -> ProcessSystemd {
        ProcessSystemd {
            host_root: self.root().to_path_buf(),
        }
    }

    /// The running server's version, asked over its socket.
    fn server_version(&self) -> Option<String> {
        let out = Command::new(deps().join("2.1.9/release/bin/ctr"))
            .arg("--address")
            .arg(self.root().join("run/containerd/containerd.sock"))
            .arg("version")
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.split("Server:")
            .nth(1)?
            .lines()
            .find_map(|l| l.trim().strip_prefix("Version:"))
            .map(|v| v.trim().to_string())
    }

    fn wait_version(&self) -> String {
        for _ in 0..100 {
            if let Some(v) = self.server_version() {
                return v;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "containerd did not answer; log:\n{}",
            std::fs::read_to_string(self.root().join("var/log/containerd.log")).unwrap_or_default()
        );
    }

    fn cococtl(&self, action: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cococtl"));
        c.args(["node", "containerd", action, "--host-root"])
            .arg(self.root())
            .args(args)
            .env("COCOCTL_TEST_SYSTEMD", "process")
            .env_remove("NODE_NAME");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn install(&self, url: &str, sha256: &str, extra: &[&str]) -> Output {
        let mut args = vec!["--once", "--allow-insecure-http", "--tarball-url", url];
        if !extra.contains(&"--health-timeout") {
            args.extend(["--health-timeout", "20"]);
        }
        if !sha256.is_empty() {
            args.extend(["--sha256", sha256]);
        }
        args.extend(extra);
        self.cococtl("install", &args, &[])
    }

    fn exists(&self, rel: &str) -> bool {
        self.root().join(rel).exists()
    }

    /// Side mode's version directories (`opt/confidential-containers/cococtl/containerd/*`).
    fn side_dirs(&self) -> Vec<PathBuf> {
        std::fs::read_dir(
            self.root()
                .join("opt/confidential-containers/cococtl/containerd"),
        )
        .map(|it| it.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default()
    }

    fn dropin(&self) -> String {
        std::fs::read_to_string(
            self.root()
                .join("etc/systemd/system/containerd.service.d/50-cococtl.conf"),
        )
        .unwrap_or_default()
    }

    /// Mounts a tmpfs of `mib` MiB at `rel` (moving what was there into it); `None` when
    /// this machine does not allow mounting (the test then says so loudly and skips).
    fn small_fs(&self, rel: &str, mib: u64) -> Option<Mount> {
        let at = self.root().join(rel);
        let keep = self.root().join(format!("{rel}.keep"));
        std::fs::create_dir_all(&at).unwrap();
        std::fs::rename(&at, &keep).unwrap();
        std::fs::create_dir_all(&at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&at)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIPPED: cannot mount a tmpfs at {} on this machine (not root, or no CAP_SYS_ADMIN): the full-disk case is not exercised here", at.display());
            std::fs::remove_dir(&at).unwrap();
            std::fs::rename(&keep, &at).unwrap();
            return None;
        }
        let st = Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", keep.display()))
            .arg(&at)
            .status()
            .unwrap();
        assert!(st.success());
        std::fs::remove_dir_all(&keep).unwrap();
        Some(Mount(at))
    }
}

/// A tmpfs, unmounted when dropped.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.systemd().stop();
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn tarballs() -> PathBuf {
    deps().join("tarballs")
}

const V17: &str = "containerd-1.7.24-linux-amd64.tar.gz";
const V21: &str = "containerd-2.1.9-linux-amd64.tar.gz";

#[test]
fn side_install_upgrades_restarts_and_passes_the_gate_without_touching_the_distro_binaries() {
    let h = Host::new();
    let distro = file_sha(&h.root().join("usr/bin/containerd"));
    let srv = Server::start(&tarballs());
    let out = h.install(&srv.url("files", V17), &sha(V17), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(h.wait_version(), "1.7.24~ds1");
    let dirs = h.side_dirs();
    assert_eq!(dirs.len(), 1);
    assert!(dirs[0].join("containerd").exists());
    assert!(
        h.dropin()
            .contains("ExecStart=/opt/confidential-containers/cococtl/containerd/1.7.24"),
        "{}",
        h.dropin()
    );
    assert_eq!(file_sha(&h.root().join("usr/bin/containerd")), distro);
    assert!(!h.exists("var/lib/cococtl/containerd/journal.json"));
    assert!(stderr(&out).contains("cococtl.confidentialcontainers.org/containerd=ready"));

    // The same tarball again: no restart.
    let pid = std::fs::read_to_string(h.root().join("run/cococtl-test-containerd.pid")).unwrap();
    let again = h.install(&srv.url("files", V17), &sha(V17), &[]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("nothing to do"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        std::fs::read_to_string(h.root().join("run/cococtl-test-containerd.pid")).unwrap(),
        pid
    );

    // A different tarball upgrades through the same gate.
    let up = h.install(&srv.url("files", V21), &sha(V21), &[]);
    assert!(up.status.success(), "{}", stderr(&up));
    assert!(h.wait_version().starts_with("2.1.9"));

    // Status, then restore returns to the distribution's containerd and removes everything.
    let st = h.cococtl("status", &["-o", "json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v["installed"]["sha256"], sha(V21));
    let r = h.cococtl("restore", &[], &[]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert_eq!(h.wait_version(), "1.6.20~ds1");
    assert!(!h.exists("etc/systemd/system/containerd.service.d/50-cococtl.conf"));
    assert!(h.side_dirs().is_empty());
    assert!(!h.exists("var/lib/cococtl/containerd/state.json"));
}

#[test]
fn side_install_rolls_back_when_new_containerd_does_not_start() {
    let h = Host::new();
    let srv = Server::start(&tarballs());
    let name = "containerd-broken-linux-amd64.tar.gz";
    let out = h.install(
        &srv.url("files", name),
        &sha(name),
        &["--health-timeout", "5"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("rolled back"), "{}", stderr(&out));
    assert!(stderr(&out).contains("containerd=rolled-back"));
    assert_eq!(
        h.wait_version(),
        "1.6.20~ds1",
        "the previous containerd runs again"
    );
    assert!(!h.exists("etc/systemd/system/containerd.service.d/50-cococtl.conf"));
    assert!(h.side_dirs().is_empty());
    assert!(!h.exists("var/lib/cococtl/containerd/state.json"));
}

#[test]
fn in_place_install_replaces_the_unit_binaries_and_restore_puts_the_originals_back() {
    let h = Host::new();
    let distro = file_sha(&h.root().join("usr/bin/containerd"));
    let srv = Server::start(&tarballs());
    let out = h.install(&srv.url("files", V17), &sha(V17), &["--mode", "in-place"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(h.wait_version(), "1.7.24~ds1");
    assert_ne!(file_sha(&h.root().join("usr/bin/containerd")), distro);
    assert!(!h.exists("etc/systemd/system/containerd.service.d/50-cococtl.conf"));
    let r = h.cococtl("restore", &[], &[]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert_eq!(file_sha(&h.root().join("usr/bin/containerd")), distro);
    assert_eq!(h.wait_version(), "1.6.20~ds1");
}

#[test]
fn kill_9_between_install_steps_is_recovered_on_the_next_start() {
    for step in [
        "journal",
        "step:2",
        "step:5",
        "applied",
        "gated",
        "committed",
    ] {
        let h = Host::new();
        let srv = Server::start(&tarballs());
        let mut c = Command::new(env!("CARGO_BIN_EXE_cococtl"));
        let crashed = c
            .args([
                "node",
                "containerd",
                "install",
                "--once",
                "--allow-insecure-http",
                "--host-root",
            ])
            .arg(h.root())
            .args([
                "--tarball-url",
                &srv.url("files", V17),
                "--sha256",
                &sha(V17),
            ])
            .env("COCOCTL_TEST_SYSTEMD", "process")
            .env("COCOCTL_TEST_CRASH_AFTER", step)
            .output()
            .unwrap();
        assert!(!crashed.status.success(), "{step}: the hook aborts");
        assert!(
            h.exists("var/lib/cococtl/containerd/journal.json"),
            "{step}: the journal survives"
        );
        let st = h.cococtl("status", &[], &[]);
        assert!(
            String::from_utf8_lossy(&st.stdout).contains("interrupted change is pending"),
            "{step}"
        );
        let again = h.install(&srv.url("files", V17), &sha(V17), &[]);
        assert!(again.status.success(), "{step}: {}", stderr(&again));
        assert!(
            stderr(&again).contains("recovering"),
            "{step}: {}",
            stderr(&again)
        );
        assert_eq!(h.wait_version(), "1.7.24~ds1", "{step}");
        let r = h.cococtl("restore", &[], &[]);
        assert!(r.status.success(), "{step}: {}", stderr(&r));
        assert!(h.side_dirs().is_empty(), "{step}");
        assert_eq!(h.wait_version(), "1.6.20~ds1", "{step}");
    }
}

#[test]
fn transient_server_errors_are_retried_and_a_dropped_download_resumes() {
    let h = Host::new();
    let srv = Server::start(&tarballs());
    let out = h.install(&srv.url("flaky", V21), &sha(V21), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("HTTP 500"), "{}", stderr(&out));
    let r = h.cococtl("restore", &[], &[]);
    assert!(r.status.success());
    let out = h.install(&srv.url("drop", V21), &sha(V21), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("resuming at"), "{}", stderr(&out));
    assert!(h.wait_version().starts_with("2.1.9"));
}

/// Each bad input exits 2 and leaves the host exactly as it was.
fn assert_refused(h: &Host, out: &Output, expect: &str) {
    assert_refused_with(h, out, expect, 2)
}

/// The run failed with `code` and left the host exactly as it was.
fn assert_refused_with(h: &Host, out: &Output, expect: &str, code: i32) {
    assert_eq!(out.status.code(), Some(code), "{}", stderr(out));
    assert!(
        stderr(out).contains(expect),
        "`{expect}` not in:\n{}",
        stderr(out)
    );
    assert!(!h.exists("opt/confidential-containers"));
    assert!(!h.exists("etc/systemd/system/containerd.service.d"));
    assert!(!h.exists("var/lib/cococtl/containerd/journal.json"));
    assert!(
        !h.exists("var/lib/cococtl/containerd/staging"),
        "staging is removed on every exit"
    );
    assert_eq!(h.wait_version(), "1.6.20~ds1");
}

#[test]
fn download_faults_change_nothing() {
    let h = Host::new();
    let srv = Server::start(&tarballs());
    assert_refused(
        &h,
        &h.install(&srv.url("files", "nope.tar.gz"), &sha(V17), &[]),
        "HTTP 404",
    );
    assert_refused(
        &h,
        &h.install(&srv.url("500", V17), &sha(V17), &[]),
        "HTTP 500",
    );
    assert_refused(
        &h,
        &h.install(&srv.url("files", V17), &sha(V21), &[]),
        "SHA-256 mismatch",
    );
    assert_refused(
        &h,
        &h.install(&srv.url("stall", V17), &sha(V17), &["--stall-timeout", "1"]),
        "stalled",
    );
}

#[test]
fn unsafe_or_wrong_tarballs_change_nothing() {
    let h = Host::new();
    let bad = tempfile::tempdir().unwrap();
    let st = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/bad_tarballs.py"))
        .arg(deps().join("1.7.24/release"))
        .arg(bad.path())
        .status()
        .unwrap();
    assert!(st.success());
    let srv = Server::start(bad.path());
    for (name, expect) in [
        ("dotdot.tar.gz", "contains `..`"),
        ("absolute.tar.gz", "absolute path"),
        (
            "symlink-out.tar.gz",
            "only links to a file in the same directory",
        ),
        (
            "symlink-chain.tar.gz",
            "only links to a file in the same directory",
        ),
        (
            "containerd-symlink.tar.gz",
            "bin/containerd is not a regular file",
        ),
        ("hardlink.tar.gz", "hard link"),
        ("device.tar.gz", "device file"),
        ("missing-ctr.tar.gz", "has no bin/ctr"),
        ("other-arch.tar.gz", "built for aarch64"),
        ("many-entries.tar.gz", "more than 10000 entries"),
        ("truncated.tar.gz", "corrupt or truncated"),
    ] {
        let out = h.install(&srv.url("files", name), "", &["--allow-unverified"]);
        assert_refused(&h, &out, expect);
    }
}

#[test]
fn bad_settings_are_refused_before_anything_happens() {
    let h = Host::new();
    let run = |args: &[&str]| h.cococtl("install", &[&["--once"], args].concat(), &[]);
    assert_refused(
        &h,
        &run(&[
            "--tarball-url",
            "http://127.0.0.1:9/c.tgz",
            "--sha256",
            &"a".repeat(64),
        ]),
        "plain HTTP",
    );
    assert_refused(
        &h,
        &run(&["--tarball-url", "https://127.0.0.1:9/c.tgz"]),
        "no checksum",
    );
    assert_refused(
        &h,
        &run(&["--tarball-url", "https://x/c.tgz", "--sha256", "xyz"]),
        "not a SHA-256",
    );
    assert_refused(
        &h,
        &run(&["--sha256", &"a".repeat(64)]),
        "no containerd tarball for amd64",
    );
    assert_refused(
        &h,
        &run(&[
            "--tarball-url",
            "https://x/c.tgz",
            "--sha256",
            &"a".repeat(64),
            "--k8s-distribution",
            "k3s",
        ]),
        "ships and manages its own containerd",
    );
}

fn bad_tarballs() -> tempfile::TempDir {
    let bad = tempfile::tempdir().unwrap();
    let st = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/bad_tarballs.py"))
        .arg(deps().join("1.7.24/release"))
        .arg(bad.path())
        .status()
        .unwrap();
    assert!(st.success());
    bad
}

#[test]
fn a_preexisting_opt_confidential_containers_bin_survives_install_upgrade_and_restore() {
    let h = Host::new();
    let theirs = h
        .root()
        .join("opt/confidential-containers/bin/containerd-for-cc");
    std::fs::create_dir_all(theirs.parent().unwrap()).unwrap();
    std::fs::write(&theirs, "someone else's binary\n").unwrap();
    let before = file_sha(&theirs);
    let srv = Server::start(&tarballs());
    for v in [V17, V21] {
        let out = h.install(&srv.url("files", v), &sha(v), &[]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let r = h.cococtl("restore", &[], &[]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert_eq!(h.wait_version(), "1.6.20~ds1");
    assert_eq!(file_sha(&theirs), before);
    let listing: Vec<_> = std::fs::read_dir(theirs.parent().unwrap())
        .unwrap()
        .collect();
    assert_eq!(
        listing.len(),
        1,
        "nothing added to or removed from their bin/"
    );
}

#[test]
fn an_admin_override_of_execstart_is_refused_before_any_change() {
    let h = Host::new();
    let dir = h.root().join("etc/systemd/system/containerd.service.d");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("override.conf"),
        "[Service]\nExecStart=\nExecStart=/usr/bin/containerd\n",
    )
    .unwrap();
    let srv = Server::start(&tarballs());
    let out = h.install(&srv.url("files", V17), &sha(V17), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("override.conf"), "{}", stderr(&out));
    assert!(h.side_dirs().is_empty());
    assert!(!dir.join("50-cococtl.conf").exists());
    assert!(!h.exists("var/lib/cococtl/containerd/journal.json"));
    assert_eq!(h.wait_version(), "1.6.20~ds1");
}

#[test]
fn two_installs_at_once_leave_one_consistent_node() {
    let h = Host::new();
    let srv = Server::start(&tarballs());
    let spawn = |v: &str| {
        Command::new(env!("CARGO_BIN_EXE_cococtl"))
            .args([
                "node",
                "containerd",
                "install",
                "--once",
                "--allow-insecure-http",
                "--health-timeout",
                "20",
                "--host-root",
            ])
            .arg(h.root())
            .args(["--tarball-url", &srv.url("files", v), "--sha256", &sha(v)])
            .env("COCOCTL_TEST_SYSTEMD", "process")
            .env_remove("NODE_NAME")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(V17), spawn(V21));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let ok = [&a, &b].iter().filter(|o| o.status.success()).count();
    assert!(ok >= 1, "a: {}\nb: {}", stderr(&a), stderr(&b));
    for o in [&a, &b] {
        if !o.status.success() {
            assert!(stderr(o).contains("another cococtl agent"), "{}", stderr(o));
        }
    }
    let st = h.cococtl("status", &["-o", "json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert!(v["problem"].is_null(), "{v}");
    assert_eq!(v["running_version"], v["installed"]["version"], "{v}");
    assert!(!h.exists("var/lib/cococtl/containerd/journal.json"));
}

#[test]
fn a_full_usr_refuses_an_in_place_install_before_any_change() {
    let h = Host::new();
    // The distribution's binaries take 96 MiB; 1.7.24's need 117 MiB more.
    let Some(_usr) = h.small_fs("usr", 112) else {
        return;
    };
    let distro = file_sha(&h.root().join("usr/bin/containerd"));
    let srv = Server::start(&tarballs());
    let out = h.install(&srv.url("files", V17), &sha(V17), &["--mode", "in-place"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not enough free space"),
        "{}",
        stderr(&out)
    );
    assert_eq!(file_sha(&h.root().join("usr/bin/containerd")), distro);
    assert!(!h.exists("var/lib/cococtl/containerd/journal.json"));
    assert!(!h.exists("var/lib/cococtl/containerd/staging"));
    assert_eq!(h.wait_version(), "1.6.20~ds1");
    // Nothing of ours holds space on /usr.
    let ours = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ls -a {}/usr/bin | grep cococtl || true",
            h.root().display()
        ))
        .output()
        .unwrap();
    assert!(
        ours.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&ours.stdout)
    );
}

#[test]
fn a_full_opt_refuses_a_side_install_before_any_change() {
    let h = Host::new();
    let Some(_opt) = h.small_fs("opt", 48) else {
        return;
    };
    let srv = Server::start(&tarballs());
    let out = h.install(&srv.url("files", V17), &sha(V17), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not enough free space"),
        "{}",
        stderr(&out)
    );
    assert!(h.side_dirs().is_empty());
    assert!(h.dropin().is_empty());
    assert_eq!(h.wait_version(), "1.6.20~ds1");
}

#[test]
fn a_tarball_carrying_a_kubelet_never_touches_the_hosts_kubelet() {
    let h = Host::new();
    let kubelet = h.root().join("usr/bin/kubelet");
    std::fs::write(&kubelet, "the host's kubelet\n").unwrap();
    let bad = bad_tarballs();
    let srv = Server::start(bad.path());
    let out = h.install(
        &srv.url("files", "with-kubelet.tar.gz"),
        "",
        &["--allow-unverified", "--mode", "in-place"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("kubelet") && stderr(&out).contains("not installed"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&kubelet).unwrap(),
        "the host's kubelet\n"
    );
    assert_eq!(h.wait_version(), "1.7.24~ds1");
    let r = h.cococtl("restore", &[], &[]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert_eq!(
        std::fs::read_to_string(&kubelet).unwrap(),
        "the host's kubelet\n"
    );
}

#[test]
fn input_mistakes_are_refused_with_exit_2() {
    let h = Host::new();
    let run = |args: &[&str]| h.cococtl("install", &[&["--once"], args].concat(), &[]);
    let good = [
        "--tarball-url",
        "HTTPS://127.0.0.1:9/c.tgz",
        "--sha256",
        &"a".repeat(64),
    ];
    for (extra, expect) in [
        (vec!["--health-timeout", "0"], "--health-timeout"),
        (vec!["--stall-timeout", "0"], "--stall-timeout"),
    ] {
        let out = run(&[&good[..], &extra[..]].concat());
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(expect), "{}", stderr(&out));
    }
    // The upper-case scheme is accepted (it then fails to connect: nothing changed).
    let out = run(&good);
    assert!(!stderr(&out).contains("not a URL"), "{}", stderr(&out));
    // A bare directory is not a host.
    let bare = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args(["node", "containerd", "install", "--once", "--host-root"])
        .arg(bare.path())
        .args(good)
        .env("COCOCTL_TEST_SYSTEMD", "process")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not look like a host"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_dir(bare.path()).unwrap().count(),
        0,
        "nothing written into it"
    );
}

/// An API-server stand-in for the agent's own calls: PATCH and GET of its Node, GET of its
/// DaemonSet (`ds` is the DaemonSet JSON, or `None` for a 404 like kube-apiserver's).
struct Api {
    url: String,
    seen: std::sync::Arc<Mutex<Vec<(String, String, String)>>>,
}

impl Api {
    fn start(ds: Option<&'static str>) -> Api {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(Mutex::new(vec![]));
        let rec = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let mut r = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    continue;
                }
                let mut parts = line.split_whitespace();
                let (method, path) = (
                    parts.next().unwrap_or("").to_string(),
                    parts.next().unwrap_or("").to_string(),
                );
                let mut len = 0usize;
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0; len];
                let _ = r.read_exact(&mut body);
                rec.lock().unwrap().push((
                    method.clone(),
                    path.clone(),
                    String::from_utf8_lossy(&body).into_owned(),
                ));
                const NODE: &str = r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-a","labels":{"kubernetes.io/arch":"amd64"}}}"#;
                const NOT_FOUND: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"daemonsets.apps \"cococtl-containerd\" not found","reason":"NotFound","details":{"name":"cococtl-containerd","group":"apps","kind":"daemonsets"},"code":404}"#;
                let (status, text) = if path.starts_with("/api/v1/nodes/node-a") {
                    (200, NODE)
                } else if path.starts_with(
                    "/apis/apps/v1/namespaces/coco-system/daemonsets/cococtl-containerd",
                ) {
                    match ds {
                        Some(d) => (200, d),
                        None => (404, NOT_FOUND),
                    }
                } else {
                    (404, NOT_FOUND)
                };
                let mut s = stream;
                let _ = write!(
                    s,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
            }
        });
        Api { url, seen }
    }

    fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let p = dir.join("kubeconfig");
        std::fs::write(
            &p,
            format!("apiVersion: v1\nkind: Config\nclusters:\n- name: stub\n  cluster:\n    server: {}\ncontexts:\n- name: stub\n  context:\n    cluster: stub\n    user: stub\nusers:\n- name: stub\n  user: {{}}\ncurrent-context: stub\n", self.url),
        )
        .unwrap();
        p
    }

    fn label_patches(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, p, _)| m == "PATCH" && p.starts_with("/api/v1/nodes/node-a"))
            .filter_map(|(_, _, b)| {
                let v: serde_json::Value = serde_json::from_str(b).ok()?;
                v["metadata"]["labels"]["cococtl.confidentialcontainers.org/containerd"]
                    .as_str()
                    .map(String::from)
            })
            .collect()
    }
}

/// The agent as its DaemonSet runs it: stays up after installing; SIGTERM then decides.
/// `COCOCTL_BENCH_AGENT` runs another build of it (scripts/bench-agents: the release build
/// with the process-based systemd) instead of the test build.
fn agent_pod(h: &Host, api: &Api, url: &str, sha256: &str) -> std::process::Child {
    let kc = api.kubeconfig(h.root());
    let bin = std::env::var("COCOCTL_BENCH_AGENT")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_cococtl").to_string());
    Command::new(bin)
        .args([
            "node",
            "containerd",
            "install",
            "--allow-insecure-http",
            "--health-timeout",
            "20",
            "--host-root",
        ])
        .arg(h.root())
        .args(["--tarball-url", url, "--sha256", sha256])
        .env("COCOCTL_TEST_SYSTEMD", "process")
        .env("NODE_NAME", "node-a")
        .env("POD_NAMESPACE", "coco-system")
        .env("COCOCTL_AGENT_DAEMONSET", "cococtl-containerd")
        .env("KUBECONFIG", kc)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_for_label(api: &Api, label: &str) {
    // A whole install with a real containerd: seconds alone, a minute or more on a
    // loaded two-core CI machine.
    for _ in 0..1200 {
        if api.label_patches().iter().any(|l| l == label) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no `{label}` report; seen: {:?}", api.label_patches());
}

fn sigterm(child: &mut std::process::Child) -> Output {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let mut out = Output {
        status: child.wait().unwrap(),
        stdout: vec![],
        stderr: vec![],
    };
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_end(&mut out.stderr);
    }
    out
}

#[test]
fn sigterm_with_its_daemonset_gone_restores_the_node_and_says_so() {
    let h = Host::new();
    let srv = Server::start(&tarballs());
    let api = Api::start(None);
    let mut pod = agent_pod(&h, &api, &srv.url("files", V17), &sha(V17));
    wait_for_label(&api, "ready");
    assert_eq!(h.wait_version(), "1.7.24~ds1");
    let out = sigterm(&mut pod);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("DaemonSet is gone"),
        "{}",
        stderr(&out)
    );
    assert_eq!(h.wait_version(), "1.6.20~ds1");
    assert!(!h.exists("var/lib/cococtl/containerd/state.json"));
    assert_eq!(
        api.label_patches().last().map(String::as_str),
        Some("restored")
    );
}

#[test]
fn sigterm_on_a_restart_or_rolling_update_leaves_the_node_as_installed() {
    const DS: &str = r#"{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"cococtl-containerd","namespace":"coco-system"},"spec":{"selector":{"matchLabels":{"name":"cococtl-containerd"}},"template":{"metadata":{"labels":{"name":"cococtl-containerd"}},"spec":{"containers":[{"name":"c","image":"x"}],"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"kubernetes.io/arch","operator":"In","values":["amd64"]}]}]}}}}}}}"#;
    let h = Host::new();
    let srv = Server::start(&tarballs());
    let api = Api::start(Some(DS));
    let mut pod = agent_pod(&h, &api, &srv.url("files", V17), &sha(V17));
    wait_for_label(&api, "ready");
    let out = sigterm(&mut pod);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("keeps its containerd"),
        "{}",
        stderr(&out)
    );
    assert_eq!(h.wait_version(), "1.7.24~ds1");
    assert!(h.exists("var/lib/cococtl/containerd/state.json"));
    assert_eq!(
        api.label_patches().last().map(String::as_str),
        Some("ready")
    );
}

#[test]
fn endless_bodies_and_checksum_files_are_cut_off_and_leave_nothing_behind() {
    let h = Host::new();
    let srv = Server::start(&tarballs());
    let out = h.install(
        &srv.url("endless", "c.tar.gz"),
        &"a".repeat(64),
        &["--max-download", "20"],
    );
    assert_refused(&h, &out, "more than 20971520 bytes");
    let out = h.install(
        &srv.url("files", V21),
        "",
        &["--checksum-url", &srv.url("endless", "SHA256SUMS")],
    );
    assert_refused(&h, &out, "more than 65536 bytes");
}

#[test]
fn a_server_asking_to_retry_after_is_waited_for() {
    let h = Host::new();
    let srv = Server::start(&tarballs());
    let t = std::time::Instant::now();
    let out = h.install(&srv.url("retryafter", V21), &sha(V21), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("HTTP 503") && stderr(&out).contains("retrying in 2000 ms"),
        "{}",
        stderr(&out)
    );
    assert!(t.elapsed() >= Duration::from_secs(2));
}

#[test]
fn a_full_disk_while_unpacking_is_reported_as_such_and_staging_is_removed() {
    let h = Host::new();
    let Some(_state) = h.small_fs("var/lib/cococtl", 50) else {
        return;
    };
    let srv = Server::start(&tarballs());
    let out = h.install(&srv.url("files", V21), &sha(V21), &[]);
    assert_refused_with(&h, &out, "no space left on the filesystem holding", 1);
    assert!(!stderr(&out).contains("corrupt"), "{}", stderr(&out));
}

/// `VmHWM` (the peak resident set, KiB) of a process.
fn peak_rss(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `VmRSS` (KiB) and the context switches (voluntary + involuntary) of a process.
fn rss_and_switches(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (
        field("VmRSS:"),
        field("voluntary_ctxt_switches:") + field("nonvoluntary_ctxt_switches:"),
    )
}

/// The agent after it installed: waiting for SIGTERM must cost nothing. Figures (this is
/// the test build with debug info; `scripts/bench-agents` measures the release build) are
/// printed; the assertion is that it does not wake up while idle.
#[test]
fn an_idle_agent_does_not_wake_up_and_says_how_long_the_node_had_no_cri() {
    let h = Host::new();
    let srv = Server::start(&tarballs());
    let api = Api::start(None);
    let mut pod = agent_pod(&h, &api, &srv.url("files", V17), &sha(V17));
    wait_for_label(&api, "ready");
    // Let the last report's connection settle.
    std::thread::sleep(Duration::from_secs(2));
    let (rss0, sw0) = rss_and_switches(pod.id());
    std::thread::sleep(Duration::from_secs(5));
    let (rss1, sw1) = rss_and_switches(pod.id());
    let build = match std::env::var("COCOCTL_BENCH_AGENT") {
        Ok(b) => b,
        Err(_) => "test build".into(),
    };
    eprintln!(
        "idle containerd agent ({build}): VmRSS {} KiB then {} KiB (peak during the install {} KiB); {} context switch(es) in 5 s",
        rss0,
        rss1,
        peak_rss(pod.id()),
        sw1 - sw0
    );
    assert!(sw1 - sw0 <= 2, "the idle agent woke up {} times", sw1 - sw0);
    let out = sigterm(&mut pod);
    let err = stderr(&out);
    let window = err
        .lines()
        .find(|l| l.contains("answered its health gate"))
        .unwrap_or_else(|| panic!("no restart window logged: {err}"));
    eprintln!("{window}");
    let ms: u64 = window
        .split(" ms after")
        .next()
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("unparsable: {window}"));
    // kubelet's node grace: the window must be well under it (not a timing assertion on
    // this machine's speed: a window near 40 s would mean the gate waited on a timeout).
    assert!(ms < 40_000, "{window}");
}

/// An air-gapped node: the tarball is an artifact in the image mirror (a real registry
/// with TLS from its own CA and basic auth), pushed with `cococtl artifact push`; the
/// agent logs in with the pull secret and trusts the mirror through a CA file on the host.
#[test]
fn side_install_from_an_oci_artifact_with_the_pull_secret_and_the_hosts_ca() {
    use cococtl_containerd::test_registry::{RegistryOptions, TestRegistry};
    let h = Host::new();
    let tmp = tempfile::tempdir().unwrap();
    let reg = TestRegistry::start(
        &tmp.path().join("reg"),
        RegistryOptions {
            auth: Some(("robot".into(), "s3cret".into())),
        },
    )
    .unwrap();
    let mut push = Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args(["artifact", "push", "--file"])
        .arg(tarballs().join(V21))
        .arg(format!("oci://{}/coco/containerd:2.1.9", reg.host()))
        .arg("--ca")
        .arg(reg.ca_pem())
        .args(["--username", "robot", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        push.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    }
    let pushed = push.wait_with_output().unwrap();
    assert!(pushed.status.success(), "{}", stderr(&pushed));
    let stdout = String::from_utf8(pushed.stdout).unwrap();
    let url = stdout
        .lines()
        .find_map(|l| l.strip_prefix("tarballUrl: "))
        .unwrap()
        .to_string();
    // The mirror's CA where the node's containerd already trusts it.
    let ca = "etc/containerd/certs.d/mirror/ca.crt";
    std::fs::create_dir_all(h.root().join("etc/containerd/certs.d/mirror")).unwrap();
    std::fs::copy(reg.ca_pem(), h.root().join(ca)).unwrap();
    let secret = tmp.path().join("config.json");
    std::fs::write(&secret, reg.docker_config()).unwrap();
    let secret = secret.display().to_string();
    let ca_flag = format!("/{ca}");
    let out = h.install(
        &url,
        &sha(V21),
        &["--pull-secret", &secret, "--registry-ca", &ca_flag],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(h.wait_version().starts_with("2.1.9"));
    assert!(h
        .dropin()
        .contains("/opt/confidential-containers/cococtl/containerd/"));
}
