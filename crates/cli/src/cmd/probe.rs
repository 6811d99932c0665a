//! `cococtl probe` (not implemented yet).

use std::process::ExitCode;

/// Arguments of `cococtl probe`.
#[derive(clap::Args)]
pub struct ProbeArgs {}

pub fn run(_args: ProbeArgs) -> ExitCode {
    eprintln!("error: `cococtl probe` is not implemented yet");
    ExitCode::from(2)
}
