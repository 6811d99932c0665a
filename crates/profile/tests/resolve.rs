//! Values → Config behaviour: layering, CoCo-chart translation, validation messages.

use cococtl_core::Arch;
use cococtl_profile::{builtin, resolve, Inputs, SetArg};

fn inputs(profile: &str) -> Inputs {
    Inputs {
        profile: Some((profile.into(), builtin::source(profile).unwrap().into())),
        namespace: "coco-system".into(),
        ..Default::default()
    }
}

fn with_sets(mut i: Inputs, sets: &[&str]) -> Inputs {
    i.sets = sets
        .iter()
        .map(|s| SetArg {
            string: false,
            arg: s.to_string(),
        })
        .collect();
    i
}

fn with_file(mut i: Inputs, name: &str, text: &str) -> Inputs {
    i.files.push((name.into(), text.into()));
    i
}

fn errors(i: &Inputs) -> String {
    match resolve(i) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("expected an error"),
    }
}

#[test]
fn every_builtin_profile_resolves_without_warnings() {
    for name in builtin::names() {
        // `remote` turns peer pods on and names no provider: give it a complete one.
        let i = if name == "remote" {
            with_sets(inputs(name), &["peerpods.provider=aws,peerpods.providerConfigs.aws.PODVM_AMI_ID=ami-0123,peerpods.secrets.mode=reference,peerpods.secrets.existingSecretName=peer-pods-secret"])
        } else {
            inputs(name)
        };
        let r = resolve(&i).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(r.warnings.is_empty(), "{name}: {:?}", r.warnings);
        assert!(!r.config.shims.is_empty());
    }
}

#[test]
fn x86_64_profile_schedules_on_amd64_only_with_a_valid_default() {
    let c = resolve(&inputs("x86_64")).unwrap().config;
    assert_eq!(c.schedulable_arches, [Arch::Amd64]);
    assert_eq!(c.default_shim_for(Arch::Amd64), Some("qemu-coco-dev"));
    assert_eq!(c.image, "quay.io/kata-containers/kata-deploy:4.1.0");
}

#[test]
fn set_overrides_file_which_overrides_profile() {
    let i = with_file(inputs("x86_64"), "a.yaml", "debug: true\nlogLevel: info\n");
    let i = with_sets(i, &["logLevel=trace"]);
    let c = resolve(&i).unwrap().config;
    assert!(c.debug);
    assert_eq!(c.log_level.as_deref(), Some("trace"));
}

#[test]
fn default_shim_not_enabled_names_the_key_the_source_and_the_fix() {
    let i = with_sets(inputs("x86_64"), &["defaultShim.amd64=qemu-se"]);
    let e = errors(&i);
    assert!(
        e.contains("defaultShim.amd64 (from --set 'defaultShim.amd64=qemu-se')"),
        "{e}"
    );
    assert!(
        e.contains("fix: --set defaultShim.amd64=qemu-coco-dev"),
        "{e}"
    );
}

#[test]
fn unknown_shim_is_refused_with_a_suggestion() {
    let e = errors(&with_sets(
        inputs("x86_64"),
        &["shims.qemu-snpp.enabled=true"],
    ));
    assert!(e.contains("did you mean `qemu-snp`?"), "{e}");
}

#[test]
fn empty_shim_list_on_a_schedulable_arch_is_refused() {
    let e = errors(&with_sets(inputs("x86_64"), &["affinity=null"]));
    assert!(
        e.contains("may run on arm64 nodes, but no shim is enabled for arm64"),
        "{e}"
    );
}

#[test]
fn unsupported_kata_version_lists_the_supported_ones() {
    let mut i = inputs("x86_64");
    i.kata_version = Some("3.22.0".into());
    let e = errors(&i);
    assert!(e.contains("supported: 4.1.0"), "{e}");
}

#[test]
fn unknown_key_warns_with_did_you_mean() {
    let r = resolve(&with_file(
        inputs("x86_64"),
        "site.yaml",
        "imagePullPolcy: Never\n",
    ))
    .unwrap();
    assert_eq!(r.warnings.len(), 1);
    let w = r.warnings[0].to_string();
    assert!(
        w.contains("imagePullPolcy (from -f site.yaml)") && w.contains("`imagePullPolicy`"),
        "{w}"
    );
}

#[test]
fn nydus_mapping_without_nydus_setup_is_refused() {
    let e = errors(&with_sets(inputs("x86_64"), &["snapshotter.setup=null"]));
    assert!(
        e.contains("shims.qemu-coco-dev.containerd.snapshotter")
            && e.contains("docs/kata-deploy-contract.md#g7"),
        "{e}"
    );
}

fn erofs_with(mode: Option<&str>, shims: &[&str]) -> Inputs {
    let mut sets = vec!["snapshotter.setup={nydus,erofs}".to_string()];
    if let Some(m) = mode {
        sets.push(format!("snapshotter.erofsMergeMode={m}"));
    }
    for s in shims {
        sets.push(format!(
            "shims.{s}.enabled=true,shims.{s}.containerd.snapshotter=erofs"
        ));
    }
    let refs: Vec<&str> = sets.iter().map(String::as_str).collect();
    with_sets(inputs("x86_64"), &refs)
}

#[test]
fn merged_erofs_with_a_go_shim_is_refused_naming_the_rule_the_shims_and_the_fix() {
    for mode in [None, Some("merged")] {
        let e = errors(&erofs_with(mode, &["qemu-tdx", "qemu-snp"]));
        assert!(e.contains("snapshotter.erofsMergeMode"), "{e}");
        assert!(e.contains("qemu-snp, qemu-tdx"), "{mode:?}: {e}");
        assert!(e.contains("docs/kata-deploy-contract.md#g22"), "{e}");
        assert!(
            e.contains(
                "fix: --set snapshotter.erofsMergeMode=unmerged, or use the runtime-rs shim"
            ),
            "{e}"
        );
    }
}

#[test]
fn unmerged_erofs_or_runtime_rs_shims_on_erofs_are_accepted() {
    resolve(&erofs_with(Some("unmerged"), &["qemu-tdx"])).unwrap();
    let r = resolve(&erofs_with(None, &["qemu-tdx-runtime-rs"]));
    r.unwrap();
    let r = resolve(&erofs_with(Some("merged"), &["qemu-snp-runtime-rs"]));
    r.unwrap();
}

#[test]
fn extra_keys_in_a_shims_runtime_class_node_selector_are_not_warned_about() {
    let r = resolve(&with_file(
        inputs("x86_64"),
        "site.yaml",
        "shims:\n  qemu-nvidia-gpu-snp:\n    runtimeClass:\n      nodeSelector:\n        site.example.com/rack: a\n",
    ))
    .unwrap();
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let s = r
        .config
        .shims
        .iter()
        .find(|s| s.name() == "qemu-nvidia-gpu-snp")
        .unwrap();
    assert_eq!(s.node_selector["site.example.com/rack"], "a");
}

#[test]
fn a_health_port_out_of_range_is_refused_naming_the_key() {
    let e = errors(&with_sets(inputs("x86_64"), &["health.port=70000"]));
    assert!(
        e.starts_with("health.port (from --set 'health.port=70000'): `70000` is not a TCP port"),
        "{e}"
    );
}

#[test]
fn node_feature_rules_auto_given_explicitly_notes_that_an_install_resolves_it() {
    let i = with_file(
        inputs("x86_64"),
        "nfr.yaml",
        "nodeFeatureRules:\n  create: auto\n",
    );
    let r = resolve(&i).unwrap();
    assert!(
        r.warnings
            .iter()
            .any(|w| w.path == "nodeFeatureRules.create"
                && w.message.contains("resolves it on the cluster")),
        "{:?}",
        r.warnings
    );
    // The default says nothing.
    assert!(resolve(&inputs("x86_64")).unwrap().warnings.is_empty());
    let e = errors(&with_sets(
        inputs("x86_64"),
        &["nodeFeatureRules.create=true,probe.enabled=true,probe.teeLabels=true"],
    ));
    assert!(
        e.contains("probe.teeLabels") && e.contains("nodeFeatureRules.create"),
        "{e}"
    );
}
