//! `cococtl render` (not implemented yet).

use std::process::ExitCode;

/// Arguments of `cococtl render`.
#[derive(clap::Args)]
pub struct RenderArgs {}

pub fn run(_args: RenderArgs) -> ExitCode {
    eprintln!("error: `cococtl render` is not implemented yet");
    ExitCode::from(2)
}
