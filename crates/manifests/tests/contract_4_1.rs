//! The kata-deploy 4.1.0 contract (docs/kata-deploy-contract.md#objects), one rule per test.

use std::collections::BTreeMap;

use cococtl_core::Arch;
use cococtl_manifests::kata_4_1::{env, volumes};
use cococtl_manifests::{plan, ClusterFacts, Object};
use cococtl_profile::{builtin, resolve, Config, Inputs, SetArg};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::node::v1::RuntimeClass;

/// The kata-deploy objects of a profile; peer pods (on in `remote`, which names no
/// provider) are off here and covered by `peerpods.rs`.
fn config(profile: &str, sets: &[&str]) -> Config {
    let i = Inputs {
        profile: Some((profile.into(), builtin::source(profile).unwrap().into())),
        sets: std::iter::once(&"peerpods.enabled=false")
            .chain(sets)
            .map(|s| SetArg {
                string: false,
                arg: s.to_string(),
            })
            .collect(),
        namespace: "coco-system".into(),
        ..Default::default()
    };
    resolve(&i).unwrap_or_else(|e| panic!("{e}")).config
}

fn env_of(c: &Config) -> BTreeMap<String, String> {
    env::env(c)
        .into_iter()
        .map(|e| (e.name, e.value.unwrap_or_default()))
        .collect()
}

fn daemonsets(c: &Config) -> Vec<DaemonSet> {
    plan(c, ClusterFacts::default())
        .install()
        .filter_map(Object::decode::<DaemonSet>)
        .map(Result::unwrap)
        .collect()
}

fn kata_daemonset(c: &Config) -> DaemonSet {
    daemonsets(c)
        .into_iter()
        .find(|d| d.metadata.name.as_deref() == Some(&c.base_name()))
        .unwrap()
}

fn runtime_classes(c: &Config, facts: ClusterFacts) -> Vec<RuntimeClass> {
    plan(c, facts)
        .install()
        .filter_map(Object::decode::<RuntimeClass>)
        .map(Result::unwrap)
        .collect()
}

#[test]
fn shims_are_space_separated_sorted_and_per_arch() {
    let c = config(
        "x86_64",
        &[
            "shims.qemu-coco-dev.supportedArches={amd64,s390x}",
            "defaultShim.s390x=qemu-coco-dev",
        ],
    );
    let e = env_of(&c);
    assert_eq!(
        e["SHIMS_X86_64"],
        "qemu-coco-dev qemu-nvidia-gpu-snp qemu-nvidia-gpu-tdx qemu-snp qemu-tdx"
    );
    assert_eq!(e["SHIMS_S390X"], "qemu-coco-dev");
    assert!(
        !e.contains_key("SHIMS_AARCH64"),
        "an arch without shims gets no variable"
    );
    assert!(
        !e.contains_key("SHIMS"),
        "the unsuffixed variable is never read by 4.1.0 (docs/kata-deploy-contract.md#g3)"
    );
}

#[test]
fn default_shim_is_emitted_only_when_enabled_for_that_arch() {
    let c = config("x86_64", &["defaultShim.s390x=qemu-se"]);
    let e = env_of(&c);
    assert_eq!(e["DEFAULT_SHIM_X86_64"], "qemu-coco-dev");
    assert!(!e.contains_key("DEFAULT_SHIM_S390X"));
}

#[test]
fn snapshotter_and_pull_type_mappings_are_comma_separated_pairs() {
    let e = env_of(&config("s390x", &[]));
    assert_eq!(
        e["SNAPSHOTTER_HANDLER_MAPPING_S390X"],
        "qemu-coco-dev:nydus,qemu-se:nydus"
    );
    assert_eq!(
        e["PULL_TYPE_MAPPING_S390X"],
        "qemu-coco-dev:guest-pull,qemu-se:guest-pull"
    );
}

#[test]
fn hypervisor_annotations_are_space_separated_entries_of_comma_lists() {
    let c = config(
        "x86_64",
        &[
            "shims.qemu-snp.allowedHypervisorAnnotations={default_memory,default_vcpus}",
            "shims.qemu-tdx.allowedHypervisorAnnotations={kernel_params}",
        ],
    );
    assert_eq!(
        env_of(&c)["ALLOWED_HYPERVISOR_ANNOTATIONS_X86_64"],
        "qemu-snp:default_memory,default_vcpus qemu-tdx:kernel_params"
    );
}

#[test]
fn agent_proxies_are_semicolon_joined_shim_equals_value_and_not_per_arch() {
    let c = config(
        "x86_64",
        &[
            "shims.qemu-snp.agent.httpsProxy=http://p:3128",
            "shims.qemu-tdx.agent.httpsProxy=http://q:3128",
        ],
    );
    let e = env_of(&c);
    assert_eq!(
        e["AGENT_HTTPS_PROXY"],
        "qemu-snp=http://p:3128;qemu-tdx=http://q:3128"
    );
    assert!(!e.contains_key("AGENT_HTTPS_PROXY_X86_64"));
    assert!(
        !e.contains_key("AGENT_NO_PROXY"),
        "empty proxies are omitted"
    );
}

#[test]
fn force_guest_pull_lists_only_containerd_force_not_crio_guest_pull() {
    let c = config(
        "x86_64",
        &[
            "shims.qemu-tdx.containerd.forceGuestPull=true",
            "shims.qemu-tdx.containerd.snapshotter=",
        ],
    );
    let e = env_of(&c);
    assert_eq!(e["EXPERIMENTAL_FORCE_GUEST_PULL_X86_64"], "qemu-tdx");
    assert!(e["PULL_TYPE_MAPPING_X86_64"].contains("qemu-tdx:guest-pull"));
    assert!(!e["SNAPSHOTTER_HANDLER_MAPPING_X86_64"].contains("qemu-tdx"));
}

#[test]
fn setup_snapshotter_is_comma_joined_and_omitted_when_empty() {
    let e = env_of(&config("x86_64", &["snapshotter.setup={nydus,erofs}"]));
    assert_eq!(e["EXPERIMENTAL_SETUP_SNAPSHOTTER"], "nydus,erofs");
    let e = env_of(&config(
        "nvidia-gpu",
        &[
            "snapshotter.setup=null",
            "shims.qemu-nvidia-gpu-snp.enabled=false",
            "shims.qemu-nvidia-gpu-tdx.enabled=false",
        ],
    ));
    assert!(!e.contains_key("EXPERIMENTAL_SETUP_SNAPSHOTTER"));
}

#[test]
fn prefix_and_suffix_are_always_present_even_empty() {
    let e = env_of(&config("x86_64", &[]));
    assert_eq!(e["INSTALLATION_PREFIX"], "");
    assert_eq!(e["MULTI_INSTALL_SUFFIX"], "");
}

#[test]
fn k8s_distribution_is_omitted_when_a_containerd_config_dir_is_given() {
    assert_eq!(
        env_of(&config("x86_64", &["k8sDistribution=k3s"]))["K8S_DISTRIBUTION"],
        "k3s"
    );
    let e = env_of(&config(
        "x86_64",
        &["containerd.configDir=/etc/custom/containerd/"],
    ));
    assert!(!e.contains_key("K8S_DISTRIBUTION"));
}

#[test]
fn erofs_and_devkit_and_startup_taints_follow_their_rules() {
    let e = env_of(&config(
        "x86_64",
        &[
            "snapshotter.erofsMergeMode=unmerged",
            "snapshotter.erofsDmverity=true",
            "debug=true",
            "devkit=true",
            "startupTaints={a:NoSchedule,b}",
        ],
    ));
    assert_eq!(e["EROFS_MERGE_MODE"], "unmerged");
    assert_eq!(e["EROFS_DMVERITY"], "dmverity");
    assert_eq!(e["DEVKIT"], "true");
    assert_eq!(e["STARTUP_TAINTS"], "a:NoSchedule,b");
    assert!(
        !env_of(&config("x86_64", &["devkit=true"])).contains_key("DEVKIT"),
        "devkit needs debug"
    );
}

#[test]
fn daemonset_name_env_equals_the_real_daemonset_name_with_a_suffix() {
    let c = config("x86_64", &["env.multiInstallSuffix=pr7"]);
    let ds = kata_daemonset(&c);
    assert_eq!(ds.metadata.name.as_deref(), Some("kata-deploy-pr7"));
    assert_eq!(env_of(&c)["DAEMONSET_NAME"], "kata-deploy-pr7");
    let spec = ds.spec.unwrap();
    assert_eq!(
        spec.selector.match_labels.unwrap()["name"],
        "kata-deploy-pr7"
    );
    assert_eq!(
        spec.template.spec.unwrap().service_account_name.as_deref(),
        Some("kata-deploy-sa-pr7")
    );
}

#[test]
fn log_level_comes_from_log_level_then_debug() {
    let cmd = |sets: &[&str]| {
        kata_daemonset(&config("x86_64", sets))
            .spec
            .unwrap()
            .template
            .spec
            .unwrap()
            .containers[0]
            .command
            .clone()
            .unwrap()
    };
    assert_eq!(cmd(&[]), ["/usr/bin/kata-deploy", "install"]);
    assert_eq!(
        cmd(&["debug=true"]),
        ["/usr/bin/kata-deploy", "--log-level", "debug", "install"]
    );
    assert_eq!(
        cmd(&["debug=true", "logLevel=warn"]),
        ["/usr/bin/kata-deploy", "--log-level", "warn", "install"]
    );
}

#[test]
fn containerd_conf_is_mounted_from_the_distribution_directory() {
    for (dist, dir) in [
        ("k8s", "/etc/containerd/"),
        ("k3s", "/var/lib/rancher/k3s/agent/etc/containerd/"),
        ("rke2", "/var/lib/rancher/rke2/agent/etc/containerd/"),
        ("k0s", "/etc/k0s/"),
        ("microk8s", "/var/snap/microk8s/current/args/"),
    ] {
        let c = config("x86_64", &[&format!("k8sDistribution={dist}")]);
        let v = volumes::volumes(&c);
        let conf = v.iter().find(|v| v.name == "containerd-conf").unwrap();
        assert_eq!(conf.host_path.as_ref().unwrap().path, dir, "{dist}");
    }
}

#[test]
fn install_dir_is_mounted_at_the_same_path_with_prefix_and_suffix() {
    let c = config(
        "x86_64",
        &[
            "env.installationPrefix=/var/lib/p",
            "env.multiInstallSuffix=x",
        ],
    );
    assert_eq!(volumes::install_dir(&c), "/var/lib/p/opt/kata-x");
    let m = volumes::volume_mounts(&c);
    assert!(m
        .iter()
        .any(|m| m.name == "kata-install" && m.mount_path == "/var/lib/p/opt/kata-x"));
}

#[test]
fn pod_runs_unprivileged_with_a_ten_minute_grace_period() {
    let spec = kata_daemonset(&config("x86_64", &[]))
        .spec
        .unwrap()
        .template
        .spec
        .unwrap();
    assert_eq!(spec.termination_grace_period_seconds, Some(600));
    let sc = spec.containers[0].security_context.clone().unwrap();
    assert_eq!(sc.privileged, Some(false));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(spec.host_pid, None);
}

#[test]
fn runtime_classes_carry_both_ownership_labels_and_the_overhead_table() {
    let rcs = runtime_classes(&config("x86_64", &[]), ClusterFacts::default());
    let snp = rcs.iter().find(|r| r.handler == "kata-qemu-snp").unwrap();
    let sel = snp.scheduling.clone().unwrap().node_selector.unwrap();
    assert_eq!(sel["katacontainers.io/kata-runtime"], "true");
    assert_eq!(sel["kata-deploy.katacontainers.io/default"], "true");
    assert_eq!(sel.len(), 2, "no TEE selector without NFD");
    let fixed = snp.overhead.clone().unwrap().pod_fixed.unwrap();
    assert_eq!(fixed["memory"].0, "2048Mi");
    assert_eq!(fixed["cpu"].0, "1.0");
}

#[test]
fn pure_tee_runtime_classes_get_nfd_selectors_only_when_nfd_is_detected() {
    let rcs = runtime_classes(&config("x86_64", &[]), ClusterFacts { nfd_detected: true });
    let sel = |h: &str| {
        rcs.iter()
            .find(|r| r.handler == h)
            .unwrap()
            .scheduling
            .clone()
            .unwrap()
            .node_selector
            .unwrap()
    };
    assert_eq!(
        sel("kata-qemu-tdx")["intel.feature.node.kubernetes.io/tdx"],
        "true"
    );
    assert_eq!(
        sel("kata-qemu-snp")["amd.feature.node.kubernetes.io/snp"],
        "true"
    );
    assert!(!sel("kata-qemu-coco-dev").contains_key("amd.feature.node.kubernetes.io/snp"));
    // GPU shims keep their values selector (GPU operator label + NFD label).
    assert_eq!(
        sel("kata-qemu-nvidia-gpu-tdx")["nvidia.com/cc.ready.state"],
        "true"
    );
}

#[test]
fn user_selector_cannot_drop_the_ownership_labels() {
    let c = config(
        "x86_64",
        &["shims.qemu-snp.runtimeClass.nodeSelector.katacontainers\\.io/kata-runtime=false"],
    );
    let rcs = runtime_classes(&c, ClusterFacts::default());
    let sel = rcs
        .iter()
        .find(|r| r.handler == "kata-qemu-snp")
        .unwrap()
        .scheduling
        .clone()
        .unwrap()
        .node_selector
        .unwrap();
    assert_eq!(sel["katacontainers.io/kata-runtime"], "true");
}

#[test]
fn overhead_override_merges_and_can_be_disabled() {
    let c = config(
        "x86_64",
        &[
            "shims.qemu-snp.runtimeClass.overhead.memory=4Gi",
            "shims.qemu-tdx.runtimeClass.overheadEnabled=false",
        ],
    );
    let rcs = runtime_classes(&c, ClusterFacts::default());
    let rc = |h: &str| rcs.iter().find(|r| r.handler == h).unwrap().clone();
    let snp = rc("kata-qemu-snp").overhead.unwrap().pod_fixed.unwrap();
    assert_eq!(
        (snp["memory"].0.as_str(), snp["cpu"].0.as_str()),
        ("4Gi", "1.0")
    );
    assert!(rc("kata-qemu-tdx").overhead.is_none());
}

#[test]
fn debug_adds_debug_variants_and_devkit_adds_devkit_variants() {
    let names = |sets: &[&str]| -> Vec<String> {
        runtime_classes(&config("s390x", sets), ClusterFacts::default())
            .into_iter()
            .map(|r| r.handler)
            .collect()
    };
    assert_eq!(names(&[]), ["kata-qemu-coco-dev", "kata-qemu-se"]);
    assert_eq!(
        names(&["debug=true", "devkit=true"]),
        [
            "kata-qemu-coco-dev",
            "kata-qemu-coco-dev-debug",
            "kata-qemu-coco-dev-devkit",
            "kata-qemu-se",
            "kata-qemu-se-debug",
            "kata-qemu-se-devkit"
        ]
    );
}

#[test]
fn default_alias_uses_the_amd64_default_and_is_skipped_with_a_suffix() {
    let rcs = runtime_classes(
        &config(
            "x86_64",
            &[
                "runtimeClasses.createDefault=true",
                "defaultShim.amd64=qemu-snp",
            ],
        ),
        ClusterFacts::default(),
    );
    let alias = rcs
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some("kata"))
        .unwrap();
    assert_eq!(alias.handler, "kata-qemu-snp");
    let rcs = runtime_classes(
        &config(
            "x86_64",
            &[
                "runtimeClasses.createDefault=true",
                "env.multiInstallSuffix=b",
            ],
        ),
        ClusterFacts::default(),
    );
    assert!(rcs
        .iter()
        .all(|r| r.metadata.name.as_deref() != Some("kata")));
}

#[test]
fn custom_containerd_makes_kata_deploy_wait_for_the_agents_ready_label_on_every_term() {
    let c = config(
        "x86_64",
        &[
            "customContainerd.enabled=true",
            "customContainerd.tarballUrls.amd64=https://e.com/c.tgz",
            "customContainerd.sha256s.amd64=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ],
    );
    let ds = daemonsets(&c);
    assert_eq!(ds.len(), 2, "agent DaemonSet and kata-deploy");
    let agent = &ds[0];
    assert_eq!(agent.metadata.name.as_deref(), Some("cococtl-containerd"));
    let kata = kata_daemonset(&c);
    let terms = kata
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .affinity
        .unwrap()
        .node_affinity
        .unwrap()
        .required_during_scheduling_ignored_during_execution
        .unwrap()
        .node_selector_terms;
    for t in terms {
        let exprs = t.match_expressions.unwrap();
        assert!(exprs
            .iter()
            .any(|e| e.key == cococtl_core::labels::CONTAINERD_STATE
                && e.values.as_deref() == Some(&["ready".to_string()][..])));
        assert!(
            exprs.iter().any(|e| e.key == "kubernetes.io/arch"),
            "the arch restriction is kept"
        );
    }
    let env: BTreeMap<_, _> = agent
        .spec
        .clone()
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers[0]
        .env
        .clone()
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.value.unwrap_or_default()))
        .collect();
    assert_eq!(
        env["COCOCTL_CONTAINERD_TARBALL_URL_AMD64"],
        "https://e.com/c.tgz"
    );
    assert_eq!(env["COCOCTL_CONTAINERD_MODE"], "side");
}

#[test]
fn objects_come_in_apply_order() {
    let c = config("x86_64", &[]);
    let plan = plan(&c, ClusterFacts::default());
    let kinds: Vec<&str> = plan.install().map(|o| o.kind()).collect();
    let rank = |k: &str| {
        [
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "DaemonSet",
            "RuntimeClass",
        ]
        .iter()
        .position(|x| *x == k)
        .unwrap()
    };
    let mut last = 0;
    for k in kinds {
        let r = rank(k);
        assert!(
            r >= last || (k == "ServiceAccount" && last <= 3),
            "{k} after rank {last}"
        );
        last = last.max(r);
    }
}

#[test]
fn every_profile_arch_with_shims_has_a_valid_default() {
    for name in builtin::names() {
        let c = config(name, &[]);
        for a in Arch::ALL {
            if c.shims_for(a).next().is_some() {
                assert!(c.default_shim_for(a).is_some(), "{name} {a}");
            }
        }
    }
}

fn state_config_maps(c: &Config) -> Vec<k8s_openapi::api::core::v1::ConfigMap> {
    plan(c, ClusterFacts::default())
        .install()
        .filter_map(Object::decode::<k8s_openapi::api::core::v1::ConfigMap>)
        .map(Result::unwrap)
        .filter(|m| {
            m.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.ends_with("-kata-deploy-state"))
        })
        .collect()
}

#[test]
fn each_instance_records_its_suffix_in_a_state_config_map_of_its_own() {
    let suffixes = ["", "teamb", "teamc", "a", "x-1"];
    let mut names = std::collections::BTreeSet::new();
    for sfx in suffixes {
        let c = config("x86_64", &[&format!("env.multiInstallSuffix={sfx}")]);
        let maps = state_config_maps(&c);
        assert_eq!(maps.len(), 1, "{sfx:?}");
        let name = maps[0].metadata.name.clone().unwrap();
        assert_eq!(
            name,
            cococtl_manifests::kata_4_1::names::state_config_map(&c)
        );
        assert!(name.len() <= 63, "{name}");
        assert_eq!(
            maps[0].data.as_ref().unwrap()["multiInstallSuffix"],
            sfx,
            "{name}"
        );
        assert!(names.insert(name.clone()), "{name} shared by two instances");
    }
    // The default instance keeps the name earlier releases wrote.
    let c = config("x86_64", &[]);
    assert_eq!(
        state_config_maps(&c)[0].metadata.name.as_deref(),
        Some("cococtl-kata-deploy-state")
    );
    let c = config("x86_64", &["env.multiInstallSuffix=teamb"]);
    assert_eq!(
        state_config_maps(&c)[0].metadata.name.as_deref(),
        Some("cococtl-teamb-kata-deploy-state")
    );
}

#[test]
fn health_port_and_probe_timings_reach_the_env_and_every_probe() {
    let c = config(
        "x86_64",
        &["health.port=9100,health.startupProbe.failureThreshold=120,health.startupProbe.periodSeconds=5,health.readinessProbe.timeoutSeconds=7,health.livenessProbe.initialDelaySeconds=4"],
    );
    assert_eq!(env_of(&c)["HEALTH_PORT"], "9100");
    let ds = kata_daemonset(&c);
    let k = &ds.spec.unwrap().template.spec.unwrap().containers[0];
    let probes = [
        k.startup_probe.clone().unwrap(),
        k.liveness_probe.clone().unwrap(),
        k.readiness_probe.clone().unwrap(),
    ];
    for p in &probes {
        assert_eq!(
            p.http_get.as_ref().unwrap().port,
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(9100)
        );
    }
    assert_eq!(probes[0].failure_threshold, Some(120));
    assert_eq!(probes[0].period_seconds, Some(5));
    assert_eq!(probes[0].initial_delay_seconds, Some(1));
    assert_eq!(probes[1].initial_delay_seconds, Some(4));
    assert_eq!(probes[2].timeout_seconds, Some(7));
    // The chart's defaults, unchanged when nothing is set.
    let k = kata_daemonset(&config("x86_64", &[]))
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers[0]
        .clone();
    let s = k.startup_probe.unwrap();
    assert_eq!(
        (
            s.initial_delay_seconds,
            s.period_seconds,
            s.failure_threshold,
            s.timeout_seconds
        ),
        (Some(1), Some(10), Some(60), Some(3))
    );
    assert_eq!(env_of(&config("x86_64", &[]))["HEALTH_PORT"], "8090");
}

#[test]
fn a_disabled_liveness_probe_is_dropped_a_deliberate_deviation_from_the_chart() {
    let c = config("x86_64", &["health.livenessProbe.enabled=false"]);
    let k = kata_daemonset(&c)
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers[0]
        .clone();
    assert!(k.liveness_probe.is_none());
    assert!(k.startup_probe.is_some() && k.readiness_probe.is_some());
}

#[test]
fn a_shims_overhead_enabled_wins_over_the_global_setting_either_way() {
    let on_for_one = config(
        "x86_64",
        &["runtimeClasses.overheadEnabled=false,shims.qemu-nvidia-gpu-snp.runtimeClass.overheadEnabled=true"],
    );
    for rc in runtime_classes(&on_for_one, ClusterFacts::default()) {
        let name = rc.metadata.name.clone().unwrap();
        if name == "kata-qemu-nvidia-gpu-snp" {
            let fixed = rc.overhead.unwrap().pod_fixed.unwrap();
            assert_eq!(fixed["cpu"].0, "1.0");
            assert_eq!(fixed["memory"].0, "10240Mi");
        } else {
            assert!(rc.overhead.is_none(), "{name}");
        }
    }
    let off_for_one = config(
        "x86_64",
        &["shims.qemu-snp.runtimeClass.overheadEnabled=false"],
    );
    for rc in runtime_classes(&off_for_one, ClusterFacts::default()) {
        let name = rc.metadata.name.clone().unwrap();
        assert_eq!(rc.overhead.is_none(), name == "kata-qemu-snp", "{name}");
    }
}

#[test]
fn the_global_proxy_reaches_every_enabled_shims_agent_and_a_shims_own_wins() {
    let c = config(
        "x86_64",
        &[
            "proxy.httpsProxy=http://p:3128",
            "proxy.noProxy=.svc",
            "shims.qemu-tdx.agent.httpsProxy=http://q:3128",
        ],
    );
    let e = env_of(&c);
    let expected_https: Vec<String> = c
        .shims
        .iter()
        .map(|s| {
            let p = if s.name() == "qemu-tdx" {
                "http://q:3128"
            } else {
                "http://p:3128"
            };
            format!("{}={p}", s.name())
        })
        .collect();
    assert_eq!(e["AGENT_HTTPS_PROXY"], expected_https.join(";"));
    let expected_no: Vec<String> = c
        .shims
        .iter()
        .map(|s| format!("{}=.svc", s.name()))
        .collect();
    assert_eq!(e["AGENT_NO_PROXY"], expected_no.join(";"));
    assert!(e["AGENT_HTTPS_PROXY"].contains("qemu-snp=http://p:3128"));
}

fn overhead_of(rc: &RuntimeClass) -> BTreeMap<String, String> {
    rc.overhead
        .as_ref()
        .and_then(|o| o.pod_fixed.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|(k, q)| (k, q.0))
        .collect()
}

#[test]
fn the_node_feature_rule_and_the_tee_keys_come_together_and_only_for_true() {
    let kinds = |c: &Config| -> Vec<String> {
        plan(c, ClusterFacts::default())
            .install()
            .filter(|o| o.kind() == "NodeFeatureRule")
            .map(|o| o.name().unwrap_or("").to_string())
            .collect()
    };
    let snp = |c: &Config| {
        runtime_classes(c, ClusterFacts::default())
            .into_iter()
            .find(|r| r.metadata.name.as_deref() == Some("kata-qemu-snp"))
            .unwrap()
    };
    // `auto` (the default) renders nothing offline, even where NFD is assumed.
    for c in [
        config("x86_64", &[]),
        config("x86_64", &["nodeFeatureRules.create=false"]),
    ] {
        assert!(kinds(&c).is_empty());
        assert!(!overhead_of(&snp(&c)).contains_key("sev-snp.amd.com/esids"));
    }
    let on = config("x86_64", &["nodeFeatureRules.create=true"]);
    assert_eq!(kinds(&on), ["kata-tee-keys"]);
    assert_eq!(overhead_of(&snp(&on))["sev-snp.amd.com/esids"], "1");
    let tdx = runtime_classes(&on, ClusterFacts::default())
        .into_iter()
        .find(|r| r.metadata.name.as_deref() == Some("kata-qemu-tdx"))
        .unwrap();
    assert_eq!(overhead_of(&tdx)["tdx.intel.com/keys"], "1");
    assert!(!overhead_of(&tdx).contains_key("sev-snp.amd.com/esids"));
    // The keys stay when the overhead is off: the scheduler must still count them.
    let off = config(
        "x86_64",
        &[
            "nodeFeatureRules.create=true",
            "runtimeClasses.overheadEnabled=false",
        ],
    );
    assert_eq!(
        overhead_of(&snp(&off)),
        BTreeMap::from([("sev-snp.amd.com/esids".to_string(), "1".to_string())])
    );
    let sfx = config(
        "x86_64",
        &[
            "nodeFeatureRules.create=true",
            "env.multiInstallSuffix=blue",
        ],
    );
    assert_eq!(kinds(&sfx), ["kata-tee-keys-blue"]);
}

#[test]
fn an_installer_settles_auto_against_the_cluster() {
    use cococtl_profile::config::NodeFeatureRules;
    let mut c = config("x86_64", &[]);
    assert_eq!(c.node_feature_rules, NodeFeatureRules::Auto);
    assert!(!c.node_feature_rules.active());
    c.node_feature_rules = c.node_feature_rules.resolved(true);
    assert!(plan(&c, ClusterFacts::default())
        .install()
        .any(|o| o.kind() == "NodeFeatureRule"));
    assert_eq!(
        NodeFeatureRules::Auto.resolved(false),
        NodeFeatureRules::Off
    );
    assert_eq!(NodeFeatureRules::Off.resolved(true), NodeFeatureRules::Off);
    assert_eq!(NodeFeatureRules::On.resolved(false), NodeFeatureRules::On);
}

#[test]
fn kata_monitor_talks_to_the_distributions_socket_unless_told_otherwise() {
    let monitor = |sets: &[&str]| {
        let mut s = vec!["monitor.enabled=true"];
        s.extend(sets);
        daemonsets(&config("x86_64", &s))
            .into_iter()
            .find(|d| d.metadata.name.as_deref() == Some("kata-monitor"))
            .unwrap()
    };
    let args_and_dir = |d: &DaemonSet| {
        let spec = d.spec.clone().unwrap().template.spec.unwrap();
        let ctr = &spec.containers[0];
        let dir = spec.volumes.unwrap()[0].host_path.clone().unwrap().path;
        (ctr.args.clone().unwrap(), dir)
    };
    let (args, dir) = args_and_dir(&monitor(&[]));
    assert_eq!(
        args,
        [
            "-listen-address=0.0.0.0:8090",
            "-log-level=info",
            "-runtime-endpoint=unix:///run/containerd/containerd.sock"
        ]
    );
    assert_eq!(dir, "/run/containerd");
    let (args, dir) = args_and_dir(&monitor(&["k8sDistribution=k0s", "debug=true"]));
    assert_eq!(args[1], "-log-level=debug");
    assert_eq!(args[2], "-runtime-endpoint=unix:///run/k0s/containerd.sock");
    assert_eq!(dir, "/run/k0s");
    let (args, dir) = args_and_dir(&monitor(&[
        "containerd.runtimeSocket=unix:///run/a/c.sock",
        "logLevel=warn",
    ]));
    assert_eq!(args[1], "-log-level=warn");
    assert_eq!(dir, "/run/a");
    let (args, _) = args_and_dir(&monitor(&[
        "containerd.runtimeSocket=unix:///run/a/c.sock",
        "monitor.runtimeEndpoint=unix:///run/b/c.sock",
        "monitor.logLevel=error",
    ]));
    assert_eq!(args[1], "-log-level=error");
    assert_eq!(args[2], "-runtime-endpoint=unix:///run/b/c.sock");
    // Off: no monitor at all.
    assert!(!daemonsets(&config("x86_64", &[]))
        .iter()
        .any(|d| d.metadata.name.as_deref() == Some("kata-monitor")));
}
