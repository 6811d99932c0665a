//! Exit codes and how messages reach the terminal: stdout carries only the result, stderr
//! carries warnings and errors.

use std::io::Write;
use std::process::ExitCode;

/// Invalid input: nothing was printed or changed.
pub const INVALID: u8 = 2;

pub fn warnings(ws: &[cococtl_profile::Warning]) {
    for w in ws {
        eprintln!("warning: {w}");
    }
}

pub fn invalid(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(INVALID)
}

pub fn failed(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(1)
}

/// Writes the result in one piece; a closed pipe (`| head`) is not an error.
pub fn print(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => failed(&format!("cannot write the output: {e}")),
    }
}
