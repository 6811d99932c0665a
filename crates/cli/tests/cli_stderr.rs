//! What stderr carries: by default only cococtl's own words (issue 18 item 2). The shipped
//! binary is run against a closed port, a missing kubeconfig and a user lacking permissions.

use std::path::Path;
use std::process::{Command, Output};

use cococtl_cluster::testing::{ApiServer, Sim};

/// A kubeconfig for `server` whose context's user is `user`.
fn kubeconfig(dir: &Path, server: &str, user: &str) -> std::path::PathBuf {
    let p = dir.join("config");
    std::fs::write(
        &p,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: {user}\ncurrent-context: c\nusers:\n- name: {user}\n  user:\n    token: t\n"
        ),
    )
    .unwrap();
    p
}

/// A 127.0.0.1 port nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn run(args: &[&str], kubeconfig: &Path, envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cococtl"));
    c.args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env_remove("KUBECONFIG")
        .env_remove("RUST_LOG");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The lines cococtl itself prints while it tries: a step heading and the retry notice.
fn is_progress(line: &str) -> bool {
    line.starts_with("preflight: checking ")
        || (line.starts_with("  API server unreachable since ") && line.ends_with(" s, retrying"))
}

#[test]
fn an_unreachable_server_leaves_only_cococtls_error_and_fix_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let kc = kubeconfig(dir.path(), &format!("http://127.0.0.1:{port}"), "alice");
    for args in [
        &["install", "--wait=false", "--timeout", "2s"][..],
        &["uninstall", "--timeout", "2s"][..],
        &["verify", "--timeout", "2s"][..],
    ] {
        let o = run(args, &kc, &[]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {err}");
        let own: Vec<&str> = err.lines().filter(|l| !is_progress(l)).collect();
        assert_eq!(own.len(), 2, "{args:?}: only the error and its fix:\n{err}");
        assert!(
            own[0].starts_with(&format!(
                "error: cannot reach the Kubernetes API server at http://127.0.0.1:{port}/ ("
            )) && own[0].ends_with("Connection refused (os error 111)"),
            "{args:?}: {err}"
        );
        assert!(own[1].starts_with("  fix: "), "{args:?}: {err}");
        assert!(
            err.lines()
                .any(|l| l.starts_with("  API server unreachable since ")),
            "{args:?}: the retries are announced: {err}"
        );
    }
}

#[test]
fn verbose_and_rust_log_let_the_libraries_speak() {
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(
        dir.path(),
        &format!("http://127.0.0.1:{}", closed_port()),
        "alice",
    );
    let args = ["install", "--wait=false", "--timeout", "1s"];
    let quiet = stderr(&run(&args, &kc, &[])).lines().count();
    for (extra, envs) in [
        (&["-vv"][..], &[][..]),
        (&["--verbose", "--verbose"][..], &[][..]),
        (&[][..], &[("RUST_LOG", "debug")][..]),
    ] {
        let mut a = args.to_vec();
        a.extend_from_slice(extra);
        let loud = stderr(&run(&a, &kc, envs));
        assert!(
            loud.lines().count() > quiet,
            "{extra:?} {envs:?} says more than the default ({quiet} lines):\n{loud}"
        );
    }
}

#[test]
fn a_missing_kubeconfig_is_named_as_given_without_debug_quotes() {
    let o = run(&["status"], Path::new("/nonexistent/kubeconfig"), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "error: --kubeconfig /nonexistent/kubeconfig: cannot read it: No such file or directory (os error 2)\n  fix: check the path (or leave --kubeconfig out to use $KUBECONFIG or ~/.kube/config)\n"
    );
}

#[test]
fn missing_permissions_name_the_user_the_server_sees_else_the_kubeconfig_user() {
    let server = ApiServer::start(Sim::default());
    server.add_node("worker-1", &[]);
    server.deny("create", "clusterrolebindings");
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(dir.path(), &server.url, "kc-user");
    // The stand-in's SelfSubjectReview answers "tester".
    let err = stderr(&run(&["install", "--wait=false"], &kc, &[]));
    assert!(err.contains("tester is missing 1 permission(s)"), "{err}");
    assert!(!err.contains("you is missing"), "{err}");
    // Without SelfSubjectReview (older server, or forbidden), the kubeconfig's user.
    server.deny("create", "selfsubjectreviews");
    let err = stderr(&run(&["install", "--wait=false"], &kc, &[]));
    assert!(err.contains("kc-user is missing 1 permission(s)"), "{err}");
}
