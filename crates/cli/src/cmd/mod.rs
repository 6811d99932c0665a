//! One module per subcommand; each exposes its clap `Args` and a `run` returning the exit code.

pub mod artifact;
pub mod check;
pub mod diff;
pub mod history;
pub mod images;
pub mod install;
mod kube_args;
pub mod node;
pub mod node_probe;
pub mod probe;
pub mod profiles;
pub mod render;
pub mod rollback;
pub mod status;
mod take_over;
pub mod uninstall;
pub mod upgrade;
mod values_args;
pub mod verify;
pub mod version;
