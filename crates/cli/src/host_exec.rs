//! `cococtl __host-exec -- PROGRAM [ARGS...]`: runs PROGRAM in PID 1's mount namespace, the
//! way `nsenter -t 1 -m -- PROGRAM` does, so the node-agent image needs no nsenter (and no
//! util-linux, loader or shared libraries for it).
//!
//! The agent runs `/proc/self/exe __host-exec -- systemctl ...` to reach the host's systemd
//! (`cococtl_containerd::service`). Hidden: not a user command, not in `--help`.
//!
//! `main` dispatches here before anything else runs, and in particular before the tokio
//! runtime exists: the kernel refuses `setns(CLONE_NEWNS)` to a multi-threaded process
//! (EINVAL), so this must run while the process has its one thread.
//!
//! Exit status and messages follow nsenter's, which `service.rs` reads: 1 when the
//! namespace cannot be entered, 126 when PROGRAM cannot be run, 127 when it is not found,
//! 2 for a malformed command line; otherwise the process *is* PROGRAM.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use nix::errno::Errno;
use nix::sched::CloneFlags;

/// The hidden subcommand's name, the first argument.
pub const SUBCOMMAND: &str = "__host-exec";

/// The mount namespace entered: PID 1's (the DaemonSet runs with hostPID, so it is the
/// host's init).
const TARGET_NS: &str = "/proc/1/ns/mnt";

/// Runs the command after `__host-exec` (`args` excludes the program name and the
/// subcommand). Returns only on failure.
pub fn run(args: &[OsString]) -> ExitCode {
    let Some(argv) = command(args) else {
        eprintln!("cococtl {SUBCOMMAND}: usage: cococtl {SUBCOMMAND} -- PROGRAM [ARGS...]");
        return ExitCode::from(2);
    };
    let ns = match std::fs::File::open(TARGET_NS) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("cococtl {SUBCOMMAND}: cannot open {TARGET_NS}: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = nix::sched::setns(&ns, CloneFlags::CLONE_NEWNS) {
        eprintln!(
            "cococtl {SUBCOMMAND}: cannot enter PID 1's mount namespace ({TARGET_NS}): {}",
            e.desc()
        );
        return ExitCode::from(1);
    }
    drop(ns);
    // The old working directory belongs to the namespace just left; relative paths and
    // the program's own cwd must be the host's root.
    if let Err(e) = nix::unistd::chdir("/") {
        eprintln!(
            "cococtl {SUBCOMMAND}: cannot chdir to the host's /: {}",
            e.desc()
        );
        return ExitCode::from(1);
    }
    let c_argv: Vec<CString> = match argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
    {
        Ok(v) => v,
        Err(_) => {
            eprintln!("cococtl {SUBCOMMAND}: an argument contains a NUL byte");
            return ExitCode::from(2);
        }
    };
    // execvp searches PATH as the program would be found on the host (the environment is
    // the caller's, the files are the host's), like nsenter.
    let Err(e) = nix::unistd::execvp(&c_argv[0], &c_argv);
    eprintln!(
        "cococtl {SUBCOMMAND}: failed to execute {}: {}",
        argv[0].to_string_lossy(),
        e.desc()
    );
    ExitCode::from(if e == Errno::ENOENT { 127 } else { 126 })
}

/// PROGRAM and its arguments: everything after a leading `--`, which must name a program.
/// The separator is required so that a future option of this subcommand can never be
/// mistaken for a program's argument.
fn command(args: &[OsString]) -> Option<&[OsString]> {
    match args {
        [dash, _, ..] if dash == "--" => Some(&args[1..]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_line_without_the_separator_or_a_program_is_refused() {
        let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(command(&os(&[])), None);
        assert_eq!(command(&os(&["systemctl", "--version"])), None);
        assert_eq!(command(&os(&["--"])), None);
        assert_eq!(
            command(&os(&["--", "systemctl", "--version"])),
            Some(&os(&["systemctl", "--version"])[..])
        );
    }
}
