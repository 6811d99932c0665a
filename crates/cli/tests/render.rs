//! `cococtl render` as a user runs it: golden files per profile and values combination,
//! determinism, schema validation against the official Kubernetes OpenAPI schemas, and bad
//! input (exit code 2, nothing on stdout, a message naming the key and the fix).
//!
//! Golden files are regenerated only by `scripts/update-golden` (UPDATE_GOLDEN=1, refused
//! when `CI` is set); a mismatch fails with a unified line diff per file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cococtl"));
    c.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests"));
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run cococtl")
}

/// (golden file name, arguments): every profile and the values combinations users have.
const SCENARIOS: &[(&str, &[&str])] = &[
    ("profile-x86_64.yaml", &["render", "--profile", "x86_64"]),
    ("profile-s390x.yaml", &["render", "--profile", "s390x"]),
    ("profile-aarch64.yaml", &["render", "--profile", "aarch64"]),
    (
        "profile-remote.yaml",
        &["render", "--profile", "remote", "-f", "fixtures/peerpods/libvirt.yaml"],
    ),
    ("profile-nvidia-gpu.yaml", &["render", "--profile", "nvidia-gpu"]),
    (
        "profile-remote.json",
        &["render", "--profile", "remote", "-f", "fixtures/peerpods/libvirt.yaml", "-o", "json"],
    ),
    ("coco-chart-x86_64.yaml", &["render", "-f", "fixtures/coco-chart/values.yaml"]),
    (
        "coco-chart-s390x.yaml",
        &["render", "-f", "fixtures/coco-chart/values.yaml", "-f", "fixtures/coco-chart/kata-s390x.yaml"],
    ),
    (
        "coco-chart-remote.yaml",
        &["render", "-f", "fixtures/coco-chart/values.yaml", "-f", "fixtures/coco-chart/kata-remote.yaml"],
    ),
    (
        "structured-site-values.yaml",
        &["render", "--profile", "x86_64", "-f", "fixtures/values/site.yaml", "-n", "confidential"],
    ),
    (
        "nvidia-gpu-default-class.yaml",
        &["render", "--profile", "nvidia-gpu", "-f", "fixtures/values/gpu-default-class.yaml", "--assume-nfd"],
    ),
    (
        "set-overrides.yaml",
        &[
            "render",
            "--profile",
            "s390x",
            "--set",
            "debug=true,devkit=true,logLevel=info",
            "--set",
            "shims.qemu-se.runtimeClass.nodeSelector.feature\\.node\\.kubernetes\\.io/cpu-security\\.se\\.enabled=true",
            "--set-string",
            "podAnnotations.build=0042",
            "--assume-nfd",
        ],
    ),
    (
        "custom-containerd.yaml",
        &[
            "render",
            "--profile",
            "x86_64",
            "--set",
            "customContainerd.enabled=true",
            "--set",
            "customContainerd.tarballUrl=https://example.com/containerd-2.1.9-linux-amd64.tar.gz",
            "--set",
            "customContainerd.sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "--set",
            "customContainerd.nodeSelector.coco=yes",
        ],
    ),
    (
        "probe-tee-labels.yaml",
        &[
            "render",
            "--profile",
            "x86_64",
            "--set",
            "probe.enabled=true,probe.teeLabels=true,probe.interval=30m",
        ],
    ),
    (
        "drop-ins.yaml",
        &["render", "--profile", "x86_64", "-f", "fixtures/values/drop-ins.yaml"],
    ),
    (
        "shim-drop-in.yaml",
        &["render", "--profile", "x86_64", "-f", "fixtures/values/shim-drop-in.yaml"],
    ),
    ("uninstall-phase.yaml", &["render", "--profile", "x86_64", "--phase", "uninstall"]),
    // kata-deploy 4.1.0 chart features beyond the defaults (docs/values.md#monitor,
    // #customruntimes, #nodefeaturerules).
    (
        "monitor.yaml",
        &["render", "--profile", "x86_64", "--set", "monitor.enabled=true,k8sDistribution=k3s"],
    ),
    (
        "custom-runtimes.yaml",
        &["render", "--profile", "x86_64", "-f", "fixtures/values/custom-runtimes.yaml"],
    ),
    (
        "node-feature-rules.yaml",
        &["render", "--profile", "x86_64", "--set", "nodeFeatureRules.create=true"],
    ),
    (
        "node-feature-rules-suffix.yaml",
        &["render", "--profile", "x86_64", "--set", "nodeFeatureRules.create=true,env.multiInstallSuffix=blue,debug=true", "--assume-nfd"],
    ),
    // Peer pods (docs/peerpods.md): every provider, create and reference secrets.
    (
        "peerpods-libvirt-reference.yaml",
        &["render", "--profile", "remote", "-f", "fixtures/peerpods/libvirt-reference.yaml"],
    ),
    (
        "peerpods-azure-workload-identity.yaml",
        &["render", "--profile", "remote", "-f", "fixtures/peerpods/azure-workload-identity.yaml"],
    ),
    (
        "peerpods-azure-workload-identity-reference.yaml",
        &["render", "--profile", "remote", "-f", "fixtures/peerpods/azure-workload-identity.yaml", "--set", REFERENCE],
    ),
    (
        "peerpods-azure-client-secret.yaml",
        &["render", "--profile", "remote", "-f", "fixtures/peerpods/azure-client-secret.yaml"],
    ),
    (
        "peerpods-azure-client-secret-reference.yaml",
        &["render", "--profile", "remote", "-f", "fixtures/peerpods/azure-client-secret.yaml", "--set", REFERENCE],
    ),
    (
        "peerpods-aws-irsa.yaml",
        &["render", "--profile", "remote", "-f", "fixtures/peerpods/aws-irsa.yaml"],
    ),
    (
        "peerpods-aws-irsa-reference.yaml",
        &["render", "--profile", "remote", "-f", "fixtures/peerpods/aws-irsa.yaml", "--set", REFERENCE],
    ),
    (
        "peerpods-aws-keys.yaml",
        &["render", "--profile", "remote", "-f", "fixtures/peerpods/aws-keys.yaml"],
    ),
    (
        "peerpods-aws-keys-reference.yaml",
        &["render", "--profile", "remote", "-f", "fixtures/peerpods/aws-keys.yaml", "--set", REFERENCE],
    ),
    ("peerpods-gcp.yaml", &["render", "--profile", "remote", "-f", "fixtures/peerpods/gcp.yaml"]),
    (
        "peerpods-gcp-reference.yaml",
        &["render", "--profile", "remote", "-f", "fixtures/peerpods/gcp.yaml", "--set", REFERENCE],
    ),
    (
        "peerpods-ibmcloud.yaml",
        &["render", "--profile", "remote", "-f", "fixtures/peerpods/ibmcloud.yaml"],
    ),
    (
        "peerpods-ibmcloud-reference.yaml",
        &["render", "--profile", "remote", "-f", "fixtures/peerpods/ibmcloud.yaml", "--set", REFERENCE],
    ),
    (
        "peerpods-renamed.yaml",
        &["render", "--profile", "remote", "-f", "fixtures/peerpods/aws-keys.yaml", "--set", REFERENCE, "--set", RENAMED],
    ),
    (
        "peerpods-renamed-no-cert-manager.yaml",
        &["render", "--profile", "remote", "-f", "fixtures/peerpods/aws-keys.yaml", "--set", REFERENCE, "--set", RENAMED, "--set", "peerpods.webhook.certManager.enabled=false"],
    ),
    ("peerpods-byom.yaml", &["render", "--profile", "remote", "-f", "fixtures/peerpods/byom.yaml"]),
    (
        "peerpods-byom-reference.yaml",
        &["render", "--profile", "remote", "-f", "fixtures/peerpods/byom.yaml", "--set", REFERENCE_SSH],
    ),
    (
        "peerpods-tls-certs.yaml",
        &["render", "--profile", "remote", "-f", "fixtures/peerpods/aws-irsa.yaml", "-f", "fixtures/peerpods/tls-certs.yaml"],
    ),
    (
        "peerpods-tls-certs-reference.yaml",
        &["render", "--profile", "remote", "-f", "fixtures/peerpods/aws-irsa.yaml", "-f", "fixtures/peerpods/tls-certs.yaml", "--set", REFERENCE],
    ),
    (
        "peerpods-mixed-x86_64.yaml",
        &["render", "--profile", "x86_64", "-f", "fixtures/peerpods/aws-irsa.yaml", "--set", "peerpods.enabled=true"],
    ),
];

/// `--set` turning a create-mode fixture into reference mode with the names peerpod-ctrl
/// reads.
/// The peer-pods sub-charts' renames (resourceCtrl/webhook namePrefix, webhook namespace).
const RENAMED: &str = "peerpods.resourceCtrl.namePrefix=acme-ctrl-,peerpods.webhook.namePrefix=acme-wh-,peerpods.webhook.namespaceOverride=acme-webhooks";
const REFERENCE: &str =
    "peerpods.secrets.mode=reference,peerpods.secrets.existingSecretName=peer-pods-secret";
const REFERENCE_SSH: &str = "peerpods.secrets.mode=reference,peerpods.secrets.existingSecretName=peer-pods-secret,peerpods.secrets.existingSshKeySecretName=ssh-key-secret";

/// The warnings a scenario prints on stderr, one substring each; every other scenario must
/// print nothing.
const WARNINGS: &[(&str, &[&str])] = &[
    ("structured-site-values.yaml", &[DEBUG_WARNING]),
    ("node-feature-rules-suffix.yaml", &[DEBUG_WARNING]),
    ("set-overrides.yaml", &[DEBUG_WARNING]),
    ("profile-remote.yaml", &[CREATE_WARNING]),
    ("profile-remote.json", &[CREATE_WARNING]),
    (
        "peerpods-libvirt-reference.yaml",
        &["peerpods.secrets.existingSecretName (from -f fixtures/peerpods/libvirt-reference.yaml): `libvirt-creds`: upstream peerpod-ctrl reads", "peerpods.secrets.existingSshKeySecretName (from -f fixtures/peerpods/libvirt-reference.yaml): `libvirt-ssh`"],
    ),
    ("peerpods-azure-client-secret.yaml", &[CREATE_WARNING]),
    ("peerpods-azure-client-secret-reference.yaml", &[REFERENCE_IGNORES]),
    ("peerpods-aws-keys.yaml", &[CREATE_WARNING]),
    ("peerpods-aws-keys-reference.yaml", &[REFERENCE_IGNORES]),
    ("peerpods-renamed.yaml", &[REFERENCE_IGNORES]),
    (
        "peerpods-renamed-no-cert-manager.yaml",
        &[REFERENCE_IGNORES, "false: no Issuer or Certificate is rendered"],
    ),
    ("peerpods-gcp.yaml", &[CREATE_WARNING]),
    ("peerpods-gcp-reference.yaml", &[REFERENCE_IGNORES]),
    ("peerpods-ibmcloud.yaml", &[CREATE_WARNING]),
    ("peerpods-ibmcloud-reference.yaml", &[REFERENCE_IGNORES]),
    ("peerpods-byom.yaml", &[CREATE_WARNING]),
    ("peerpods-byom-reference.yaml", &[REFERENCE_IGNORES]),
    (
        "peerpods-tls-certs.yaml",
        &[CREATE_WARNING, "peerpods.secrets.existingTlsSecretName (from -f fixtures/peerpods/tls-certs.yaml): ignored in secrets.mode=create"],
    ),
    (
        "peerpods-tls-certs-reference.yaml",
        &["peerpods.secrets.tlsCerts (from -f fixtures/peerpods/tls-certs.yaml): ignored in secrets.mode=reference"],
    ),
];

/// `debug=true` also turns containerd's own debug logging on, node-wide.
const DEBUG_WARNING: &str =
    "also turns on containerd's debug logging node-wide on every targeted node";
const CREATE_WARNING: &str =
    "credentials in secrets.mode=create: they are written into the Secret(s)";
const REFERENCE_IGNORES: &str =
    "ignored in secrets.mode=reference: the credentials come from the Secrets you name";

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Regeneration is explicit: `scripts/update-golden` sets UPDATE_GOLDEN. CI (where `CI` is
/// set, as on every common CI service) must never accept new output silently.
fn updating() -> bool {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(
        !(update && ci),
        "UPDATE_GOLDEN is refused under CI: regenerate locally with scripts/update-golden"
    );
    update
}

/// A unified line diff, `-` the golden file and `+` what renders now.
fn line_diff(name: &str, golden: &str, now: &str) -> String {
    similar::TextDiff::from_lines(golden, now)
        .unified_diff()
        .context_radius(3)
        .header(&format!("golden/{name}"), "rendered now")
        .to_string()
}

#[test]
fn every_scenario_matches_its_golden_file() {
    let update = updating();
    let mut differences = vec![];
    for (name, args) in SCENARIOS {
        let out = run(args);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        let expected = WARNINGS
            .iter()
            .find(|(n, _)| n == name)
            .map_or(&[][..], |(_, w)| *w);
        assert_eq!(
            stderr
                .lines()
                .filter(|l| l.starts_with("warning: "))
                .count(),
            expected.len(),
            "{name} warned: {stderr}"
        );
        for w in expected {
            assert!(stderr.contains(w), "{name}: `{w}` not in:\n{stderr}");
        }
        let path = golden_dir().join(name);
        if update {
            std::fs::write(&path, &out.stdout).unwrap();
            continue;
        }
        let now = String::from_utf8(out.stdout).expect("rendered output is UTF-8");
        match std::fs::read_to_string(&path) {
            Ok(want) if want == now => {}
            Ok(want) => differences.push(line_diff(name, &want, &now)),
            Err(e) => differences.push(format!("golden/{name}: {e}\n")),
        }
    }
    assert!(
        differences.is_empty(),
        "{} golden file(s) differ from what renders now. If the change is intended, run \
         scripts/update-golden and review it with `git diff`.\n\n{}",
        differences.len(),
        differences.join("\n")
    );
}

#[test]
fn every_golden_file_belongs_to_a_scenario() {
    let mut stale: Vec<String> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| !SCENARIOS.iter().any(|(n, _)| n == f))
        .collect();
    stale.sort();
    assert!(
        stale.is_empty(),
        "golden files without a scenario: {stale:?}"
    );
}

/// The YAML documents of a rendered stream, each without its `---` line.
fn documents(stream: &str) -> Vec<&str> {
    // A document starts at a line that is exactly `---` (a PEM line ends in `-----` too).
    let mut starts: Vec<usize> = vec![];
    let mut at = 0;
    for line in stream.split_inclusive('\n') {
        if line == "---\n" {
            starts.push(at);
        }
        at += line.len();
    }
    starts
        .iter()
        .enumerate()
        .map(|(i, &s)| &stream[s + 4..starts.get(i + 1).copied().unwrap_or(stream.len())])
        .filter(|d| !d.is_empty())
        .collect()
}

/// The pod-template annotations of the kata-deploy DaemonSet in a rendered stream.
fn kata_deploy_pod_annotations(stream: &str) -> serde_yaml::Mapping {
    let ds = documents(stream)
        .into_iter()
        .map(|d| serde_yaml::from_str::<serde_yaml::Value>(d).unwrap())
        .find(|d| d["kind"] == "DaemonSet" && d["metadata"]["name"] == "kata-deploy")
        .expect("a kata-deploy DaemonSet");
    match &ds["spec"]["template"]["metadata"]["annotations"] {
        serde_yaml::Value::Mapping(m) => m.clone(),
        _ => serde_yaml::Mapping::new(),
    }
}

/// What the scenario `name` renders now.
fn rendered(name: &str) -> String {
    let (_, args) = SCENARIOS.iter().find(|(n, _)| *n == name).unwrap();
    let out = run(args);
    assert!(out.status.success(), "{name}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn checksum_annotations_are_absent_when_no_config_map_is_mounted() {
    for name in ["profile-x86_64.yaml", "set-overrides.yaml"] {
        let a = kata_deploy_pod_annotations(&rendered(name));
        assert!(
            a.keys()
                .all(|k| !k.as_str().unwrap().starts_with("checksum/")),
            "{name}: {a:?}"
        );
    }
}

#[test]
fn checksum_annotations_hash_the_config_map_exactly_as_printed() {
    use sha2::{Digest, Sha256};
    for (name, want) in [
        (
            "drop-ins.yaml",
            &[
                (
                    "checksum/containerd-user-dropin",
                    "kata-deploy-containerd-user-dropin",
                ),
                ("checksum/custom-configs", "kata-deploy-custom-configs"),
            ][..],
        ),
        (
            "shim-drop-in.yaml",
            &[("checksum/custom-configs", "kata-deploy-custom-configs")][..],
        ),
    ] {
        let stream = rendered(name);
        let a = kata_deploy_pod_annotations(&stream);
        let checksums = a
            .keys()
            .filter(|k| k.as_str().unwrap().starts_with("checksum/"))
            .count();
        assert_eq!(checksums, want.len(), "{name}: {a:?}");
        for (key, config_map) in want {
            let doc = documents(&stream)
                .into_iter()
                .find(|d| {
                    d.contains("\nkind: ConfigMap\n")
                        && d.contains(&format!("\n  name: {config_map}\n"))
                })
                .unwrap_or_else(|| panic!("{name}: no ConfigMap {config_map}"));
            assert_eq!(
                a[*key],
                hex::encode(Sha256::digest(doc.as_bytes())),
                "{name}: {key}"
            );
        }
    }
}

#[test]
fn render_is_byte_identical_across_runs() {
    let a = run(&[
        "render",
        "--profile",
        "x86_64",
        "-f",
        "fixtures/values/site.yaml",
    ]);
    let b = run(&[
        "render",
        "--profile",
        "x86_64",
        "-f",
        "fixtures/values/site.yaml",
    ]);
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout);
}

/// cert-manager kinds have no schema in kubernetes-validate: they are split out and checked
/// by [`cert_manager_object_is_well_formed`] against the cert-manager v1 CRDs' required and
/// known fields instead.
fn is_cert_manager(doc: &serde_yaml::Value) -> bool {
    doc["apiVersion"] == "cert-manager.io/v1"
}

/// NodeFeatureRule (NFD's CRD) has no schema in kubernetes-validate either: checked by
/// [`node_feature_rule_is_well_formed`].
fn is_node_feature_rule(doc: &serde_yaml::Value) -> bool {
    doc["apiVersion"] == "nfd.k8s-sigs.io/v1alpha1" && doc["kind"] == "NodeFeatureRule"
}

/// The fields of NFD's `NodeFeatureRule` v1alpha1 CRD that the kata-tee-keys rule uses (a
/// focused check, not the full CRD schema): cluster-scoped metadata with a name; every
/// rule a `name`, `labels` and `extendedResources` maps of strings, and `matchFeatures`
/// entries of a `feature` with `matchExpressions` of `{op, value?}`; nothing else.
fn node_feature_rule_is_well_formed(golden: &str, v: &serde_yaml::Value) {
    use serde_yaml::Value;
    let id = format!(
        "{golden}: NodeFeatureRule {}",
        v["metadata"]["name"].as_str().unwrap_or("?")
    );
    let keys = |m: &Value| -> Vec<String> {
        m.as_mapping()
            .map(|m| {
                m.keys()
                    .map(|k| k.as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let strings = |m: &Value| {
        m.as_mapping()
            .is_some_and(|m| m.iter().all(|(k, v)| k.is_string() && v.is_string()))
    };
    assert!(v["metadata"]["name"].is_string(), "{id}: name");
    assert!(v["metadata"]["namespace"].is_null(), "{id}: cluster-scoped");
    for k in keys(v) {
        assert!(
            ["apiVersion", "kind", "metadata", "spec"].contains(&k.as_str()),
            "{id}: {k}"
        );
    }
    assert_eq!(keys(&v["spec"]), ["rules"], "{id}: spec");
    let rules = v["spec"]["rules"]
        .as_sequence()
        .expect("spec.rules is a list");
    assert!(!rules.is_empty(), "{id}: no rules");
    for r in rules {
        for k in keys(r) {
            assert!(
                ["name", "labels", "extendedResources", "matchFeatures"].contains(&k.as_str()),
                "{id}: rule key {k}"
            );
        }
        assert!(r["name"].is_string(), "{id}: rule name");
        assert!(
            strings(&r["labels"]) && strings(&r["extendedResources"]),
            "{id}: maps"
        );
        for m in r["matchFeatures"]
            .as_sequence()
            .expect("matchFeatures is a list")
        {
            assert_eq!(keys(m), ["feature", "matchExpressions"], "{id}: matcher");
            assert!(m["feature"].is_string(), "{id}: feature");
            for (_, e) in m["matchExpressions"]
                .as_mapping()
                .expect("matchExpressions map")
            {
                assert!(e["op"].is_string(), "{id}: op");
                for k in keys(e) {
                    assert!(
                        ["op", "value"].contains(&k.as_str()),
                        "{id}: expression {k}"
                    );
                }
            }
        }
    }
}

#[test]
fn every_rendered_object_passes_the_kubernetes_openapi_schema() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = vec![];
    for (name, _) in SCENARIOS.iter().filter(|(n, _)| n.ends_with(".yaml")) {
        let text = std::fs::read_to_string(golden_dir().join(name)).unwrap();
        let mut kept = String::new();
        for doc in documents(&text) {
            let v: serde_yaml::Value = serde_yaml::from_str(doc).unwrap();
            if is_cert_manager(&v) {
                cert_manager_object_is_well_formed(name, &v);
            } else if is_node_feature_rule(&v) {
                node_feature_rule_is_well_formed(name, &v);
            } else {
                kept.push_str("---\n");
                kept.push_str(doc);
            }
        }
        let f = dir.path().join(name);
        std::fs::write(&f, kept).unwrap();
        files.push(f);
    }
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "--quiet", "-k", "1.33.0"])
        .args(&files)
        .output()
        .expect("kubernetes-validate (PyPI) is missing: run ./scripts/test, which installs it");
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "schema violations:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The fields cert-manager v1 requires and allows for the Issuer and Certificate cococtl
/// renders (a focused check, not the full CRD schema): Issuer `spec.selfSigned` (an
/// object); Certificate `spec.secretName` and `spec.issuerRef.name` (required),
/// `issuerRef.kind`/`group`, `dnsNames` (strings); nothing else.
fn cert_manager_object_is_well_formed(golden: &str, v: &serde_yaml::Value) {
    use serde_yaml::Value;
    let id = format!(
        "{golden}: {} {}",
        v["kind"].as_str().unwrap_or("?"),
        v["metadata"]["name"].as_str().unwrap_or("?")
    );
    let keys = |m: &Value| -> Vec<String> {
        m.as_mapping()
            .map(|m| {
                m.keys()
                    .map(|k| k.as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(
        v["metadata"]["name"].is_string() && v["metadata"]["namespace"].is_string(),
        "{id}: name and namespace"
    );
    let top = keys(v);
    assert!(
        top.iter()
            .all(|k| ["apiVersion", "kind", "metadata", "spec"].contains(&k.as_str())),
        "{id}: {top:?}"
    );
    let spec = &v["spec"];
    match v["kind"].as_str() {
        Some("Issuer") => {
            assert_eq!(keys(spec), ["selfSigned"], "{id}");
            assert!(spec["selfSigned"].is_mapping(), "{id}");
        }
        Some("Certificate") => {
            for k in keys(spec) {
                assert!(
                    ["dnsNames", "issuerRef", "secretName"].contains(&k.as_str()),
                    "{id}: unknown spec.{k}"
                );
            }
            assert!(spec["secretName"].is_string(), "{id}: secretName");
            assert!(
                spec["issuerRef"]["name"].is_string(),
                "{id}: issuerRef.name"
            );
            for k in keys(&spec["issuerRef"]) {
                assert!(
                    ["name", "kind", "group"].contains(&k.as_str()),
                    "{id}: unknown issuerRef.{k}"
                );
            }
            let names = spec["dnsNames"].as_sequence().expect("dnsNames");
            assert!(names.iter().all(Value::is_string), "{id}: dnsNames");
        }
        other => panic!("{id}: unexpected cert-manager kind {other:?}"),
    }
}

fn assert_refused(args: &[&str], expect: &[&str]) {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(out.stdout.is_empty(), "{args:?} printed on stdout");
    for e in expect {
        assert!(err.contains(e), "{args:?}: `{e}` not in:\n{err}");
    }
}

#[test]
fn coco_chart_aarch64_file_is_refused_because_4_1_does_not_build_qemu_coco_dev_for_arm64() {
    assert_refused(
        &[
            "render",
            "-f",
            "fixtures/coco-chart/values.yaml",
            "-f",
            "fixtures/coco-chart/kata-aarch64.yaml",
        ],
        &[
            "kata-as-coco-runtime.env.shims (from -f fixtures/coco-chart/kata-aarch64.yaml)",
            "does not build `qemu-coco-dev` for aarch64",
            "use qemu-coco-dev-runtime-rs instead",
        ],
    );
}

#[test]
fn peer_pods_without_the_provider_keys_are_refused_naming_each_key() {
    assert_refused(
        &["render", "--profile", "remote", "--set", "peerpods.provider=gcp"],
        &[
            "error: peerpods.providerConfigs.gcp.GCP_PROJECT_ID (from --set 'peerpods.provider=gcp'): is required for provider gcp",
            "peerpods.providerConfigs.gcp.PODVM_IMAGE_NAME",
            "fix: --set peerpods.providerConfigs.gcp.GCP_ZONE=<value>",
        ],
    );
}

#[test]
fn vsphere_and_unknown_providers_are_refused() {
    assert_refused(
        &[
            "render",
            "--profile",
            "remote",
            "--set",
            "peerpods.provider=vsphere",
        ],
        &[
            "peerpods.provider",
            "`vsphere` was removed from cloud-api-adaptor",
        ],
    );
    assert_refused(
        &[
            "render",
            "--profile",
            "remote",
            "--set",
            "peerpods.provider=awz",
        ],
        &["`awz` is not a cloud-api-adaptor v0.22.0 provider; did you mean `aws`?"],
    );
}

#[test]
fn tls_1_3_with_cipher_suites_is_refused() {
    assert_refused(
        &[
            "render",
            "--profile",
            "remote",
            "-f",
            "fixtures/peerpods/aws-irsa.yaml",
            "--set",
            "peerpods.tlsProfile.minVersion=VersionTLS13,peerpods.tlsProfile.cipherSuites=TLS_AES_128_GCM_SHA256",
        ],
        &["peerpods.tlsProfile.cipherSuites", "fix: remove peerpods.tlsProfile.cipherSuites"],
    );
}

#[test]
fn a_suffixed_install_must_point_the_webhook_at_its_remote_class() {
    assert_refused(
        &[
            "render",
            "--profile",
            "remote",
            "-f",
            "fixtures/peerpods/aws-irsa.yaml",
            "--set",
            "env.multiInstallSuffix=pp",
        ],
        &["fix: --set peerpods.webhook.webhook.targetRuntimeClass=kata-remote-pp"],
    );
}

#[test]
fn unknown_shim_is_refused() {
    assert_refused(
        &["render", "--set", "shims.qemu-sev.enabled=true"],
        &["shims.qemu-sev", "not a kata-deploy 4.1.0 shim"],
    );
}

#[test]
fn shim_enabled_for_an_arch_it_is_not_built_for_is_refused() {
    assert_refused(
        &[
            "render",
            "--set",
            "shims.qemu-snp.supportedArches={amd64,s390x}",
        ],
        &[
            "shims.qemu-snp.supportedArches",
            "does not build `qemu-snp` for s390x",
        ],
    );
}

#[test]
fn default_shim_not_enabled_is_refused() {
    assert_refused(
        &["render", "--set", "defaultShim.amd64=qemu-se"],
        &[
            "defaultShim.amd64",
            "docs/kata-deploy-contract.md#g5",
            "fix: --set defaultShim.amd64=",
        ],
    );
}

#[test]
fn snapshotter_mapping_for_a_disabled_shim_is_refused() {
    assert_refused(
        &[
            "render",
            "--set",
            "shims.qemu-tdx.enabled=false,shims.qemu-tdx.containerd.snapshotter=nydus",
        ],
        &["shims.qemu-tdx.containerd.snapshotter", "not enabled"],
    );
}

#[test]
fn nydus_mapping_without_nydus_setup_is_refused() {
    assert_refused(
        &["render", "--set", "snapshotter.setup=null"],
        &[
            "docs/kata-deploy-contract.md#g7",
            "add nydus to snapshotter.setup",
        ],
    );
}

#[test]
fn proxy_for_an_unknown_shim_is_refused() {
    assert_refused(
        &[
            "render",
            "--set",
            "shims.qemu-snpx.agent.httpsProxy=http://p:3128",
        ],
        &["shims.qemu-snpx", "did you mean `qemu-snp`?"],
    );
}

#[test]
fn invalid_suffix_prefix_and_image_are_each_named() {
    assert_refused(
        &["render", "--set", "env.multiInstallSuffix=PR_1"],
        &["env.multiInstallSuffix", "DNS label"],
    );
    assert_refused(
        &["render", "--set", "env.installationPrefix=opt/x"],
        &["env.installationPrefix", "absolute"],
    );
    assert_refused(
        &["render", "--set", "image.reference=Quay.io/Kata"],
        &["image.reference", "not a valid image reference"],
    );
}

#[test]
fn empty_shim_list_on_a_schedulable_arch_is_refused() {
    assert_refused(
        &["render", "--profile", "s390x", "--set", "affinity=null"],
        &["may run on amd64 nodes", "docs/kata-deploy-contract.md#g4"],
    );
}

#[test]
fn unsupported_kata_version_lists_the_supported_ones() {
    assert_refused(
        &["render", "--kata-version", "3.22.0"],
        &["3.22.0", "supported: 4.1.0"],
    );
}

#[test]
fn unrendered_chart_features_are_refused_not_dropped() {
    assert_refused(
        &["render", "--set", "deploymentMode=job"],
        &["deploymentMode", "does not render"],
    );
    assert_refused(
        &["render", "--set", "verification.pod=apiVersion: v1"],
        &["verification.pod", "kind is missing, not Pod"],
    );
    assert_refused(
        &["render", "--set", "nodeFeatureRules.create=maybe"],
        &["nodeFeatureRules.create", "auto, true, false"],
    );
}

#[test]
fn drop_in_that_is_not_toml_is_refused_before_it_reaches_a_node() {
    assert_refused(
        &[
            "render",
            "--set-string",
            "shims.qemu-snp.dropIn=[hypervisor.qemu",
        ],
        &["shims.qemu-snp.dropIn", "is not valid TOML"],
    );
    assert_refused(
        &["render", "--set-string", "containerd.userDropIn=a = = b"],
        &["containerd.userDropIn", "is not valid TOML"],
    );
}

#[test]
fn custom_containerd_without_checksum_or_over_http_is_refused() {
    assert_refused(
        &[
            "render",
            "--set",
            "customContainerd.enabled=true,customContainerd.tarballUrl=http://e.com/c.tar.gz",
        ],
        &[
            "customContainerd.tarballUrl",
            "plain HTTP",
            "customContainerd.sha256",
            "no checksum",
        ],
    );
    assert_refused(
        &["render", "--set", "customContainerd.enabled=true,k8sDistribution=k3s,customContainerd.tarballUrl=https://e.com/c.tgz"],
        &["ships and manages its own containerd"],
    );
}

#[test]
fn malformed_values_file_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.yaml");
    std::fs::write(&f, "shims: [unclosed\n").unwrap();
    assert_refused(
        &["render", "-f", f.to_str().unwrap()],
        &["bad.yaml", "not a valid values file"],
    );
    assert_refused(
        &["render", "-f", "/nonexistent/values.yaml"],
        &["-f /nonexistent/values.yaml", "cannot read"],
    );
}

#[test]
fn unknown_profile_lists_the_builtin_ones() {
    assert_refused(
        &["render", "--profile", "x86"],
        &[
            "unknown profile `x86`",
            "x86_64, s390x, aarch64, remote, nvidia-gpu",
        ],
    );
}

#[test]
fn unknown_key_is_a_warning_with_a_suggestion_and_render_still_succeeds() {
    let out = run(&["render", "--set", "imagePullPolcy=Never"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning: imagePullPolcy (from --set 'imagePullPolcy=Never'): unknown key, ignored; did you mean `imagePullPolicy`?"), "{err}");
}

#[test]
fn show_values_prints_the_merged_values_with_the_last_layer_winning() {
    let out = run(&[
        "render",
        "--profile",
        "s390x",
        "--set",
        "debug=true",
        "--show-values",
    ]);
    assert!(out.status.success());
    let v: serde_yaml::Value = serde_yaml::from_slice(&out.stdout).unwrap();
    assert_eq!(v["debug"], serde_yaml::Value::Bool(true));
    assert_eq!(
        v["shims"]["qemu-se"]["enabled"],
        serde_yaml::Value::Bool(true)
    );
    assert_eq!(
        v["image"]["reference"],
        serde_yaml::Value::from("quay.io/kata-containers/kata-deploy")
    );
}

#[test]
fn json_output_is_a_v1_list() {
    let out = run(&["render", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["apiVersion"], "v1");
    assert_eq!(v["kind"], "List");
    assert_eq!(v["items"][0]["kind"], "Namespace");
}

#[test]
fn profiles_list_and_show_print_every_builtin_profile() {
    let out = run(&["profiles", "list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for p in ["x86_64", "s390x", "aarch64", "remote", "nvidia-gpu"] {
        assert!(text.contains(p), "{text}");
        let show = run(&["profiles", "show", p]);
        assert!(show.status.success());
        assert!(String::from_utf8_lossy(&show.stdout).contains("shims:"));
    }
}

#[test]
fn probe_tee_labels_are_refused_where_nfd_manages_those_labels() {
    let out = run(&[
        "render",
        "--profile",
        "x86_64",
        "--set",
        "probe.enabled=true,probe.teeLabels=true",
        "--assume-nfd",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("probe.teeLabels") && e.contains("fix: --set probe.teeLabels=false"),
        "{e}"
    );
}

#[test]
fn the_probe_pod_says_why_it_needs_each_privilege() {
    let out = run(&[
        "render",
        "--profile",
        "x86_64",
        "--set",
        "probe.enabled=true",
        "-o",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ds = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "DaemonSet" && o["metadata"]["name"] == "cococtl-probe")
        .expect("the probe DaemonSet");
    let pod = &ds["spec"]["template"];
    let why = pod["metadata"]["annotations"]["cococtl.confidentialcontainers.org/privileges"]
        .as_str()
        .unwrap();
    let c = &pod["spec"]["containers"][0];
    // Every privilege it has is explained, and it has no others.
    assert_eq!(c["securityContext"]["privileged"], true);
    assert!(why.contains("privileged:") && why.contains("/dev/kvm"));
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    // Every mount is read-only and explained: the host path, and where the pod sees it.
    let volumes = pod["spec"]["volumes"].as_array().unwrap();
    for m in c["volumeMounts"].as_array().unwrap() {
        assert_eq!(m["readOnly"], true, "{m}");
        let host = volumes
            .iter()
            .find(|v| v["name"] == m["name"])
            .and_then(|v| v["hostPath"]["path"].as_str())
            .unwrap_or_else(|| panic!("no hostPath volume for {m}"));
        let at = m["mountPath"].as_str().unwrap();
        let explained = why.lines().any(|l| {
            l.starts_with("hostPath ") && l.contains(host) && (at == host || l.contains(at))
        });
        assert!(explained, "{host} at {at}:\n{why}");
    }
    for k in ["hostPID", "hostNetwork", "hostIPC"] {
        assert!(pod["spec"].get(k).is_none(), "{k}");
    }
    assert_eq!(
        c["command"].as_array().unwrap()[..4],
        ["/cococtl", "node", "probe", "--publish"].map(serde_json::Value::from)
    );
    // Without teeLabels the RuntimeClasses select no NFD label.
    let snp = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "RuntimeClass" && o["metadata"]["name"] == "kata-qemu-snp")
        .unwrap();
    assert!(snp["scheduling"]["nodeSelector"]
        .get("amd.feature.node.kubernetes.io/snp")
        .is_none());
}
