//! `cococtl node` (not implemented yet).

use std::process::ExitCode;

/// Arguments of `cococtl node`.
#[derive(clap::Args)]
pub struct NodeArgs {}

pub fn run(_args: NodeArgs) -> ExitCode {
    eprintln!("error: `cococtl node` is not implemented yet");
    ExitCode::from(2)
}
