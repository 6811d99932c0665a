//! The agent's transactions in process, against a real temporary host root and the
//! recording fake node (`testing::FakeNode`): install, upgrade, rollback, restore, crash
//! recovery at every journal step (and a second crash during the recovery), a full disk at
//! every write, pre-existing files, an admin drop-in, two runs at once, SIGTERM.
//!
//! The end-to-end tests with real containerd builds are in `crates/cli/tests`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use cococtl_containerd::agent::{Agent, Error, Outcome};
use cococtl_containerd::config::{Checksum, Config, Mode};
use cococtl_containerd::faults::Faults;
use cococtl_containerd::fetch::{self, Fetched};
use cococtl_containerd::report::{Report, Reporter, State};
use cococtl_containerd::stop::Stop;
use cococtl_containerd::testing::{fake_binary, FakeNode, BROKEN_BINARY};
use cococtl_containerd::verify::Verified;
use cococtl_containerd::{layout, lock, state};
use cococtl_core::Arch;

#[derive(Default)]
struct Recorder(Mutex<Vec<Report>>);

#[async_trait]
impl Reporter for Recorder {
    async fn report(&self, r: &Report) -> Result<(), String> {
        self.0.lock().unwrap().push(r.clone());
        Ok(())
    }
}

impl Recorder {
    fn last(&self) -> Option<State> {
        self.0.lock().unwrap().last().map(|r| r.state)
    }
}

const DISTRO: &str = "1.6.20";

/// A host whose distribution containerd 1.6.20 runs from /usr/bin.
struct Host {
    dir: tempfile::TempDir,
    node: FakeNode,
}

fn write(p: &Path, text: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

impl Host {
    fn new() -> Host {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(&r.join("etc/os-release"), "ID=debian\n");
        write(
            &r.join("lib/systemd/system/containerd.service"),
            "[Unit]\nDescription=containerd\n[Service]\nExecStart=/usr/bin/containerd --log-level info\n",
        );
        write(&r.join("usr/bin/containerd"), &fake_binary(DISTRO));
        write(&r.join("usr/bin/containerd-shim-runc-v2"), "distro shim\n");
        write(&r.join("usr/bin/ctr"), "distro ctr\n");
        write(&r.join("usr/bin/kubelet"), "the host's kubelet\n");
        let node = FakeNode::new(r);
        assert_eq!(node.running().unwrap().1, DISTRO);
        Host { dir, node }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    /// Every file (not directory) with its content, cococtl's lock and run/ aside.
    fn files(&self) -> BTreeMap<String, String> {
        fn walk(base: &Path, d: &Path, out: &mut BTreeMap<String, String>) {
            for e in std::fs::read_dir(d).unwrap() {
                let e = e.unwrap();
                let p = e.path();
                let rel = p.strip_prefix(base).unwrap().display().to_string();
                let m = std::fs::symlink_metadata(&p).unwrap();
                if m.is_dir() {
                    walk(base, &p, out);
                } else if rel != layout::LOCK && !rel.starts_with("run/") {
                    out.insert(
                        rel,
                        std::fs::read_to_string(&p).unwrap_or_else(|_| "<binary>".into()),
                    );
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(self.root(), self.root(), &mut out);
        out
    }

    fn agent<'a>(&'a self, rep: &'a Recorder, faults: &'a Faults) -> Agent<'a> {
        Agent {
            host_root: self.root().to_path_buf(),
            service: &self.node,
            query: &self.node,
            reporter: rep,
            fetch: fetch::Options::default(),
            health_timeout: Duration::from_millis(300),
            stop: Stop::default(),
            faults,
        }
    }

    fn running(&self) -> Option<String> {
        self.node.running().map(|(_, v)| v)
    }
}

/// A verified release: fake binaries in a staging directory.
struct Release {
    _dir: tempfile::TempDir,
    verified: Verified,
    fetched: Fetched,
}

fn release(version: &str, extra: &[&str]) -> Release {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    write(&bin.join("containerd"), &fake_binary(version));
    write(
        &bin.join("containerd-shim-runc-v2"),
        &format!("shim {version}\n"),
    );
    write(&bin.join("ctr"), &format!("ctr {version}\n"));
    let mut files = vec![
        "containerd".to_string(),
        "containerd-shim-runc-v2".into(),
        "ctr".into(),
    ];
    for e in extra {
        write(&bin.join(e), &format!("{e} {version}\n"));
        files.push(e.to_string());
    }
    let sha = format!("{:0>64}", version.replace('.', ""));
    Release {
        verified: Verified {
            bin,
            files,
            ignored: vec![],
            version: version.into(),
        },
        fetched: Fetched {
            path: dir.path().join("t.tgz"),
            sha256: sha,
            bytes: 1,
        },
        _dir: dir,
    }
}

fn cfg(h: &Host, r: &Release, mode: Mode) -> Config {
    Config {
        host_root: h.root().to_path_buf(),
        arch: Arch::Amd64,
        url: format!("https://example.com/containerd-{}.tgz", r.verified.version),
        checksum: Checksum::Sha256(r.fetched.sha256.clone()),
        mode,
        node_name: None,
        containerd_proxy: None,
    }
}

async fn install(h: &Host, r: &Release, mode: Mode, faults: &Faults) -> Result<Outcome, Error> {
    let rep = Recorder::default();
    h.agent(&rep, faults)
        .install_verified(&cfg(h, r, mode), &r.fetched, &r.verified)
        .await
}

async fn restore(h: &Host, faults: &Faults) -> Result<Option<String>, Error> {
    let rep = Recorder::default();
    h.agent(&rep, faults).restore(false).await
}

fn no_faults() -> Faults {
    Faults::default()
}

fn temp_files(h: &Host) -> Vec<String> {
    h.files()
        .into_keys()
        .filter(|k| k.contains(".cococtl-new") || k.contains(".cococtl-backup"))
        .collect()
}

/// What must hold after any run: what state.json says is what answers.
fn consistent(h: &Host) {
    let st = state::load(h.root()).unwrap();
    assert!(!h.p(layout::JOURNAL).exists(), "no journal left");
    match st {
        Some(s) => assert_eq!(
            h.running().as_deref(),
            Some(s.version.as_str()),
            "state says {}",
            s.version
        ),
        None => assert_eq!(h.running().as_deref(), Some(DISTRO)),
    }
    assert!(temp_files(h).is_empty(), "leftovers: {:?}", temp_files(h));
}

#[tokio::test]
async fn side_install_upgrade_and_restore_return_every_file_and_keep_a_preexisting_bin() {
    let h = Host::new();
    write(
        &h.p("opt/confidential-containers/bin/containerd-for-cc"),
        "not ours\n",
    );
    let before = h.files();
    install(
        &h,
        &release("1.7.24", &["containerd-shim"]),
        Mode::Side,
        &no_faults(),
    )
    .await
    .unwrap();
    assert_eq!(h.running().as_deref(), Some("1.7.24"));
    assert_eq!(
        h.node.running().unwrap().0,
        format!(
            "/{}/containerd",
            layout::side_dir("1.7.24", &format!("{:0>64}", "1724"))
        )
    );
    consistent(&h);
    install(&h, &release("2.1.9", &[]), Mode::Side, &no_faults())
        .await
        .unwrap();
    assert_eq!(h.running().as_deref(), Some("2.1.9"));
    consistent(&h);
    assert!(
        !h.files().keys().any(|k| k.contains("1.7.24")),
        "the old version's directory is gone"
    );
    assert_eq!(
        restore(&h, &no_faults()).await.unwrap().as_deref(),
        Some(DISTRO)
    );
    consistent(&h);
    assert_eq!(
        h.files(),
        before,
        "every file as before, the pre-existing bin/ included"
    );
}

#[tokio::test]
async fn side_dropin_keeps_the_units_arguments() {
    let h = Host::new();
    install(&h, &release("2.1.9", &[]), Mode::Side, &no_faults())
        .await
        .unwrap();
    let d = std::fs::read_to_string(h.p(layout::DROPIN)).unwrap();
    assert!(d.contains("/containerd --log-level info\n"), "{d}");
}

#[tokio::test]
async fn in_place_upgrade_drops_files_the_new_release_lacks_and_restore_puts_originals_back() {
    let h = Host::new();
    write(&h.p("usr/bin/containerd-shim"), "distro v1 shim\n");
    let before = h.files();
    install(
        &h,
        &release("1.7.24", &["containerd-shim", "containerd-shim-runc-v1"]),
        Mode::InPlace,
        &no_faults(),
    )
    .await
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(h.p("usr/bin/containerd-shim-runc-v1")).unwrap(),
        "containerd-shim-runc-v1 1.7.24\n"
    );
    install(&h, &release("2.1.9", &[]), Mode::InPlace, &no_faults())
        .await
        .unwrap();
    consistent(&h);
    assert_eq!(
        std::fs::read_to_string(h.p("usr/bin/containerd-shim")).unwrap(),
        "distro v1 shim\n",
        "1.7's shim is gone: the distribution's is back"
    );
    assert!(
        !h.p("usr/bin/containerd-shim-runc-v1").exists(),
        "created by 1.7, removed by 2.1"
    );
    assert_eq!(
        std::fs::read_to_string(h.p("usr/bin/kubelet")).unwrap(),
        "the host's kubelet\n"
    );
    restore(&h, &no_faults()).await.unwrap();
    consistent(&h);
    assert_eq!(h.files(), before);
}

#[tokio::test]
async fn a_new_containerd_that_does_not_start_is_rolled_back_and_the_node_says_so() {
    let h = Host::new();
    let before = h.files();
    let r = release("2.1.9", &[]);
    std::fs::write(r.verified.bin.join("containerd"), BROKEN_BINARY).unwrap();
    let rep = Recorder::default();
    let e = h
        .agent(&rep, &no_faults())
        .install_verified(&cfg(&h, &r, Mode::Side), &r.fetched, &r.verified)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::RolledBack { .. }), "{e}");
    assert_eq!(rep.last(), Some(State::RolledBack));
    consistent(&h);
    assert_eq!(h.files(), before);
}

#[tokio::test]
async fn an_admin_override_of_execstart_refuses_the_side_install_before_any_change() {
    let h = Host::new();
    write(
        &h.p("etc/systemd/system/containerd.service.d/override.conf"),
        "[Service]\nExecStart=\nExecStart=/usr/bin/containerd\n",
    );
    let before = h.files();
    let e = install(&h, &release("2.1.9", &[]), Mode::Side, &no_faults())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Refused { .. }) && e.to_string().contains("override.conf"),
        "{e}"
    );
    assert_eq!(h.files(), before);
    assert_eq!(h.node.restarts(), 0);
}

#[tokio::test]
async fn the_gate_refuses_a_server_that_is_not_the_installed_version() {
    // The unit runs our binary, but what answers is another containerd (e.g. a stale
    // process): "ready" would be a lie.
    struct Liar<'a>(&'a FakeNode);
    #[async_trait]
    impl cococtl_containerd::health::Query for Liar<'_> {
        async fn server(
            &self,
            _: &Path,
            _: &Path,
        ) -> Result<cococtl_containerd::health::Server, String> {
            Ok(cococtl_containerd::health::Server {
                version: DISTRO.into(),
                cri_ok: true,
            })
        }
        async fn binary_version(&self, b: &Path) -> Result<String, String> {
            cococtl_containerd::health::Query::binary_version(self.0, b).await
        }
    }
    let h = Host::new();
    let rep = Recorder::default();
    let faults = no_faults();
    let liar = Liar(&h.node);
    let mut agent = h.agent(&rep, &faults);
    agent.query = &liar;
    let r = release("2.1.9", &[]);
    let e = agent
        .install_verified(&cfg(&h, &r, Mode::Side), &r.fetched, &r.verified)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not 2.1.9"), "{e}");
    assert!(state::load(h.root()).unwrap().is_none());
}

/// Runs `run` with a crash at each point in turn until a run reaches none; after each
/// crash, a clean run recovers, and `check` judges the host.
async fn crash_everywhere<F>(prepare: Option<(&str, &[&str], Mode)>, run: F, points: &[&str])
where
    F: for<'a> Fn(
        &'a Host,
        &'a Faults,
    )
        -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Error>> + 'a>>,
{
    let mut names: Vec<String> = points.iter().map(|s| s.to_string()).collect();
    names.extend((1..=40).map(|i| format!("step:{i}")));
    let mut reached = 0;
    for point in names {
        let h = Host::new();
        if let Some((v, extra, mode)) = prepare {
            install(&h, &release(v, extra), mode, &no_faults())
                .await
                .unwrap();
        }
        let faults = Faults::crash_at(&point.clone());
        match run(&h, &faults).await {
            Err(Error::Crash(_)) => reached += 1,
            _ => continue,
        }
        // The next start: recovery first, through a restore (which also proves the
        // recovered host can be returned to the distribution's containerd).
        let rep = Recorder::default();
        let nf = no_faults();
        let restarts = h.node.restarts();
        let journal: serde_json::Value =
            serde_json::from_slice(&std::fs::read(h.p(layout::JOURNAL)).unwrap()).unwrap();
        h.agent(&rep, &nf)
            .recover()
            .await
            .unwrap_or_else(|e| panic!("recovery after {point}: {e}"));
        consistent(&h);
        if journal["restarted"] == false {
            assert_eq!(
                h.node.restarts(),
                restarts,
                "{point}: no restart for a change containerd never saw"
            );
        }
        restore(&h, &nf)
            .await
            .unwrap_or_else(|e| panic!("restore after {point}: {e}"));
        consistent(&h);
        assert!(state::load(h.root()).unwrap().is_none());
    }
    assert!(
        reached >= points.len(),
        "only {reached} crash points reached"
    );
}

#[tokio::test]
async fn a_crash_at_any_point_of_an_install_or_upgrade_is_recovered() {
    for mode in [Mode::Side, Mode::InPlace] {
        // First install.
        crash_everywhere(
            None,
            move |h, f| {
                Box::pin(async move {
                    install(h, &release("1.7.24", &[]), mode, f)
                        .await
                        .map(|_| ())
                })
            },
            &["journal", "applied", "gated", "committed", "finish"],
        )
        .await;
        // Upgrade over an install.
        crash_everywhere(
            Some(("1.7.24", &["containerd-shim"], mode)),
            move |h, f| {
                Box::pin(async move {
                    install(h, &release("2.1.9", &[]), mode, f)
                        .await
                        .map(|_| ())
                })
            },
            &["journal", "applied", "gated", "committed"],
        )
        .await;
    }
}

#[tokio::test]
async fn a_crash_at_any_point_of_a_restore_is_recovered() {
    for mode in [Mode::Side, Mode::InPlace] {
        crash_everywhere(
            Some(("2.1.9", &[], mode)),
            |h, f| Box::pin(async move { restore(h, f).await.map(|_| ()) }),
            &["journal", "applied", "gated", "committed"],
        )
        .await;
    }
}

#[tokio::test]
async fn a_second_crash_during_recovery_is_recovered_by_the_next_run() {
    for k in 1..=8 {
        for j in 1..=8 {
            let h = Host::new();
            install(&h, &release("1.7.24", &[]), Mode::InPlace, &no_faults())
                .await
                .unwrap();
            let before = h.files();
            let f1 = Faults::crash_at(&format!("step:{k}"));
            if !matches!(
                install(&h, &release("2.1.9", &[]), Mode::InPlace, &f1).await,
                Err(Error::Crash(_))
            ) {
                continue;
            }
            let f2 = Faults::crash_at(&format!("undo:{j}"));
            let rep = Recorder::default();
            let second = h.agent(&rep, &f2).recover().await;
            let nf = no_faults();
            h.agent(&rep, &nf).recover().await.unwrap();
            consistent(&h);
            if matches!(second, Err(Error::Crash(_))) {
                assert_eq!(h.files(), before, "crash at step {k}, then at undo {j}");
            }
            assert_eq!(h.running().as_deref(), Some("1.7.24"));
        }
    }
}

#[tokio::test]
async fn a_full_disk_at_any_write_rolls_back_in_the_same_run_and_leaves_no_temp_file() {
    for mode in [Mode::Side, Mode::InPlace] {
        let mut failed = 0;
        for n in 1..=30 {
            let h = Host::new();
            install(&h, &release("1.7.24", &[]), mode, &no_faults())
                .await
                .unwrap();
            let before = h.files();
            // The disk stays full from the n-th write on: the rollback must not need space.
            let f = Faults::full_disk_from(n);
            match install(&h, &release("2.1.9", &[]), mode, &f).await {
                Ok(_) => continue,
                Err(e) => {
                    failed += 1;
                    assert!(matches!(e, Error::RolledBack { .. }), "write {n}: {e}");
                    assert!(
                        e.to_string().contains("No space left")
                            || e.to_string().contains("storage full"),
                        "{e}"
                    );
                }
            }
            consistent(&h);
            assert_eq!(h.files(), before, "{mode:?}, full at write {n}");
            assert_eq!(h.running().as_deref(), Some("1.7.24"));
        }
        assert!(failed >= 3, "{mode:?}: only {failed} writes failed");
    }
}

#[tokio::test]
async fn a_second_run_while_one_holds_the_host_is_refused_naming_the_holder() {
    let h = Host::new();
    let _held = lock::acquire(h.root(), "restore").unwrap();
    let before = h.files();
    let e = install(&h, &release("2.1.9", &[]), Mode::Side, &no_faults())
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("another cococtl agent") && e.to_string().contains("restore"),
        "{e}"
    );
    assert_eq!(h.files(), before);
}

#[tokio::test]
async fn restore_refuses_to_downgrade_a_file_the_distribution_replaced_since() {
    let h = Host::new();
    install(&h, &release("1.7.24", &[]), Mode::InPlace, &no_faults())
        .await
        .unwrap();
    // The distribution's package upgrade replaced the binary.
    std::fs::write(h.p("usr/bin/containerd"), fake_binary("1.6.99")).unwrap();
    let e = restore(&h, &no_faults()).await.unwrap_err();
    assert!(
        e.to_string().contains("/usr/bin/containerd was changed")
            && e.to_string().contains("--force"),
        "{e}"
    );
    assert!(
        state::load(h.root()).unwrap().is_some(),
        "nothing was restored"
    );
}

#[tokio::test]
async fn sigterm_before_a_change_changes_nothing_and_during_the_gate_rolls_back() {
    let h = Host::new();
    let before = h.files();
    let rep = Recorder::default();
    let nf = no_faults();
    let agent = h.agent(&rep, &nf);
    agent.stop.request();
    let r = release("2.1.9", &[]);
    let e = agent
        .install_verified(&cfg(&h, &r, Mode::Side), &r.fetched, &r.verified)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Stopped { rolled_back: false }), "{e}");
    assert_eq!(h.files(), before);

    // Stop while the gate waits for a containerd that never becomes healthy.
    let mut agent = h.agent(&rep, &nf);
    agent.health_timeout = Duration::from_secs(30);
    let stop = agent.stop.clone();
    let r = release("2.1.9", &[]);
    std::fs::write(r.verified.bin.join("containerd"), BROKEN_BINARY).unwrap();
    let c = cfg(&h, &r, Mode::Side);
    let run = agent.install_verified(&c, &r.fetched, &r.verified);
    let stopper = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.request();
    };
    let (res, ()) = tokio::join!(run, stopper);
    assert!(
        matches!(res, Err(Error::Stopped { rolled_back: true })),
        "{res:?}"
    );
    consistent(&h);
    assert_eq!(h.files(), before);
}

#[tokio::test]
async fn hosts_that_cannot_be_a_node_are_refused() {
    let bare = tempfile::tempdir().unwrap();
    let node = FakeNode::default();
    let rep = Recorder::default();
    let nf = no_faults();
    let agent = Agent {
        host_root: bare.path().to_path_buf(),
        service: &node,
        query: &node,
        reporter: &rep,
        fetch: fetch::Options::default(),
        health_timeout: Duration::from_millis(100),
        stop: Stop::default(),
        faults: &nf,
    };
    let r = release("2.1.9", &[]);
    let mut c = cfg(&Host::new(), &r, Mode::Side);
    c.host_root = bare.path().to_path_buf();
    let e = agent
        .install_verified(&c, &r.fetched, &r.verified)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("does not look like a host"), "{e}");
    // A host without a containerd unit: restore would never work, so no install.
    write(&bare.path().join("etc/os-release"), "ID=debian\n");
    let e = agent
        .install_verified(&c, &r.fetched, &r.verified)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no containerd.service unit"), "{e}");
    let mut rel = h_agent_relative(&agent);
    rel.host_root = PathBuf::from("relative/host");
    let e = rel
        .install_verified(&c, &r.fetched, &r.verified)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("is relative"), "{e}");
}

fn h_agent_relative<'a>(a: &Agent<'a>) -> Agent<'a> {
    Agent {
        host_root: a.host_root.clone(),
        service: a.service,
        query: a.query,
        reporter: a.reporter,
        fetch: a.fetch.clone(),
        health_timeout: a.health_timeout,
        stop: a.stop.clone(),
        faults: a.faults,
    }
}

#[tokio::test]
async fn a_mode_switch_is_refused_before_the_journal_exists() {
    let h = Host::new();
    install(&h, &release("1.7.24", &[]), Mode::Side, &no_faults())
        .await
        .unwrap();
    let before = h.files();
    let restarts = h.node.restarts();
    let e = install(&h, &release("2.1.9", &[]), Mode::InPlace, &no_faults())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Refused { .. }), "{e}");
    assert_eq!(h.files(), before);
    assert_eq!(h.node.restarts(), restarts, "no restart for nothing");
}

#[tokio::test]
async fn nothing_to_do_is_said_only_when_the_installed_binary_answers() {
    let h = Host::new();
    let r = release("2.1.9", &[]);
    install(&h, &r, Mode::Side, &no_faults()).await.unwrap();
    assert!(matches!(
        install(&h, &r, Mode::Side, &no_faults()).await.unwrap(),
        Outcome::AlreadyInstalled(_)
    ));
    // Someone removed our drop-in: the same tarball is not "installed and healthy".
    std::fs::remove_file(h.p(layout::DROPIN)).unwrap();
    h.node.calls_clear();
    let out = install(&h, &r, Mode::Side, &no_faults()).await.unwrap();
    assert!(matches!(out, Outcome::Installed(_)), "{out:?}");
    consistent(&h);
}

/// An HTTP server on 127.0.0.1 that announces a large body and sends it a few bytes at a
/// time: a slow link. Returns the URL and a flag set when the client hung up.
fn slow_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/containerd-2.1.9-linux-amd64.tar.gz",
        listener.local_addr().unwrap()
    );
    let hung_up = std::sync::Arc::new(AtomicBool::new(false));
    let flag = hung_up.clone();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        let mut req = [0u8; 4096];
        let _ = s.read(&mut req);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 50000000\r\n\r\n");
        // At most 30 s, then give up (the test has failed long before).
        for _ in 0..300 {
            if s.write_all(&[0u8; 512]).and_then(|()| s.flush()).is_err() {
                flag.store(true, Ordering::SeqCst);
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    (url, hung_up)
}

#[tokio::test]
async fn sigterm_during_a_download_cancels_it_at_once_and_leaves_no_staging() {
    let h = Host::new();
    let before = h.files();
    let rep = Recorder::default();
    let nf = no_faults();
    let agent = h.agent(&rep, &nf);
    let (url, hung_up) = slow_server();
    let c = Config {
        host_root: h.root().to_path_buf(),
        arch: Arch::Amd64,
        url,
        checksum: Checksum::Sha256("a".repeat(64)),
        mode: Mode::Side,
        node_name: None,
        containerd_proxy: None,
    };
    let stop = agent.stop.clone();
    let started = std::time::Instant::now();
    let stopper = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.request();
    };
    let (res, ()) = tokio::join!(agent.install(&c), stopper);
    let took = started.elapsed();
    assert!(
        matches!(res, Err(Error::Stopped { rolled_back: false })),
        "{res:?}"
    );
    // The slow link would take minutes; the stop must not wait for it.
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(!h.p(layout::STAGING).exists(), "staging removed");
    assert!(rep.last().is_none(), "nothing reported: no install started");
    let after: BTreeMap<_, _> = h
        .files()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("var/lib/cococtl/containerd/lock"))
        .collect();
    assert_eq!(after, before);
    // The connection was closed, not left streaming.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while !hung_up.load(std::sync::atomic::Ordering::SeqCst) && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(hung_up.load(std::sync::atomic::Ordering::SeqCst));
}

/// The fake node's query, asking the agent to stop the first time the gate looks: SIGTERM
/// arriving while a healthy containerd is being gated.
struct StopDuringGate<'a> {
    node: &'a FakeNode,
    stop: Stop,
}

#[async_trait]
impl cococtl_containerd::health::Query for StopDuringGate<'_> {
    async fn server(
        &self,
        host_root: &Path,
        ctr: &Path,
    ) -> Result<cococtl_containerd::health::Server, String> {
        self.stop.request();
        self.node.server(host_root, ctr).await
    }
    async fn binary_version(&self, b: &Path) -> Result<String, String> {
        self.node.binary_version(b).await
    }
}

#[tokio::test]
async fn sigterm_during_a_gate_that_passes_commits_the_healthy_containerd() {
    use cococtl_containerd::health::Query as _;
    let h = Host::new();
    let rep = Recorder::default();
    let nf = no_faults();
    let mut agent = h.agent(&rep, &nf);
    let q = StopDuringGate {
        node: &h.node,
        stop: agent.stop.clone(),
    };
    agent.query = &q;
    let r = release("2.1.9", &[]);
    let out = agent
        .install_verified(&cfg(&h, &r, Mode::Side), &r.fetched, &r.verified)
        .await;
    assert!(agent.stop.requested(), "the stop came during the gate");
    assert!(matches!(out, Ok(Outcome::Installed(_))), "{out:?}");
    consistent(&h);
    assert_eq!(h.running().as_deref(), Some("2.1.9"));
    assert_eq!(state::load(h.root()).unwrap().unwrap().version, "2.1.9");
    assert_eq!(rep.last(), Some(State::Ready));
    // The node keeps it: the next run has nothing to do.
    let again = install(&h, &r, Mode::Side, &nf).await.unwrap();
    assert!(matches!(again, Outcome::AlreadyInstalled(_)));
    let _ = h.node.binary_version(Path::new("/")).await;
}

/// The fake node, but the host's systemd cannot be reached (the agent cannot enter PID 1's
/// mount namespace).
struct NoSystemd<'a>(&'a FakeNode);

#[async_trait]
impl cococtl_containerd::service::ServiceManager for NoSystemd<'_> {
    async fn daemon_reload(&self) -> Result<(), String> {
        self.0.daemon_reload().await
    }
    async fn restart(&self, unit: &str) -> Result<(), String> {
        self.0.restart(unit).await
    }
    async fn is_active(&self, unit: &str) -> Result<bool, String> {
        self.0.is_active(unit).await
    }
    async fn reachable(&self) -> Result<(), String> {
        Err("the agent cannot enter the host's mount namespace".into())
    }
}

#[tokio::test]
async fn an_unreachable_systemd_is_refused_naming_the_tool_before_any_change() {
    use cococtl_containerd::service::ServiceManager as _;
    let h = Host::new();
    let before = h.files();
    let rep = Recorder::default();
    let nf = no_faults();
    let sd = NoSystemd(&h.node);
    let mut agent = h.agent(&rep, &nf);
    agent.service = &sd;
    let r = release("2.1.9", &[]);
    let e = agent
        .install_verified(&cfg(&h, &r, Mode::Side), &r.fetched, &r.verified)
        .await
        .unwrap_err();
    assert!(e.is_input_error(), "{e}");
    assert!(
        e.to_string()
            .contains("the agent cannot enter the host's mount namespace"),
        "{e}"
    );
    assert_eq!(h.files(), before);
    assert!(rep.last().is_none(), "no `installing` was reported");
    assert_eq!(h.running().as_deref(), Some(DISTRO));
    let _ = sd.is_active("x").await;
}

/// Remounts `rel` under the host read-only (tmpfs holding a copy of what was there);
/// `None` where this machine cannot mount (said loudly; the case is then not exercised).
fn read_only_fs(h: &Host, rel: &str) -> Option<Unmount> {
    use std::process::Command;
    let at = h.p(rel);
    let keep = h.p(&format!("{rel}.keep"));
    std::fs::rename(&at, &keep).unwrap();
    std::fs::create_dir_all(&at).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(&at)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("SKIPPED: cannot mount a tmpfs at {} (not root?): the read-only case is not exercised here", at.display());
        std::fs::remove_dir(&at).unwrap();
        std::fs::rename(&keep, &at).unwrap();
        return None;
    }
    let guard = Unmount(at.clone());
    assert!(Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", keep.display()))
        .arg(&at)
        .status()
        .unwrap()
        .success());
    assert!(Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&at)
        .status()
        .unwrap()
        .success());
    std::fs::remove_dir_all(&keep).unwrap();
    Some(guard)
}

struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[tokio::test]
async fn a_read_only_filesystem_is_refused_with_the_space_check_before_any_change() {
    for (mode, rel, what) in [
        (Mode::InPlace, "usr/bin", "/usr/bin/containerd"),
        (
            Mode::Side,
            "opt",
            "/opt/confidential-containers/cococtl/containerd/",
        ),
    ] {
        let h = Host::new();
        std::fs::create_dir_all(h.p("opt")).unwrap();
        let Some(_ro) = read_only_fs(&h, rel) else {
            return;
        };
        let before = h.files();
        let rep = Recorder::default();
        let nf = no_faults();
        let r = release("2.1.9", &[]);
        let e = h
            .agent(&rep, &nf)
            .install_verified(&cfg(&h, &r, mode), &r.fetched, &r.verified)
            .await
            .unwrap_err();
        let msg = e.to_string();
        assert!(e.is_input_error(), "{msg}");
        assert!(msg.contains("read-only filesystem"), "{msg}");
        assert!(msg.contains(what), "{mode:?}: {msg}");
        assert_eq!(h.files(), before, "{mode:?}");
        assert!(!h.p(layout::JOURNAL).exists());
        assert!(rep.last().is_none(), "no `installing` was reported");
        assert_eq!(h.running().as_deref(), Some(DISTRO));
    }
}

fn proxied(h: &Host, r: &Release, mode: Mode, https: &str) -> Config {
    Config {
        containerd_proxy: Some(cococtl_core::proxy::Proxy {
            https_proxy: https.into(),
            http_proxy: String::new(),
            no_proxy: "10.0.0.0/8,.svc".into(),
        }),
        ..cfg(h, r, mode)
    }
}

async fn install_cfg(h: &Host, c: &Config, r: &Release) -> Result<Outcome, Error> {
    let rep = Recorder::default();
    h.agent(&rep, &no_faults())
        .install_verified(c, &r.fetched, &r.verified)
        .await
}

#[tokio::test]
async fn proxy_containerd_writes_a_journalled_dropin_restarts_and_restore_removes_it() {
    for mode in [Mode::Side, Mode::InPlace] {
        let h = Host::new();
        let before = h.files();
        let r = release("2.1.9", &[]);
        install_cfg(&h, &proxied(&h, &r, mode, "http://p:3128"), &r)
            .await
            .unwrap();
        consistent(&h);
        let text = std::fs::read_to_string(h.p(layout::PROXY_DROPIN)).unwrap();
        assert!(
            text.contains("Environment=\"HTTPS_PROXY=http://p:3128\" \"NO_PROXY=10.0.0.0/8,.svc\""),
            "{text}"
        );
        let st = state::load(h.root()).unwrap().unwrap();
        assert!(
            st.files.iter().any(|f| f.path == layout::PROXY_DROPIN),
            "recorded for restore"
        );
        assert!(h.node.restarts() >= 1);
        restore(&h, &no_faults()).await.unwrap();
        consistent(&h);
        assert_eq!(h.files(), before, "{mode:?}: the drop-in is gone again");
    }
}

#[tokio::test]
async fn a_changed_proxy_is_applied_even_with_the_same_tarball_and_dropping_it_removes_the_file() {
    let h = Host::new();
    let r = release("2.1.9", &[]);
    install_cfg(&h, &proxied(&h, &r, Mode::Side, "http://p:3128"), &r)
        .await
        .unwrap();
    let again = install_cfg(&h, &proxied(&h, &r, Mode::Side, "http://p:3128"), &r)
        .await
        .unwrap();
    assert!(
        matches!(again, Outcome::AlreadyInstalled(_)),
        "same proxy: nothing to do"
    );
    let changed = install_cfg(&h, &proxied(&h, &r, Mode::Side, "http://q:8080"), &r)
        .await
        .unwrap();
    assert!(matches!(changed, Outcome::Installed(_)));
    let text = std::fs::read_to_string(h.p(layout::PROXY_DROPIN)).unwrap();
    assert!(text.contains("HTTPS_PROXY=http://q:8080"), "{text}");
    consistent(&h);
    let off = install_cfg(&h, &cfg(&h, &r, Mode::Side), &r).await.unwrap();
    assert!(matches!(off, Outcome::Installed(_)));
    assert!(!h.p(layout::PROXY_DROPIN).exists());
    consistent(&h);
}

#[tokio::test]
async fn an_admins_own_proxy_dropin_is_kept_and_put_back_on_restore() {
    let h = Host::new();
    write(
        &h.p(layout::PROXY_DROPIN),
        "[Service]\nEnvironment=HTTPS_PROXY=http://admin:1\n",
    );
    let before = h.files();
    let r = release("2.1.9", &[]);
    install_cfg(&h, &proxied(&h, &r, Mode::Side, "http://p:3128"), &r)
        .await
        .unwrap();
    assert!(std::fs::read_to_string(h.p(layout::PROXY_DROPIN))
        .unwrap()
        .contains("http://p:3128"));
    restore(&h, &no_faults()).await.unwrap();
    assert_eq!(h.files(), before);
}

#[tokio::test]
async fn an_oci_tarball_whose_layer_is_not_the_configured_checksum_changes_nothing() {
    use cococtl_containerd::oci::{Access, Registry};
    use cococtl_containerd::test_registry::{RegistryOptions, TestRegistry};
    let h = Host::new();
    let before = h.files();
    let reg_dir = tempfile::tempdir().unwrap();
    let reg = TestRegistry::start(
        reg_dir.path(),
        RegistryOptions {
            auth: Some(("robot".into(), "pw".into())),
        },
    )
    .unwrap();
    let secret = reg_dir.path().join("config.json");
    write(&secret, &reg.docker_config());
    let access = Access {
        pull_secret: Some(secret),
        ca_file: Some(reg.ca_pem()),
    };
    let target = cococtl_core::oci_ref::OciRef::parse(&format!(
        "oci://{}/coco/containerd:2.1.9",
        reg.host()
    ))
    .unwrap();
    let pushed = Registry::new(&target, &access, &Default::default())
        .unwrap()
        .push_tarball(&target, b"not the tarball the values pin")
        .await
        .unwrap();
    let rep = Recorder::default();
    let nf = no_faults();
    let mut agent = h.agent(&rep, &nf);
    agent.fetch.registry = access;
    let pinned = "a".repeat(64);
    let c = Config {
        host_root: h.root().to_path_buf(),
        arch: Arch::Amd64,
        url: pushed.reference.to_string(),
        checksum: Checksum::Sha256(pinned.clone()),
        mode: Mode::Side,
        node_name: None,
        containerd_proxy: None,
    };
    let e = agent.install(&c).await.unwrap_err();
    assert!(e.is_input_error(), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains(&pinned) && msg.contains(&pushed.tarball_sha256),
        "{msg}"
    );
    assert!(rep.last().is_none(), "nothing reported: no install started");
    assert!(!h.p(layout::STAGING).exists(), "staging removed");
    let after: BTreeMap<_, _> = h
        .files()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("var/lib/cococtl/containerd/lock"))
        .collect();
    assert_eq!(after, before, "the host is unchanged");
    assert_eq!(h.running().as_deref(), Some(DISTRO));
}
