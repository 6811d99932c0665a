//! Translation of the CoCo chart's values (`kata-as-coco-runtime.*`, flat `env.*`,
//! `architecture`) into kata-deploy 4.1.0 structured values, one rule per test.

use cococtl_core::Arch;
use cococtl_profile::{builtin, resolve, Config, Inputs};

fn resolve_file(text: &str) -> Result<(Config, Vec<String>), String> {
    let i = Inputs {
        profile: Some(("x86_64".into(), builtin::source("x86_64").unwrap().into())),
        files: vec![("coco.yaml".into(), text.into())],
        namespace: "coco-system".into(),
        ..Default::default()
    };
    resolve(&i)
        .map(|r| (r.config, r.warnings.iter().map(|w| w.to_string()).collect()))
        .map_err(|e| e.to_string())
}

fn enabled(c: &Config, arch: Arch) -> Vec<&str> {
    c.shims_for(arch).map(|s| s.name()).collect()
}

#[test]
fn flat_shim_list_is_exhaustive_and_disables_the_profiles_other_shims() {
    let (c, _) = resolve_file("kata-as-coco-runtime:\n  env:\n    shims: \"qemu-snp\"\n").unwrap();
    assert_eq!(enabled(&c, Arch::Amd64), ["qemu-snp"]);
}

#[test]
fn missing_default_shim_becomes_the_first_listed_shim_built_for_each_arch() {
    let (c, _) = resolve_file(
        "kata-as-coco-runtime:\n  env:\n    shims: \"qemu-tdx qemu-snp\"\n    defaultShim: \"\"\n",
    )
    .unwrap();
    assert_eq!(c.default_shim_for(Arch::Amd64), Some("qemu-tdx"));
}

#[test]
fn architecture_restricts_the_shims_and_the_daemonset_to_that_arch() {
    let (c, _) = resolve_file("architecture: s390x\nkata-as-coco-runtime:\n  env:\n    shims: \"qemu-coco-dev qemu-se\"\n").unwrap();
    assert_eq!(enabled(&c, Arch::S390x), ["qemu-coco-dev", "qemu-se"]);
    assert!(
        enabled(&c, Arch::Amd64).is_empty(),
        "qemu-coco-dev also builds for amd64, but architecture says s390x"
    );
    assert_eq!(c.schedulable_arches, [Arch::S390x]);
}

#[test]
fn mappings_become_per_shim_snapshotter_and_guest_pull() {
    let (c, _) = resolve_file(
        "kata-as-coco-runtime:\n  env:\n    shims: \"qemu-snp qemu-tdx\"\n    snapshotterHandlerMapping: \"qemu-snp:nydus\"\n    pullTypeMapping: \"qemu-tdx:guest-pull\"\n",
    )
    .unwrap();
    let shim = |n: &str| c.shims.iter().find(|s| s.name() == n).unwrap().clone();
    assert_eq!(shim("qemu-snp").snapshotter, "nydus");
    assert!(shim("qemu-tdx").crio_guest_pull);
}

#[test]
fn mapping_for_a_shim_not_in_the_list_is_refused_with_the_original_key() {
    let e = resolve_file("kata-as-coco-runtime:\n  env:\n    shims: \"qemu-snp\"\n    snapshotterHandlerMapping: \"qemu-tdx:nydus\"\n").unwrap_err();
    assert!(e.contains("kata-as-coco-runtime.env.snapshotterHandlerMapping (from -f coco.yaml): `qemu-tdx` is mapped but not in"), "{e}");
}

#[test]
fn malformed_mapping_entry_is_refused() {
    let e = resolve_file("kata-as-coco-runtime:\n  env:\n    shims: \"qemu-snp\"\n    snapshotterHandlerMapping: \"qemu-snp=nydus\"\n").unwrap_err();
    assert!(e.contains("is not `shim:value`"), "{e}");
}

#[test]
fn global_proxy_and_annotations_apply_to_every_listed_shim() {
    let (c, _) = resolve_file(
        "kata-as-coco-runtime:\n  env:\n    shims: \"qemu-snp qemu-tdx\"\n    agentHttpsProxy: \"http://p:3128\"\n    allowedHypervisorAnnotations: \"default_memory default_vcpus\"\n",
    )
    .unwrap();
    for s in &c.shims {
        assert_eq!(s.https_proxy, "http://p:3128");
        assert_eq!(
            s.allowed_hypervisor_annotations,
            ["default_memory", "default_vcpus"]
        );
    }
}

#[test]
fn force_guest_pull_and_setup_snapshotter_translate() {
    let (c, _) = resolve_file(
        "kata-as-coco-runtime:\n  env:\n    shims: \"qemu-coco-dev\"\n    _experimentalSetupSnapshotter: \"\"\n    _experimentalForceGuestPull: \"qemu-coco-dev\"\n    snapshotterHandlerMapping: \"\"\n",
    )
    .unwrap();
    assert!(c.snapshotter_setup.is_empty());
    let s = &c.shims[0];
    assert!(s.force_guest_pull);
    // The CoCo CI "force guest pull" variant: an empty mapping string clears the profile's.
    assert_eq!(s.snapshotter, "");
}

#[test]
fn absent_mapping_keeps_the_lower_layers_mapping() {
    let (c, _) = resolve_file("kata-as-coco-runtime:\n  env:\n    shims: \"qemu-snp\"\n").unwrap();
    assert_eq!(c.shims[0].snapshotter, "nydus");
}

#[test]
fn quoted_debug_is_a_boolean() {
    let (c, _) = resolve_file("kata-as-coco-runtime:\n  env:\n    debug: \"true\"\n").unwrap();
    assert!(c.debug);
}

#[test]
fn disabling_the_runtime_is_refused() {
    let e = resolve_file("kata-as-coco-runtime:\n  enabled: false\n").unwrap_err();
    assert!(e.contains("kata-as-coco-runtime.enabled"), "{e}");
}

#[test]
fn unknown_shim_in_the_flat_list_names_the_original_key() {
    let e = resolve_file("kata-as-coco-runtime:\n  env:\n    shims: \"qemu-sev\"\n").unwrap_err();
    assert!(e.contains("kata-as-coco-runtime.env.shims (from -f coco.yaml): `qemu-sev` is not a kata-deploy 4.1.0 shim"), "{e}");
}

#[test]
fn dead_and_unknown_env_keys_warn() {
    let (_, w) = resolve_file(
        "kata-as-coco-runtime:\n  env:\n    createRuntimeClasses: \"false\"\n    shimz: \"x\"\n",
    )
    .unwrap();
    assert!(
        w.iter()
            .any(|w| w.contains("createRuntimeClasses") && w.contains("ignored")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|w| w.contains("env.shimz") && w.contains("did you mean `shims`?")),
        "{w:?}"
    );
}

#[test]
fn anchors_merge_keys_and_ci_variant_are_understood() {
    let (c, w) = resolve_file(
        "_x: &x\n  shims: \"qemu-tdx\"\nkata-as-coco-runtime:\n  env:\n    <<: *x\nkata-as-coco-runtime-for-ci:\n  env:\n    <<: *x\n",
    )
    .unwrap();
    assert_eq!(enabled(&c, Arch::Amd64), ["qemu-tdx"]);
    assert!(w.is_empty(), "{w:?}");
}
