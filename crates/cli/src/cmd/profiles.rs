//! `cococtl profiles` (not implemented yet).

use std::process::ExitCode;

/// Arguments of `cococtl profiles`.
#[derive(clap::Args)]
pub struct ProfilesArgs {}

pub fn run(_args: ProfilesArgs) -> ExitCode {
    eprintln!("error: `cococtl profiles` is not implemented yet");
    ExitCode::from(2)
}
