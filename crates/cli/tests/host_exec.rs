//! `cococtl __host-exec -- PROGRAM`, the agent's way into the host's mount namespace: from a
//! mount namespace of its own (`unshare -m`, standing in for the agent's container), the
//! program runs in PID 1's, with `/` as its working directory; failures carry nsenter's
//! exit codes and the words `service.rs` turns into the agent's messages. The tests run as
//! root (as the rest of the suite); `unshare` is util-linux's (scripts/setup.d/oci-image.sh).

use std::process::{Command, Output};

fn in_own_mount_namespace(args: &[&str]) -> Output {
    Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--"])
        .arg(env!("CARGO_BIN_EXE_cococtl"))
        .arg("__host-exec")
        .args(args)
        .output()
        .expect("unshare (util-linux)")
}

fn mount_ns(pid: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/mnt"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn the_program_runs_in_pid_1s_mount_namespace_from_the_root() {
    // Without __host-exec, the unshared process is elsewhere (the stand-in is real).
    let apart = Command::new("unshare")
        .args(["--mount", "--", "readlink", "/proc/self/ns/mnt"])
        .output()
        .unwrap();
    assert!(apart.status.success(), "unshare: {apart:?}");
    assert_ne!(String::from_utf8_lossy(&apart.stdout).trim(), mount_ns("1"));
    let o = in_own_mount_namespace(&["--", "sh", "-c", "readlink /proc/self/ns/mnt; pwd"]);
    assert!(o.status.success(), "{o:?}");
    let out = String::from_utf8_lossy(&o.stdout);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(mount_ns("1").as_str()), "{out}");
    assert_eq!(lines.next(), Some("/"), "{out}");
}

#[test]
fn the_programs_exit_status_is_the_commands() {
    let o = in_own_mount_namespace(&["--", "sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
}

#[test]
fn a_program_missing_in_the_host_is_127_naming_it() {
    let o = in_own_mount_namespace(&["--", "systemctl-not-on-this-host", "--version"]);
    assert_eq!(o.status.code(), Some(127), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("failed to execute systemctl-not-on-this-host"),
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
