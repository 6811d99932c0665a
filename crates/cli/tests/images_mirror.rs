//! A registry mirror end to end, against a real registry (Debian's docker-registry with
//! TLS, `cococtl_containerd::test_registry`): the images an install renders with
//! `global.imageRegistry` all resolve in the mirror once each upstream image is copied to
//! where `cococtl images --mirror` says, and the `--write-script` script is valid bash with
//! one copy per image. The upstream images cannot be downloaded here (no network), so a
//! tiny image of distinct content stands in for each.

mod images_common;

use std::collections::BTreeSet;
use std::process::Command;

use cococtl_containerd::test_registry::{tiny_image, RegistryOptions, TestRegistry};
use images_common::{run, walk};
use serde_json::Value;

const PROFILES: &[&[&str]] = &[
    &["--profile", "x86_64", "--set", "probe.enabled=true"],
    &[
        "--profile",
        "remote",
        "-f",
        "fixtures/peerpods/aws-keys.yaml",
    ],
];

/// What an install with `global.imageRegistry=<mirror>` renders (both phases).
fn rendered(values: &[&str], mirror: &str) -> BTreeSet<String> {
    let set = format!("global.imageRegistry={mirror}");
    let mut out = BTreeSet::new();
    for phase in ["install", "uninstall"] {
        let mut args = vec!["render", "-o", "json", "--phase", phase, "--set", &set];
        args.extend_from_slice(values);
        let v: Value = serde_json::from_slice(&run(&args).stdout).expect("JSON");
        walk(&v, &mut out);
    }
    out
}

/// `cococtl images --mirror`: (source, mirrored) per image.
fn mapping(values: &[&str], mirror: &str) -> Vec<(String, String)> {
    let mut args = vec!["images", "-o", "json", "--mirror", mirror];
    args.extend_from_slice(values);
    let v: Value = serde_json::from_slice(&run(&args).stdout).expect("JSON");
    v["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|i| {
            (
                i["reference"].as_str().unwrap().to_string(),
                i["mirror"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn every_rendered_image_resolves_in_the_mirror_images_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = TestRegistry::start(&dir.path().join("registry"), RegistryOptions::default())
        .expect("registry (scripts/setup.d/registry-proxy.sh)");
    let mirror = format!("{}/coco", reg.host());
    let prefix = format!("{}/", reg.host());
    for (n, values) in PROFILES.iter().enumerate() {
        let map = mapping(values, &mirror);
        let dests: BTreeSet<String> = map.iter().map(|(_, d)| d.clone()).collect();
        let want = rendered(values, &mirror);
        assert_eq!(dests, want, "{values:?}: images --mirror vs render");
        // Fill the mirror as the script would, one distinct stand-in per source image.
        for (i, (src, dst)) in map.iter().enumerate() {
            let layout = dir.path().join(format!("img-{n}-{i}"));
            let image = tiny_image(&layout, "t", &format!("stand-in for {src}")).expect("image");
            let repo_ref = dst.strip_prefix(&prefix).expect("in the mirror");
            reg.push(&image, repo_ref).expect("push");
        }
        for r in &want {
            let repo_ref = r.strip_prefix(&prefix).expect("in the mirror");
            reg.inspect_raw(repo_ref)
                .unwrap_or_else(|e| panic!("{values:?}: {r} does not resolve: {e}"));
        }
    }
    // Something not pushed does not resolve: the check above can fail.
    assert!(reg.inspect_raw("coco/not/pushed:1").is_err());
}

#[test]
fn the_mirror_script_is_valid_bash_with_one_copy_per_image() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("mirror.sh");
    let sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let cc = format!("customContainerd.enabled=true,customContainerd.tarballUrl=https://example.com/containerd-2.1.9-linux-amd64.tar.gz,customContainerd.sha256={sha}");
    let values = [
        "--profile",
        "remote",
        "-f",
        "fixtures/peerpods/aws-keys.yaml",
        "--set",
        "customContainerd.tarballUrls.s390x=https://example.com/containerd-2.1.9-linux-s390x.tar.gz,customContainerd.checksumUrls.s390x=https://example.com/s390x.sha256sum",
        "--set",
        &cc,
    ];
    let mut args = vec![
        "images",
        "--mirror",
        "registry.example.com/coco",
        "--write-script",
        script.to_str().unwrap(),
    ];
    args.extend_from_slice(&values);
    let out = run(&args);
    let listed = String::from_utf8(out.stdout).unwrap();
    let text = std::fs::read_to_string(&script).expect("script written");
    let check = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("bash");
    assert!(
        check.status.success(),
        "{}\n{text}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(text.contains("set -euo pipefail"));
    let map = mapping(&values, "registry.example.com/coco");
    let copies: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("skopeo copy --all "))
        .collect();
    assert_eq!(copies.len(), map.len(), "{text}");
    for (src, dst) in &map {
        let line = format!("skopeo copy --all 'docker://{src}' 'docker://{dst}'");
        assert!(copies.contains(&line.as_str()), "{line}\n{text}");
        // The text output is the same mapping.
        assert!(listed.contains(&format!("{src} -> {dst}")), "{listed}");
    }
    // The tarballs: downloaded, checked, pushed, one tag per tarball.
    for l in [
        "curl -fsSL --retry 3 -o 'containerd-2.1.9-linux-amd64.tar.gz' 'https://example.com/containerd-2.1.9-linux-amd64.tar.gz'",
        &format!("echo '{sha}  containerd-2.1.9-linux-amd64.tar.gz' | sha256sum -c -"),
        "cococtl artifact push --file 'containerd-2.1.9-linux-amd64.tar.gz' 'oci://registry.example.com/coco/containerd:2.1.9-amd64'",
        "sha256sum -c --ignore-missing 'containerd-2.1.9-linux-s390x.tar.gz.sha256sum'",
        "cococtl artifact push --file 'containerd-2.1.9-linux-s390x.tar.gz' 'oci://registry.example.com/coco/containerd:2.1.9-s390x'",
    ] {
        assert!(text.lines().any(|x| x == l), "missing `{l}` in\n{text}");
    }
}
