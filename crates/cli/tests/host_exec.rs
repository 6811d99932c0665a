//! `cococtl __host-exec -- PROGRAM`, the agent's way into the host's mount namespace.
//!
//! Each test stands the DaemonSet's situation up in miniature: a PID namespace of its own
//! (`unshare --pid --fork --mount-proc`), whose PID 1 (`sh`) plays the host's init in its
//! mount namespace, and the agent in a further mount namespace (`unshare --mount`), as in
//! its container. (The sandbox's real PID 1 may not be entered at all, so it is not used.)
//! From there the program must run in PID 1's mount namespace with `/` as its working
//! directory; failures carry nsenter's exit codes and the words `service.rs` turns into
//! the agent's messages. The tests run as root (as the rest of the suite); `unshare` is
//! util-linux's (scripts/setup.d/oci-image.sh).

use std::process::{Command, Output};

/// Runs `script` as PID 1 of a new PID and mount namespace; `$COCOCTL` is the binary.
fn as_init(script: &str) -> Output {
    Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "sh", "-c", script])
        .env("COCOCTL", env!("CARGO_BIN_EXE_cococtl"))
        .output()
        .expect("unshare (util-linux)")
}

/// The agent's command line, from a mount namespace apart from PID 1's.
const AGENT: &str = r#"unshare --mount -- "$COCOCTL" __host-exec"#;

#[test]
fn the_program_runs_in_pid_1s_mount_namespace_from_the_root() {
    let o = as_init(&format!(
        "readlink /proc/1/ns/mnt; unshare --mount -- readlink /proc/self/ns/mnt; \
         cd /tmp && {AGENT} -- sh -c 'readlink /proc/self/ns/mnt; pwd'"
    ));
    assert!(o.status.success(), "{o:?}");
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    let [init, apart, entered, cwd] = lines[..] else {
        panic!("{out}\n{}", String::from_utf8_lossy(&o.stderr));
    };
    // Without __host-exec the agent is elsewhere (the stand-in is real)...
    assert_ne!(apart, init);
    // ... with it, in PID 1's namespace, at its root.
    assert_eq!(entered, init);
    assert_eq!(cwd, "/");
}

#[test]
fn the_programs_exit_status_is_the_commands() {
    let o = as_init(&format!("{AGENT} -- sh -c 'exit 3'"));
    assert_eq!(o.status.code(), Some(3), "{o:?}");
}

#[test]
fn a_program_missing_in_the_host_is_127_naming_it() {
    let o = as_init(&format!("{AGENT} -- systemctl-not-on-this-host --version"));
    assert_eq!(o.status.code(), Some(127), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("failed to execute systemctl-not-on-this-host"),
        "{err}"
    );
}

#[test]
fn a_namespace_that_cannot_be_entered_is_1_saying_so() {
    // Without CAP_SYS_ADMIN (and, for PID 1's links, CAP_SYS_PTRACE) the kernel refuses:
    // what a DaemonSet without privileges gets.
    let o =
        as_init(r#"setpriv --inh-caps=-all --bounding-set=-all -- "$COCOCTL" __host-exec -- true"#);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot open /proc/1/ns/mnt")
            || err.contains("cannot enter PID 1's mount namespace"),
        "{err}"
    );
}

#[test]
fn a_command_line_without_the_separator_is_a_usage_error() {
    let o = Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args(["__host-exec", "systemctl", "--version"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("usage: cococtl __host-exec -- PROGRAM"));
}

#[test]
fn the_subcommand_is_not_in_the_help() {
    let o = Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&o.stdout).contains("host-exec"));
}
