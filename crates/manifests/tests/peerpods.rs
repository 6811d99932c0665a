//! Peer-pods objects (docs/peerpods.md#objects): install order, the deliberate fixes, and
//! provider values surviving the ConfigMap exactly.

use cococtl_manifests::{plan, ClusterFacts, Object, Phase};
use cococtl_profile::{builtin, resolve, Config, Inputs, SetArg};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::ConfigMap;
use proptest::prelude::*;

const AWS: &str = "peerpods.provider=aws,peerpods.providerConfigs.aws.PODVM_AMI_ID=ami-1,peerpods.providerConfigs.aws.AWS_ROLE_ARN=arn:aws:iam::1:role/caa";

fn config(profile: &str, file: Option<String>, sets: &[&str]) -> Config {
    let i = Inputs {
        profile: Some((profile.into(), builtin::source(profile).unwrap().into())),
        files: file
            .map(|t| vec![("pp.yaml".into(), t)])
            .unwrap_or_default(),
        sets: sets
            .iter()
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

fn find<'a>(objects: &'a [&Object], kind: &str, name: &str) -> &'a Object {
    objects
        .iter()
        .find(|o| o.kind() == kind && o.name() == Some(name))
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

#[test]
fn install_order_is_crd_then_config_then_ctrl_webhook_configuration_caa_and_kata_deploy() {
    let c = config("remote", None, &[AWS]);
    let p = plan(&c, ClusterFacts::default());
    let order: Vec<(Phase, Vec<String>)> = p
        .steps(Phase::INSTALL)
        .map(|(ph, o)| (ph, o.iter().map(|o| o.kind().to_string()).collect()))
        .collect();
    let phases: Vec<Phase> = order.iter().map(|(p, _)| *p).collect();
    assert_eq!(
        phases,
        [
            Phase::Crds,
            Phase::Namespace,
            Phase::Rbac,
            Phase::Config,
            Phase::PeerPodCtrl,
            Phase::Webhook,
            Phase::WebhookConfiguration,
            Phase::CloudApiAdaptor,
            Phase::Runtime,
            Phase::RuntimeClasses,
        ]
    );
    assert_eq!(order[0].1, ["CustomResourceDefinition"]);
    assert_eq!(
        order[5].1,
        ["Issuer", "Certificate", "Service", "Deployment"]
    );
    assert_eq!(order[6].1, ["MutatingWebhookConfiguration"]);
    assert_eq!(order[7].1, ["DaemonSet"]);
}

#[test]
fn peer_pods_off_renders_no_peer_pods_object() {
    let c = config("remote", None, &["peerpods.enabled=false"]);
    let p = plan(&c, ClusterFacts::default());
    assert!(p.objects(Phase::Crds).is_empty());
    assert!(p.objects(Phase::CloudApiAdaptor).is_empty());
    assert_eq!(p.install().count(), 7);
}

#[test]
fn images_are_pinned_to_the_release_and_not_always_pulled() {
    let c = config("remote", None, &[AWS]);
    let p = plan(&c, ClusterFacts::default());
    let objects: Vec<&Object> = p.install().collect();
    let ds: DaemonSet = find(&objects, "DaemonSet", "cloud-api-adaptor-daemonset")
        .decode()
        .unwrap()
        .unwrap();
    let con = &ds.spec.unwrap().template.spec.unwrap().containers[0];
    assert_eq!(
        con.image.as_deref(),
        Some("quay.io/confidential-containers/cloud-api-adaptor:61b1aba91df646a663e60ab6b55c6a7dc93cd167")
    );
    assert_eq!(con.image_pull_policy.as_deref(), Some("IfNotPresent"));
    for name in [
        "peerpodctrl-controller-manager",
        "peer-pods-webhook-controller-manager",
    ] {
        let d: Deployment = find(&objects, "Deployment", name)
            .decode()
            .unwrap()
            .unwrap();
        for c in d.spec.unwrap().template.spec.unwrap().containers {
            let image = c.image.unwrap();
            assert!(!image.ends_with(":latest"), "{name}: {image}");
            if c.name == "manager" {
                assert!(
                    image.ends_with(":61b1aba91df646a663e60ab6b55c6a7dc93cd167"),
                    "{name}: {image}"
                );
            }
        }
    }
}

#[test]
fn peerpod_ctrl_reads_the_secrets_caa_reads_in_reference_mode() {
    let c = config(
        "remote",
        None,
        &["peerpods.providerConfigs.libvirt.LIBVIRT_URI=qemu:///system,peerpods.image.tag=dev-abc,peerpods.secrets.mode=reference,peerpods.secrets.existingSecretName=my-creds,peerpods.secrets.existingSshKeySecretName=my-ssh"],
    );
    let p = plan(&c, ClusterFacts::default());
    let objects: Vec<&Object> = p.install().collect();
    assert!(!objects.iter().any(|o| o.kind() == "Secret"));
    let d: Deployment = find(&objects, "Deployment", "peerpodctrl-controller-manager")
        .decode()
        .unwrap()
        .unwrap();
    let spec = d.spec.unwrap().template.spec.unwrap();
    let manager = spec
        .containers
        .iter()
        .find(|c| c.name == "manager")
        .unwrap();
    let env_from = manager.env_from.as_ref().unwrap();
    assert_eq!(env_from[0].secret_ref.as_ref().unwrap().name, "my-creds");
    let vol = &spec.volumes.unwrap()[0];
    assert_eq!(
        vol.secret.as_ref().unwrap().secret_name.as_deref(),
        Some("my-ssh")
    );
    let ds: DaemonSet = find(&objects, "DaemonSet", "cloud-api-adaptor-daemonset")
        .decode()
        .unwrap()
        .unwrap();
    let caa = ds.spec.unwrap().template.spec.unwrap();
    assert_eq!(
        caa.containers[0].env_from.as_ref().unwrap()[0]
            .secret_ref
            .as_ref()
            .unwrap()
            .name,
        "my-creds"
    );
}

#[test]
fn the_limit_reaches_the_config_map() {
    let c = config("remote", None, &[AWS, "peerpods.limit=3"]);
    let p = plan(&c, ClusterFacts::default());
    let objects: Vec<&Object> = p.install().collect();
    let cm: ConfigMap = find(&objects, "ConfigMap", "peer-pods-cm")
        .decode()
        .unwrap()
        .unwrap();
    let data = cm.data.unwrap();
    assert_eq!(data["PEERPODS_LIMIT_PER_NODE"], "3");
    assert_eq!(data["CLOUD_PROVIDER"], "aws");
}

/// The ConfigMap value of `KEY` after a values file → render → print → parse round trip.
fn round_trip(value: &str) -> String {
    let mut cfg = serde_yaml::Mapping::new();
    cfg.insert("PODVM_AMI_ID".into(), "ami-1".into());
    cfg.insert("AWS_ROLE_ARN".into(), "arn".into());
    cfg.insert("TAGS".into(), value.into());
    let file = serde_yaml::to_string(&serde_yaml::Value::Mapping(
        [(
            "peerpods".into(),
            serde_yaml::Value::Mapping(
                [
                    ("provider".into(), "aws".into()),
                    (
                        "providerConfigs".into(),
                        serde_yaml::Value::Mapping(
                            [("aws".into(), serde_yaml::Value::Mapping(cfg))]
                                .into_iter()
                                .collect(),
                        ),
                    ),
                ]
                .into_iter()
                .collect(),
            ),
        )]
        .into_iter()
        .collect(),
    ))
    .unwrap();
    let c = config("remote", Some(file), &[]);
    let p = plan(&c, ClusterFacts::default());
    let objects: Vec<&Object> = p.install().collect();
    let printed = find(&objects, "ConfigMap", "peer-pods-cm").to_yaml();
    let back: serde_yaml::Value = serde_yaml::from_str(&printed).unwrap();
    assert_eq!(back["data"].as_mapping().unwrap().len(), 5, "{printed}");
    back["data"]["TAGS"].as_str().unwrap().to_string()
}

#[test]
fn a_value_with_a_quote_and_a_newline_cannot_inject_keys() {
    let evil = "x\"\nINJECTED: \"y";
    assert_eq!(round_trip(evil), evil);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn provider_values_come_out_as_the_same_strings(
        value in "[\"'\\\\\n\r\t :#{}\\[\\],&*!|>%@`a-zA-Z0-9é漢字🙂\u{2028}\u{2029}\u{85}\u{7f}\u{1b}-]{0,40}"
    ) {
        prop_assert_eq!(round_trip(&value), value);
    }
}

#[test]
fn libvirt_defaults_to_the_release_commits_dev_image() {
    let c = config(
        "remote",
        None,
        &["peerpods.providerConfigs.libvirt.LIBVIRT_URI=qemu:///system,peerpods.secrets.mode=reference,peerpods.secrets.existingSshKeySecretName=ssh-key-secret"],
    );
    let p = plan(&c, ClusterFacts::default());
    let objects: Vec<&Object> = p.install().collect();
    let ds: DaemonSet = find(&objects, "DaemonSet", "cloud-api-adaptor-daemonset")
        .decode()
        .unwrap()
        .unwrap();
    let con = &ds.spec.unwrap().template.spec.unwrap().containers[0];
    assert_eq!(
        con.image.as_deref(),
        Some("quay.io/confidential-containers/cloud-api-adaptor:61b1aba91df646a663e60ab6b55c6a7dc93cd167-dev")
    );
}

#[test]
fn the_released_chart_has_no_pod_uid_env_nor_node_annotation_patcher_and_webhook_ports_https_first()
{
    let c = config("remote", None, &[AWS]);
    let p = plan(&c, ClusterFacts::default());
    let objects: Vec<&Object> = p.install().collect();
    let ds: DaemonSet = find(&objects, "DaemonSet", "cloud-api-adaptor-daemonset")
        .decode()
        .unwrap()
        .unwrap();
    let con = &ds.spec.unwrap().template.spec.unwrap().containers[0];
    let env: Vec<&str> = con.env.iter().flatten().map(|e| e.name.as_str()).collect();
    assert_eq!(env, ["NODE_NAME"]);
    assert!(!objects
        .iter()
        .any(|o| o.name() == Some("node-annotation-patcher")));
    let d: Deployment = find(
        &objects,
        "Deployment",
        "peer-pods-webhook-controller-manager",
    )
    .decode()
    .unwrap()
    .unwrap();
    let ports: Vec<(Option<String>, i32)> = d.spec.unwrap().template.spec.unwrap().containers[0]
        .ports
        .iter()
        .flatten()
        .map(|p| (p.name.clone(), p.container_port))
        .collect();
    assert_eq!(
        ports,
        [
            (Some("https".into()), 8443),
            (Some("webhook-server".into()), 9443)
        ]
    );
}

fn webhook_manager_env(sets: &[&str]) -> Vec<(String, String)> {
    let all: Vec<&str> = std::iter::once(AWS).chain(sets.iter().copied()).collect();
    let c = config("remote", None, &all);
    let p = plan(&c, ClusterFacts::default());
    let objects: Vec<&Object> = p.install().collect();
    let d: Deployment = find(
        &objects,
        "Deployment",
        "peer-pods-webhook-controller-manager",
    )
    .decode()
    .unwrap()
    .unwrap();
    d.spec.unwrap().template.spec.unwrap().containers[0]
        .env
        .iter()
        .flatten()
        .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
        .collect()
}

#[test]
fn webhook_tls_settings_reach_the_manager_env_only_when_given() {
    let names = |env: Vec<(String, String)>| env.into_iter().map(|(n, _)| n).collect::<Vec<_>>();
    assert_eq!(
        names(webhook_manager_env(&[])),
        ["TARGET_RUNTIMECLASS", "POD_VM_EXTENDED_RESOURCE"]
    );
    let env = webhook_manager_env(&["peerpods.webhook.tlsMinVersion=VersionTLS12,peerpods.webhook.tlsCipherSuites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]);
    assert!(
        env.contains(&("TLS_MIN_VERSION".into(), "VersionTLS12".into())),
        "{env:?}"
    );
    assert!(
        env.contains(&(
            "TLS_CIPHER_SUITES".into(),
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into()
        )),
        "{env:?}"
    );
}

#[test]
fn without_cert_manager_no_issuer_certificate_or_ca_injection_is_rendered() {
    let kinds_and_annotation = |sets: &[&str]| {
        let all: Vec<&str> = std::iter::once(AWS).chain(sets.iter().copied()).collect();
        let c = config("remote", None, &all);
        let p = plan(&c, ClusterFacts::default());
        let objects: Vec<&Object> = p.install().collect();
        let cm = objects
            .iter()
            .any(|o| o.kind() == "Issuer" || o.kind() == "Certificate");
        let cfg: k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration = find(
            &objects,
            "MutatingWebhookConfiguration",
            "peer-pods-webhook-mutating-webhook-configuration",
        )
        .decode()
        .unwrap()
        .unwrap();
        let inject = cfg
            .metadata
            .annotations
            .unwrap_or_default()
            .contains_key("cert-manager.io/inject-ca-from");
        (cm, inject)
    };
    assert_eq!(kinds_and_annotation(&[]), (true, true));
    assert_eq!(
        kinds_and_annotation(&["peerpods.webhook.certManager.enabled=false"]),
        (false, false)
    );
}

#[test]
fn without_the_auth_proxy_peerpod_ctrl_has_no_kube_rbac_proxy_nor_its_rbac_and_service() {
    let proxy_parts = |sets: &[&str]| {
        let all: Vec<&str> = std::iter::once(AWS).chain(sets.iter().copied()).collect();
        let c = config("remote", None, &all);
        let p = plan(&c, ClusterFacts::default());
        let objects: Vec<&Object> = p.install().collect();
        let named: Vec<&str> = [
            "peerpodctrl-proxy-role",
            "peerpodctrl-proxy-rolebinding",
            "peerpodctrl-metrics-reader",
            "peerpodctrl-controller-manager-metrics-service",
        ]
        .into_iter()
        .filter(|n| objects.iter().any(|o| o.name() == Some(n)))
        .collect();
        let d: Deployment = find(&objects, "Deployment", "peerpodctrl-controller-manager")
            .decode()
            .unwrap()
            .unwrap();
        let containers: Vec<String> = d
            .spec
            .unwrap()
            .template
            .spec
            .unwrap()
            .containers
            .into_iter()
            .map(|c| c.name)
            .collect();
        (named.len(), containers)
    };
    assert_eq!(
        proxy_parts(&[]),
        (
            4,
            vec!["kube-rbac-proxy".to_string(), "manager".to_string()]
        )
    );
    assert_eq!(
        proxy_parts(&["peerpods.resourceCtrl.authProxy.enabled=false"]),
        (0, vec!["manager".to_string()])
    );
}

fn caa_env(c: &Config) -> Vec<(String, Option<String>)> {
    let p = plan(c, ClusterFacts::default());
    let objects: Vec<&Object> = p.install().collect();
    let ds: DaemonSet = find(&objects, "DaemonSet", "cloud-api-adaptor-daemonset")
        .decode()
        .unwrap()
        .unwrap();
    let con = &ds.spec.unwrap().template.spec.unwrap().containers[0];
    con.env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.name, e.value))
        .collect()
}

#[test]
fn the_caa_container_gets_the_proxy_after_node_name() {
    let c = config(
        "remote",
        None,
        &[
            AWS,
            "proxy.httpsProxy=http://p:3128",
            "proxy.httpProxy=http://h:3128",
            "proxy.noProxy=169.254.169.254\\,.svc\\,.cluster.local",
        ],
    );
    let e = caa_env(&c);
    let names: Vec<&str> = e.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["NODE_NAME", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"]
    );
    assert_eq!(e[1].1.as_deref(), Some("http://p:3128"));
    assert_eq!(e[2].1.as_deref(), Some("http://h:3128"));
    assert_eq!(
        e[3].1.as_deref(),
        Some("169.254.169.254,.svc,.cluster.local")
    );
}

#[test]
fn without_a_proxy_the_caa_env_is_the_charts() {
    let e = caa_env(&config("remote", None, &[AWS]));
    let names: Vec<&str> = e.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["NODE_NAME"]);
}

#[test]
fn renamed_sub_charts_leave_no_default_name_and_every_reference_follows() {
    for cert_manager in ["true", "false"] {
        let c = config(
            "remote",
            None,
            &[
                AWS,
                "peerpods.resourceCtrl.namePrefix=acme-ctrl-,peerpods.webhook.namePrefix=acme-wh-,peerpods.webhook.namespaceOverride=acme-webhooks",
                &format!("peerpods.webhook.certManager.enabled={cert_manager}"),
            ],
        );
        let p = plan(&c, ClusterFacts::default());
        let objects: Vec<&Object> = p.install().collect();
        let text = serde_json::to_string(&objects.iter().map(|o| o.to_json()).collect::<Vec<_>>())
            .unwrap();
        // Only the webhook's image keeps the upstream name.
        let stripped = text.replace("quay.io/confidential-containers/peer-pods-webhook:", "");
        for default in [
            "peerpodctrl-",
            "peer-pods-webhook-",
            "peer-pods-webhook-system",
        ] {
            assert!(
                !stripped.contains(default),
                "{default} left (certManager {cert_manager})"
            );
        }
        let mwc = find(
            &objects,
            "MutatingWebhookConfiguration",
            "acme-wh-mutating-webhook-configuration",
        )
        .to_json();
        assert_eq!(
            mwc["webhooks"][0]["clientConfig"]["service"],
            serde_json::json!({"name": "acme-wh-webhook-service", "namespace": "acme-webhooks", "path": "/mutate-v1-pod"})
        );
        let svc = find(&objects, "Service", "acme-wh-webhook-service").to_json();
        assert_eq!(svc["metadata"]["namespace"], "acme-webhooks");
        assert!(objects
            .iter()
            .any(|o| o.kind() == "Namespace" && o.name() == Some("acme-webhooks")));
        find(&objects, "Deployment", "acme-ctrl-controller-manager");
        let rb = find(
            &objects,
            "ClusterRoleBinding",
            "acme-ctrl-manager-rolebinding",
        )
        .to_json();
        assert_eq!(rb["roleRef"]["name"], "acme-ctrl-manager-role");
        assert_eq!(rb["subjects"][0]["name"], "acme-ctrl-controller-manager");
    }
    // The webhook in the release namespace (an empty override): no Namespace of its own.
    let c = config(
        "remote",
        None,
        &[AWS, "peerpods.webhook.namespaceOverride="],
    );
    let p = plan(&c, ClusterFacts::default());
    let ns: Vec<Option<&str>> = p
        .install()
        .filter(|o| o.kind() == "Namespace")
        .map(|o| o.name())
        .collect();
    assert!(!ns.contains(&Some("peer-pods-webhook-system")), "{ns:?}");
}
