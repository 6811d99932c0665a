//! Helm-style values flags shared by the commands that build a configuration.

use std::path::Path;

use cococtl_profile::{builtin, Inputs, SetArg};

/// `--profile`, `-f`, `--set`, `--set-string`, `--kata-version`, `-n`.
#[derive(clap::Args, Debug, Clone)]
pub struct ValuesArgs {
    /// Built-in profile (x86_64, s390x, aarch64, remote, nvidia-gpu) or path to a values file
    #[arg(short = 'p', long, default_value = "x86_64", value_name = "NAME|PATH")]
    pub profile: String,
    /// Values file layered on the profile, in order (kata-deploy 4.1.0 structured values or the
    /// CoCo chart's values files)
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values: Vec<String>,
    /// Set values with Helm's syntax: a.b=c, list[0]=x, escaped\.dot=y, several separated by commas
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Like --set, but every value stays a string
    #[arg(long = "set-string", value_name = "KEY=VALUE")]
    pub set_string: Vec<String>,
    /// kata-deploy version to render for
    #[arg(long, value_name = "VERSION")]
    pub kata_version: Option<String>,
    /// Namespace to install into
    #[arg(short = 'n', long, default_value = "coco-system")]
    pub namespace: String,
}

impl ValuesArgs {
    /// Reads the profile and values files; the rest is pure.
    pub fn inputs(&self) -> Result<Inputs, String> {
        let looks_like_path = self.profile.contains('/')
            || self.profile.ends_with(".yaml")
            || self.profile.ends_with(".yml");
        let profile = if builtin::source(&self.profile).is_some() || !looks_like_path {
            let text =
                cococtl_profile::builtin_profile(&self.profile).map_err(|e| e.to_string())?;
            (self.profile.clone(), text.to_string())
        } else {
            (self.profile.clone(), read(&self.profile, "--profile")?)
        };
        let mut files = vec![];
        for f in &self.values {
            files.push((f.clone(), read(f, "-f")?));
        }
        // Helm applies every --set before any --set-string.
        let sets = self
            .set
            .iter()
            .map(|a| SetArg {
                string: false,
                arg: a.clone(),
            })
            .chain(self.set_string.iter().map(|a| SetArg {
                string: true,
                arg: a.clone(),
            }))
            .collect();
        Ok(Inputs {
            profile: Some(profile),
            files,
            sets,
            kata_version: self.kata_version.clone(),
            namespace: self.namespace.clone(),
        })
    }
}

fn read(path: &str, flag: &str) -> Result<String, String> {
    std::fs::read_to_string(Path::new(path))
        .map_err(|e| format!("{flag} {path}: cannot read: {e}\n  fix: check the path"))
}
