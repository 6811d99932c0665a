//! One module per subcommand; each exposes its clap `Args` and a `run` returning the exit code.

pub mod node;
pub mod node_probe;
pub mod probe;
pub mod profiles;
pub mod render;
mod values_args;
