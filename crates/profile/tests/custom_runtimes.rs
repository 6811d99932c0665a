//! `customRuntimes.*` (docs/values.md#customruntimes): what a valid runtime becomes, and a
//! refusal naming the key path and the fix for each kind of bad input.

use cococtl_profile::{builtin, resolve, Inputs};

fn inputs(values: &str) -> Inputs {
    Inputs {
        profile: Some(("x86_64".into(), builtin::source("x86_64").unwrap().into())),
        files: vec![("custom.yaml".into(), values.into())],
        namespace: "coco-system".into(),
        ..Default::default()
    }
}

/// A values file with one runtime `my-rt`, its entry's lines given indented by 6.
fn one_runtime(entry: &str) -> String {
    format!("customRuntimes:\n  enabled: true\n  runtimes:\n    my-rt:\n{entry}")
}

const CLASS: &str = "      runtimeClass: |\n        apiVersion: node.k8s.io/v1\n        kind: RuntimeClass\n        metadata:\n          name: kata-my-rt\n        handler: kata-my-rt\n";

fn refused(values: &str, wants: &[&str]) {
    let e = match resolve(&inputs(values)) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("accepted:\n{values}"),
    };
    for w in wants {
        assert!(e.contains(w), "`{w}` not in:\n{e}\nfor:\n{values}");
    }
    assert!(e.contains("fix"), "no fix in:\n{e}");
}

#[test]
fn a_valid_runtime_keeps_its_class_handler_and_settings() {
    let v = one_runtime(&format!(
        "      baseConfig: qemu-snp\n      containerd:\n        snapshotter: nydus\n{CLASS}"
    ));
    let r = resolve(&inputs(&v)).unwrap();
    let rt = &r.config.custom_runtimes[0];
    assert_eq!(rt.handler, "kata-my-rt");
    assert_eq!(rt.base.name, "qemu-snp");
    assert_eq!(rt.snapshotter, "nydus");
    assert!(
        rt.inherit_base_overhead,
        "inheritBaseOverhead defaults to true"
    );
    assert_eq!(
        rt.runtime_class.metadata.name.as_deref(),
        Some("kata-my-rt")
    );
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn a_disabled_section_renders_nothing() {
    let v = one_runtime(&format!("      baseConfig: qemu-snp\n{CLASS}"))
        .replace("enabled: true", "enabled: false");
    let r = resolve(&inputs(&v)).unwrap();
    assert!(r.config.custom_runtimes.is_empty());
    assert!(r.warnings.iter().any(|w| w.message.contains("no effect")));
}

#[test]
fn base_config_is_required_and_must_be_a_catalog_shim() {
    refused(
        &one_runtime(CLASS),
        &["customRuntimes.runtimes.my-rt.baseConfig", "is required"],
    );
    refused(
        &one_runtime(&format!("      baseConfig: qemu-snpp\n{CLASS}")),
        &[
            "customRuntimes.runtimes.my-rt.baseConfig",
            "not a kata-deploy 4.1.0 shim",
            "did you mean `qemu-snp`",
        ],
    );
}

#[test]
fn the_runtime_class_is_required_and_must_parse_as_a_runtime_class() {
    refused(
        &one_runtime("      baseConfig: qemu-snp\n"),
        &["customRuntimes.runtimes.my-rt.runtimeClass", "is required"],
    );
    refused(
        &one_runtime("      baseConfig: qemu-snp\n      runtimeClass: \"handler: [x\"\n"),
        &[
            "customRuntimes.runtimes.my-rt.runtimeClass",
            "does not parse as a node.k8s.io/v1 RuntimeClass",
        ],
    );
    refused(
        &one_runtime(
            &format!("      baseConfig: qemu-snp\n{CLASS}")
                .replace("kind: RuntimeClass", "kind: Pod"),
        ),
        &[
            "customRuntimes.runtimes.my-rt.runtimeClass",
            "does not parse as a node.k8s.io/v1 RuntimeClass",
        ],
    );
    refused(
        &one_runtime(
            &format!("      baseConfig: qemu-snp\n{CLASS}")
                .replace("        metadata:\n          name: kata-my-rt\n", ""),
        ),
        &[
            "customRuntimes.runtimes.my-rt.runtimeClass",
            "metadata.name",
        ],
    );
}

#[test]
fn the_handler_must_be_a_valid_name_written_as_the_chart_reads_it() {
    refused(
        &one_runtime(
            &format!("      baseConfig: qemu-snp\n{CLASS}")
                .replace("handler: kata-my-rt", "handler: Kata_My_RT"),
        ),
        &[
            "customRuntimes.runtimes.my-rt.runtimeClass",
            "handler `Kata_My_RT`",
            "DNS-1123 label",
        ],
    );
    // Quoted: the chart's text scan would take the quotes into the handler.
    refused(
        &one_runtime(
            &format!("      baseConfig: qemu-snp\n{CLASS}")
                .replace("handler: kata-my-rt", "handler: \"kata-my-rt\""),
        ),
        &["customRuntimes.runtimes.my-rt.runtimeClass", "unquoted"],
    );
}

#[test]
fn a_builtin_runtime_class_name_is_never_taken_over() {
    for taken in ["kata-qemu-snp", "kata-qemu-tdx-debug", "qemu-snp"] {
        refused(
            &one_runtime(
                &format!("      baseConfig: qemu-snp\n{CLASS}").replace("kata-my-rt", taken),
            ),
            &[
                "customRuntimes.runtimes.my-rt.runtimeClass",
                "built-in shim",
            ],
        );
    }
    // A suffixed install must not take the names of the install without a suffix either.
    for taken in ["kata-qemu-snp", "kata-qemu-snp-blue"] {
        refused(
            &format!(
                "env:\n  multiInstallSuffix: blue\n{}",
                one_runtime(
                    &format!("      baseConfig: qemu-snp\n{CLASS}").replace("kata-my-rt", taken)
                )
            ),
            &[
                "customRuntimes.runtimes.my-rt.runtimeClass",
                "built-in shim",
            ],
        );
    }
}

#[test]
fn two_runtimes_cannot_share_a_handler() {
    let entry = format!("      baseConfig: qemu-snp\n{CLASS}");
    let v = format!(
        "{}    other-rt:\n{}",
        one_runtime(&entry),
        entry.replace("name: kata-my-rt", "name: kata-other")
    );
    refused(
        &v,
        &[
            "customRuntimes.runtimes.other-rt.runtimeClass",
            "already the handler of customRuntimes.runtimes.my-rt",
        ],
    );
}

#[test]
fn a_drop_in_that_is_not_toml_and_unknown_keys_are_refused() {
    refused(
        &one_runtime(&format!(
            "      baseConfig: qemu-snp\n      dropIn: \"[hypervisor.qemu\"\n{CLASS}"
        )),
        &["customRuntimes.runtimes.my-rt.dropIn", "is not valid TOML"],
    );
    refused(
        &one_runtime(&format!("      baseconfig: qemu-snp\n{CLASS}")),
        &["customRuntimes.runtimes.my-rt", "baseconfig"],
    );
}

#[test]
fn a_snapshotter_must_be_set_up_and_the_pull_type_known() {
    refused(
        &one_runtime(&format!(
            "      baseConfig: qemu-snp\n      containerd:\n        snapshotter: erofs\n{CLASS}"
        )),
        &[
            "customRuntimes.runtimes.my-rt.containerd.snapshotter",
            "snapshotter.setup",
        ],
    );
    refused(
        &one_runtime(&format!(
            "      baseConfig: qemu-snp\n      crio:\n        pullType: lazy\n{CLASS}"
        )),
        &["customRuntimes.runtimes.my-rt.crio.pullType", "guest-pull"],
    );
    let erofs = |base: &str| {
        format!(
            "snapshotter:\n  setup: [nydus, erofs]\n{}",
            one_runtime(&format!(
                "      baseConfig: {base}\n      containerd:\n        snapshotter: erofs\n{CLASS}"
            ))
        )
    };
    refused(
        &erofs("qemu-snp"),
        &[
            "customRuntimes.runtimes.my-rt.containerd.snapshotter",
            "#g22",
        ],
    );
    assert!(resolve(&inputs(&erofs("qemu-snp-runtime-rs"))).is_ok());
}

#[test]
fn a_misspelt_section_key_is_refused_not_ignored() {
    let e = match resolve(&inputs("customRuntimes:\n  enabeld: true\n")) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("accepted"),
    };
    assert!(e.contains("customRuntimes") && e.contains("enabeld"), "{e}");
}
