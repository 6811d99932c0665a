//! What the `images` suites share: running the test binary and collecting every image a
//! rendered document runs.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// The test binary, run from `crates/cli/tests` (where the fixtures' relative paths start).
fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cococtl"));
    c.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests"));
    c
}

/// Runs cococtl with `args`; fails the test with its stderr unless it succeeds.
pub fn run<S: AsRef<OsStr>>(args: &[S]) -> Output {
    let out = bin().args(args).output().expect("run cococtl");
    assert!(
        out.status.success(),
        "cococtl {}: {}",
        args.iter()
            .map(|a| a.as_ref().to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every `image` under any `containers` / `initContainers` list, anywhere in `v`.
pub fn walk(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                if k == "containers" || k == "initContainers" {
                    for c in child.as_array().into_iter().flatten() {
                        if let Some(i) = c.get("image").and_then(Value::as_str) {
                            out.insert(i.to_string());
                        }
                    }
                }
                walk(child, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|c| walk(c, out)),
        _ => {}
    }
}
