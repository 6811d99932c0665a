//! Argument errors that name the environment variable a bad value came from. The node
//! agents are configured by env in their DaemonSets; clap names only the flag
//! (`invalid value 'maybe' for '--allow-insecure-http'`), which the user never typed and
//! cannot find in the rendered manifest.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser};

/// Parses the command line; an invalid value that came from an environment variable is
/// reported by that variable's name (exit 2, as clap's own usage errors).
pub fn parse<P: Parser + CommandFactory>() -> P {
    match P::try_parse() {
        Ok(p) => p,
        Err(e) => {
            if let Some(msg) = from_env(&e, &P::command(), |v| std::env::var_os(v)) {
                eprint!("{msg}");
                std::process::exit(2);
            }
            e.exit()
        }
    }
}

fn string(e: &clap::Error, kind: ContextKind) -> Option<String> {
    match e.get(kind)? {
        ContextValue::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// The message for an invalid value that came from an environment variable, if it did.
fn from_env(
    e: &clap::Error,
    cmd: &clap::Command,
    var: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Option<String> {
    if e.kind() != ErrorKind::InvalidValue {
        return None;
    }
    let arg = string(e, ContextKind::InvalidArg)?;
    let value = string(e, ContextKind::InvalidValue)?;
    // "--mode <MODE>" → "mode"
    let long = arg.trim_start_matches('-').split([' ', '=']).next()?;
    let name = env_of(cmd, long, &value, &var)?;
    let mut msg = format!(
        "error: invalid value '{value}' in the environment variable {name} (read as {arg})\n"
    );
    if let Some(ContextValue::Strings(ok)) = e.get(ContextKind::ValidValue) {
        msg.push_str(&format!("  possible values: {}\n", ok.join(", ")));
    }
    msg.push_str(&format!(
        "  fix: set {name} to a valid value (in the DaemonSet's env), or unset it\n"
    ));
    Some(msg)
}

/// The env variable of a `--long` argument anywhere in the command tree that currently
/// holds `value`.
fn env_of(
    cmd: &clap::Command,
    long: &str,
    value: &str,
    var: &impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Option<String> {
    for a in cmd.get_arguments() {
        if a.get_long() != Some(long) {
            continue;
        }
        if let Some(env) = a.get_env() {
            let env = env.to_string_lossy();
            if var(&env).is_some_and(|v| v.to_string_lossy() == value) {
                return Some(env.into_owned());
            }
        }
    }
    cmd.get_subcommands()
        .find_map(|sub| env_of(sub, long, value, var))
}
