//! Build facts `cococtl version` prints: the git commit the binary was built from and the
//! target triple. Never fails the build: outside a git checkout (a source tarball, a
//! vendored copy) the commit is "unknown".

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=COCOCTL_GIT_COMMIT={commit}");
    // Cargo sets TARGET for build scripts only; hand it on to the crate.
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=COCOCTL_TARGET={target}");
    // A new commit (HEAD moving, or the branch it names moving) changes the answer.
    if let Some(git_dir) = git_path("--git-dir") {
        println!("cargo:rerun-if-changed={git_dir}/HEAD");
        if let Some(head_ref) = std::fs::read_to_string(format!("{git_dir}/HEAD"))
            .ok()
            .and_then(|h| h.strip_prefix("ref: ").map(|r| r.trim().to_string()))
        {
            if let Some(common) = git_path("--git-common-dir") {
                println!("cargo:rerun-if-changed={common}/{head_ref}");
                println!("cargo:rerun-if-changed={common}/packed-refs");
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}

/// An absolute path git reports (`--git-dir`, `--git-common-dir`).
fn git_path(flag: &str) -> Option<String> {
    let o = Command::new("git")
        .args(["rev-parse", "--path-format=absolute", flag])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let s = String::from_utf8(o.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}
