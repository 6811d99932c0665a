//! `cococtl images` against `cococtl render`: for every profile, every peer-pods provider
//! and the agents, the images listed are exactly the images the rendered objects run,
//! found by walking the rendered JSON generically (every `image` of every entry of any
//! `containers` or `initContainers` list, wherever it sits), so no kind or field can be
//! missed by either side. Plus `global.*` and digest pinning as rendered.

mod images_common;

use std::collections::BTreeSet;
use std::path::Path;

use cococtl_profile::peerpods::Provider;
use images_common::{run, walk};
use serde_json::Value;

fn json(args: &[String]) -> Value {
    serde_json::from_slice(&run(args).stdout).expect("JSON output")
}

/// The images `render` emits for `values` (install and uninstall phases).
fn rendered(values: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for phase in ["install", "uninstall"] {
        let mut args: Vec<String> = vec!["render".into(), "-o".into(), "json".into()];
        args.extend(values.iter().cloned());
        args.extend(["--phase".into(), phase.into()]);
        walk(&json(&args), &mut out);
    }
    out
}

fn listed(values: &[String]) -> (BTreeSet<String>, Value) {
    let mut args: Vec<String> = vec!["images".into(), "-o".into(), "json".into()];
    args.extend(values.iter().cloned());
    let report = json(&args);
    let refs = report["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|i| i["reference"].as_str().expect("reference").to_string())
        .collect();
    (refs, report)
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// The values combinations: every profile, every provider fixture, both agents.
fn scenarios(dir: &Path) -> Vec<Vec<String>> {
    let mut s: Vec<Vec<String>> = ["x86_64", "s390x", "aarch64", "nvidia-gpu"]
        .iter()
        .map(|p| strings(&["--profile", p]))
        .collect();
    let mut fixtures: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/peerpods"))
            .expect("fixtures")
            .map(|f| f.expect("entry").file_name().to_string_lossy().to_string())
            .collect();
    fixtures.sort();
    for name in fixtures {
        let file = format!("fixtures/peerpods/{name}");
        // The TLS certificates are an overlay on a provider's file (as in render.rs).
        if name == "tls-certs.yaml" {
            s.push(strings(&[
                "--profile",
                "remote",
                "-f",
                "fixtures/peerpods/aws-irsa.yaml",
                "-f",
                &file,
            ]));
        } else {
            s.push(strings(&["--profile", "remote", "-f", &file]));
        }
    }
    // Every provider CAA v0.22.0 ships, also those without a fixture, with only the keys
    // its entry point requires (secrets referenced).
    for p in Provider::ALL {
        let mut text = format!(
            "peerpods:\n  provider: {p}\n  secrets:\n    mode: reference\n    existingSecretName: creds\n    existingSshKeySecretName: ssh\n  providerConfigs:\n    {p}:\n"
        );
        for k in p.required_config() {
            text.push_str(&format!("      {k}: \"{}\"\n", Provider::example(k)));
        }
        let file = dir.join(format!("{p}.yaml"));
        std::fs::write(&file, text).expect("write values");
        s.push(strings(&[
            "--profile",
            "remote",
            "-f",
            &file.to_string_lossy(),
        ]));
    }
    s.push(strings(&[
        "--profile",
        "x86_64",
        "-f",
        "fixtures/peerpods/aws-keys.yaml",
        "--set",
        "peerpods.enabled=true,probe.enabled=true",
        "--set",
        "customContainerd.enabled=true,customContainerd.tarballUrl=https://example.com/containerd-2.1.9-linux-amd64.tar.gz,customContainerd.sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ]));
    s
}

#[test]
fn images_lists_exactly_the_images_render_emits_for_every_profile_and_provider() {
    let dir = tempfile::tempdir().expect("tempdir");
    for values in scenarios(dir.path()) {
        let from_render = rendered(&values);
        let (from_images, _) = listed(&values);
        assert!(!from_render.is_empty(), "{values:?}: render has no image");
        assert_eq!(from_images, from_render, "{values:?}");
        // The same with a mirror set: what render then pulls, images lists.
        let mut mirrored = values.clone();
        mirrored.extend(strings(&[
            "--set",
            "global.imageRegistry=registry.example.com/coco",
        ]));
        let from_render = rendered(&mirrored);
        assert!(
            from_render
                .iter()
                .all(|i| i.starts_with("registry.example.com/coco/")),
            "{mirrored:?}: {from_render:?}"
        );
        assert_eq!(listed(&mirrored).0, from_render, "{mirrored:?}");
    }
}

#[test]
fn each_image_says_what_runs_it_and_for_which_arches() {
    let (_, report) = listed(&strings(&[
        "--profile",
        "remote",
        "-f",
        "fixtures/peerpods/aws-keys.yaml",
    ]));
    let images = report["images"].as_array().unwrap();
    let kd = images
        .iter()
        .find(|i| i["reference"] == "quay.io/kata-containers/kata-deploy:4.1.0")
        .expect("kata-deploy listed");
    assert_eq!(kd["arches"], serde_json::json!(["amd64", "s390x"]));
    assert_eq!(
        kd["usedBy"][0],
        serde_json::json!({"kind": "DaemonSet", "namespace": "coco-system", "name": "kata-deploy", "container": "kube-kata"})
    );
    let cleanup = images
        .iter()
        .find(|i| i["reference"] == "quay.io/kata-containers/kubectl:latest")
        .expect("the clean-up Job's image");
    assert_eq!(cleanup["usedBy"][0]["kind"], "Job");
}

#[test]
fn the_node_agent_tarball_is_listed_with_its_checksum() {
    let sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let (_, report) = listed(&strings(&[
        "--profile",
        "x86_64",
        "--set",
        &format!("customContainerd.enabled=true,customContainerd.tarballUrl=https://example.com/containerd-2.1.9-linux-amd64.tar.gz,customContainerd.sha256={sha}"),
    ]));
    assert_eq!(
        report["urls"],
        serde_json::json!([{"url": "https://example.com/containerd-2.1.9-linux-amd64.tar.gz", "arches": ["amd64"], "sha256": sha, "version": "2.1.9"}])
    );
}

#[test]
fn pull_secrets_reach_every_pod_spec_and_merge_with_kata_deploys_own() {
    let values = strings(&[
        "--profile",
        "x86_64",
        "-f",
        "fixtures/peerpods/aws-keys.yaml",
        "--set",
        "peerpods.enabled=true,probe.enabled=true,imagePullSecrets[0].name=own,imagePullSecrets[1].name=mirror",
        "--set",
        "customContainerd.enabled=true,customContainerd.tarballUrl=https://example.com/containerd-2.1.9-linux-amd64.tar.gz,customContainerd.sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "--set",
        "global.imagePullSecrets={mirror,extra}",
    ]);
    let mut pods = 0;
    for phase in ["install", "uninstall"] {
        let mut args = strings(&["render", "-o", "json", "--phase", phase]);
        args.extend(values.iter().cloned());
        for item in json(&args)["items"].as_array().unwrap() {
            let spec = match item["kind"].as_str().unwrap() {
                "DaemonSet" | "Deployment" | "Job" => &item["spec"]["template"]["spec"],
                _ => continue,
            };
            pods += 1;
            let names: Vec<&str> = spec["imagePullSecrets"]
                .as_array()
                .unwrap_or_else(|| panic!("{} has no imagePullSecrets", item["metadata"]["name"]))
                .iter()
                .map(|s| s["name"].as_str().unwrap())
                .collect();
            if item["metadata"]["name"] == "kata-deploy" {
                assert_eq!(names, ["own", "mirror", "extra"]);
            } else {
                assert_eq!(names, ["mirror", "extra"], "{}", item["metadata"]["name"]);
            }
        }
    }
    // kata-deploy, both agents, CAA, peerpod-ctrl, the webhook, the clean-up Job.
    assert_eq!(pods, 7);
}

#[test]
fn without_global_keys_no_pod_gets_pull_secrets() {
    let mut args = strings(&[
        "render",
        "-o",
        "json",
        "--profile",
        "remote",
        "-f",
        "fixtures/peerpods/aws-keys.yaml",
    ]);
    args.extend(strings(&["--set", "probe.enabled=true"]));
    let text = String::from_utf8(run(&args).stdout).unwrap();
    assert!(!text.contains("imagePullSecrets"));
}

#[test]
fn the_agent_image_is_rendered_by_digest_when_one_is_given() {
    let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let values = strings(&[
        "--profile",
        "x86_64",
        "--set",
        &format!("probe.enabled=true,probe.image.digest={d}"),
        "--set",
        "global.imageRegistry=registry.example.com/coco",
    ]);
    let (_, report) = listed(&values);
    let want = format!(
        "registry.example.com/coco/confidential-containers/cococtl:{}@{d}",
        env!("CARGO_PKG_VERSION")
    );
    let probe = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["reference"] == want.as_str())
        .unwrap_or_else(|| panic!("{want} not in {report:#}"));
    assert_eq!(probe["digest"], d);
}

#[test]
fn with_tools_adds_the_verify_and_check_images_where_those_commands_pull_them() {
    let (refs, report) = listed(&strings(&[
        "--profile",
        "x86_64",
        "--with-tools",
        "--set",
        "global.imageRegistry=registry.example.com/coco",
    ]));
    assert!(
        refs.contains("registry.example.com/coco/e2e-test-images/busybox:1.36.1-1"),
        "{refs:?}"
    );
    let own = format!(
        "registry.example.com/coco/confidential-containers/cococtl:{}",
        env!("CARGO_PKG_VERSION")
    );
    let check = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["reference"].as_str().unwrap().starts_with(&own))
        .expect("check's probe image");
    assert_eq!(check["usedBy"][0]["name"], "cococtl-check");
    // Not part of the install: without the flag, only what render emits.
    let (plain, _) = listed(&strings(&[
        "--profile",
        "x86_64",
        "--set",
        "global.imageRegistry=registry.example.com/coco",
    ]));
    assert!(plain.iter().all(|r| !r.contains("busybox")));
}
