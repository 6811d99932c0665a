//! `cococtl artifact push`: puts a containerd release tarball into a registry as the
//! one-layer OCI artifact the node agent downloads from `oci://` (air-gapped clusters:
//! the tarball lives in the same mirror as the images; docs/node-agent.md#oci).
//!
//! Prints the values that select it: the digest reference for `tarballUrl` and the
//! tarball's SHA-256 for `sha256`. `cococtl images --write-script` emits
//! `cococtl artifact push --file <tarball> oci://<mirror>/containerd:<version>` lines:
//! keep that shape.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use cococtl_containerd::oci::{self, auth::Credentials, Login, Registry};
use cococtl_core::oci_ref::OciRef;
use cococtl_core::proxy::Proxy;

use crate::exit;

/// OCI artifacts for air-gapped installs
#[derive(clap::Args)]
pub struct ArtifactArgs {
    #[command(subcommand)]
    command: ArtifactCommand,
}

#[derive(clap::Subcommand)]
enum ArtifactCommand {
    /// Upload a containerd tarball to a registry as the artifact an oci:// tarballUrl names
    Push(PushArgs),
}

#[derive(clap::Args)]
#[command(after_help = "Example:
  printf '%s' \"$PASSWORD\" | cococtl artifact push --file containerd-2.1.9-linux-amd64.tar.gz \\
      oci://mirror.local:5000/coco/containerd:2.1.9 --ca mirror-ca.pem --username robot --password-stdin

Prints `tarballUrl: oci://HOST/REPO@sha256:<manifest digest>` and `sha256: <tarball sha256>`,
the customContainerd values (or tarballUrls.<arch> / sha256s.<arch>) that install it.
The same tarball always gives the same manifest digest.

Exit codes: 0 pushed, 1 the registry refused or failed, 2 bad input (nothing pushed).")]
struct PushArgs {
    /// The containerd release tarball (.tar.gz)
    #[arg(long, value_name = "TARBALL")]
    file: PathBuf,
    /// Where to push: oci://HOST/REPO:TAG
    #[arg(value_name = "oci://HOST/REPO:TAG")]
    target: String,
    /// A PEM file of extra CAs for the registry, besides the system roots
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// The registry login (the password is read from stdin)
    #[arg(long, requires = "password_stdin")]
    username: Option<String>,
    /// Read the password for --username from stdin
    #[arg(long, requires = "username")]
    password_stdin: bool,
    /// A docker config.json / .dockerconfigjson holding the login (instead of --username)
    #[arg(long, value_name = "FILE", conflicts_with = "username")]
    authfile: Option<PathBuf>,
}

pub async fn run(args: ArtifactArgs) -> ExitCode {
    match args.command {
        ArtifactCommand::Push(p) => push(p).await,
    }
}

/// The gzip magic: the agent unpacks gzip'd tars only, so anything else is refused here
/// rather than on every node.
fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

async fn push(a: PushArgs) -> ExitCode {
    let target = match OciRef::parse(&a.target) {
        Ok(r) => r,
        Err(e) => {
            return exit::invalid(&format!(
                "{e}\n  fix: give the destination as oci://HOST/REPO:TAG, e.g. oci://mirror.local:5000/coco/containerd:2.1.9"
            ))
        }
    };
    let tarball = match std::fs::read(&a.file) {
        Ok(b) => b,
        Err(e) => return exit::invalid(&format!("--file {}: {e}", a.file.display())),
    };
    if tarball.len() as u64 > cococtl_containerd::fetch::DEFAULT_MAX_BYTES {
        return exit::invalid(&format!(
            "--file {}: {} MiB is more than the agent accepts by default ({} MiB)",
            a.file.display(),
            tarball.len() >> 20,
            cococtl_containerd::fetch::DEFAULT_MAX_BYTES >> 20
        ));
    }
    if !is_gzip(&tarball) {
        return exit::invalid(&format!(
            "--file {}: not a gzip'd tar; the node agent installs containerd release tarballs (containerd-<version>-linux-<arch>.tar.gz)",
            a.file.display()
        ));
    }
    let reg = match session(&a, &target) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match reg.push_tarball(&target, &tarball).await {
        Ok(p) => {
            eprintln!(
                "pushed {} ({} bytes) to {target} as {}\n  install it with: --set customContainerd.tarballUrl={} --set customContainerd.sha256={}",
                a.file.display(),
                p.bytes,
                p.reference,
                p.reference,
                p.tarball_sha256
            );
            exit::print(&format!(
                "tarballUrl: {}\nsha256: {}\n",
                p.reference, p.tarball_sha256
            ))
        }
        Err(e) => exit::failed(&e.to_string()),
    }
}

/// The registry session: the login from --username/--password-stdin, --authfile, or none.
fn session(a: &PushArgs, target: &OciRef) -> Result<Registry, ExitCode> {
    // A workstation behind a proxy reaches the registry as `curl` would.
    let proxy = Proxy::from_env(|k| std::env::var(k).ok());
    if let Some(authfile) = &a.authfile {
        return Registry::new(
            target,
            &oci::Access {
                pull_secret: Some(authfile.clone()),
                ca_file: a.ca.clone(),
            },
            &proxy,
        )
        .map_err(|e| exit::invalid(&e.to_string()));
    }
    let creds = match &a.username {
        Some(u) => {
            let mut password = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut password) {
                return Err(exit::invalid(&format!("--password-stdin: {e}")));
            }
            // `echo pw |` adds a newline that is not part of the password.
            let password = password.trim_end_matches(['\n', '\r']).to_string();
            if password.is_empty() {
                return Err(exit::invalid("--password-stdin: stdin was empty"));
            }
            Some(Credentials {
                username: u.clone(),
                password,
            })
        }
        None => None,
    };
    let client = oci::client(a.ca.as_deref(), &proxy).map_err(|e| exit::invalid(&e.to_string()))?;
    Ok(Registry::with_login(
        target,
        client,
        Login {
            creds,
            source: "--username/--password-stdin".into(),
            missing_why: "no --username or --authfile was given".into(),
            missing_fix:
                "pass --username USER --password-stdin, or --authfile with a docker config.json"
                    .into(),
        },
    ))
}
