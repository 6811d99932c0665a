//! Peer-pods validation (docs/peerpods.md#validation): every rule with its exact message.

use cococtl_profile::peerpods::{PeerPods, Provider, SecretsMode};
use cococtl_profile::{builtin, resolve, Error, Inputs, SetArg, Warning};

fn inputs(profile: &str, file: Option<&str>, sets: &[&str]) -> Inputs {
    Inputs {
        profile: Some((profile.into(), builtin::source(profile).unwrap().into())),
        files: file
            .map(|t| vec![("pp.yaml".to_string(), t.to_string())])
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
    }
}

/// Every problem, as printed after `error: `.
fn problems(i: &Inputs) -> Vec<String> {
    match resolve(i) {
        Err(Error::Invalid(ps)) => ps.iter().map(|p| p.to_string()).collect(),
        Err(e) => panic!("not a values problem: {e}"),
        Ok(_) => panic!("expected problems"),
    }
}

fn ok(i: &Inputs) -> (PeerPods, Vec<Warning>) {
    let r = resolve(i).unwrap_or_else(|e| panic!("{e}"));
    (r.config.peerpods.expect("peer pods on"), r.warnings)
}

fn has(ps: &[String], want: &str) {
    assert!(
        ps.iter().any(|p| p == want),
        "no\n{want}\nin\n{}",
        ps.join("\n---\n")
    );
}

const AWS_OK: &str = "peerpods.provider=aws,peerpods.providerConfigs.aws.PODVM_AMI_ID=ami-1,peerpods.providerSecrets.aws.AWS_ACCESS_KEY_ID=a,peerpods.providerSecrets.aws.AWS_SECRET_ACCESS_KEY=b";

#[test]
fn unknown_provider_is_refused_with_the_list_and_a_suggestion() {
    let ps = problems(&inputs("remote", None, &["peerpods.provider=azur"]));
    assert_eq!(ps, ["peerpods.provider (from --set 'peerpods.provider=azur'): `azur` is not a cloud-api-adaptor v0.22.0 provider; did you mean `azure`?\n  providers: alibabacloud, aws, azure, byom, gcp, ibmcloud, ibmcloud-powervs, libvirt\n  fix: --set peerpods.provider=<one of them>, with its keys under peerpods.providerConfigs.<provider>"]);
}

#[test]
fn vsphere_is_refused_because_caa_removed_it() {
    let ps = problems(&inputs("remote", None, &["peerpods.provider=vsphere"]));
    assert_eq!(ps, ["peerpods.provider (from --set 'peerpods.provider=vsphere'): `vsphere` was removed from cloud-api-adaptor (January 2026, before v0.22.0); the chart's vsphere file is stale and the CAA container would exit at start\n  fix: choose another provider (byom runs pods on VMs you create yourself), or stay on a CAA release that still has vSphere"]);
}

#[test]
fn the_chart_file_spelling_of_powervs_is_refused_with_the_real_name() {
    let ps = problems(&inputs(
        "remote",
        None,
        &["peerpods.provider=ibmcloudpowervs"],
    ));
    assert!(
        ps[0].contains("fix: --set peerpods.provider=ibmcloud-powervs"),
        "{ps:?}"
    );
}

#[test]
fn libvirt_needs_its_uri_and_its_key_and_no_image_tag() {
    // The released chart pins libvirt's dev image (`<commit>-dev`), so no tag is demanded.
    let ps = problems(&inputs("remote", None, &[]));
    assert_eq!(ps, [
        "peerpods.providerConfigs.libvirt.LIBVIRT_URI (from profile remote): is required for provider libvirt: the CAA container's entry point exits without it\n  fix: --set peerpods.providerConfigs.libvirt.LIBVIRT_URI=qemu+ssh://root@192.168.122.1/system?no_verify=1",
        "peerpods.providerSecrets.libvirt.id_rsa (from profile remote): is required for provider libvirt: CAA logs in over SSH with it (Secret ssh-key-secret, file id_rsa)\n  fix: put the key under peerpods.providerSecrets.libvirt.id_rsa in a -f values file (`id_rsa: |` and the key's lines), or create the Secret yourself and --set peerpods.secrets.mode=reference,peerpods.secrets.existingSshKeySecretName=ssh-key-secret",
    ]);
}

#[test]
fn azure_needs_its_five_settings_a_client_id_and_a_tenant_or_workload_identity() {
    let ps = problems(&inputs("remote", None, &["peerpods.provider=azure"]));
    for key in [
        "AZURE_SUBSCRIPTION_ID",
        "AZURE_REGION",
        "AZURE_RESOURCE_GROUP",
        "AZURE_SUBNET_ID",
        "AZURE_IMAGE_ID",
    ] {
        has(&ps, &format!("peerpods.providerConfigs.azure.{key} (from --set 'peerpods.provider=azure'): is required for provider azure: the CAA container's entry point exits without it\n  fix: --set peerpods.providerConfigs.azure.{key}=<value>"));
    }
    has(&ps, "peerpods.providerSecrets.azure (from --set 'peerpods.provider=azure'): has no AZURE_CLIENT_ID: provider azure needs a client id (the CAA entry point exits without it)\n  fix: --set peerpods.providerSecrets.azure.AZURE_CLIENT_ID=<client id>, or with Workload Identity the ServiceAccount annotation peerpods.daemonset.serviceAccount.annotations.azure\\.workload\\.identity/client-id and the pod label peerpods.daemonset.podLabels.azure\\.workload\\.identity/use=\"true\", or create a Secret with them and --set peerpods.secrets.mode=reference,peerpods.secrets.existingSecretName=peer-pods-secret");
    has(&ps, "peerpods.providerSecrets.azure (from --set 'peerpods.provider=azure'): has no AZURE_TENANT_ID and Workload Identity is off: provider azure needs a tenant id (the CAA entry point exits without it)\n  fix: --set peerpods.providerSecrets.azure.AZURE_TENANT_ID=<tenant id> (with AZURE_CLIENT_SECRET for a service principal), or turn on Workload Identity with peerpods.daemonset.podLabels.azure\\.workload\\.identity/use=\"true\" (its webhook injects the tenant id), or create a Secret with them and --set peerpods.secrets.mode=reference,peerpods.secrets.existingSecretName=peer-pods-secret");
    assert_eq!(ps.len(), 7);
}

#[test]
fn azure_workload_identity_replaces_the_tenant_id_and_the_client_id_secret() {
    let file = "peerpods:\n  provider: azure\n  providerConfigs:\n    azure: {AZURE_SUBSCRIPTION_ID: s, AZURE_REGION: r, AZURE_RESOURCE_GROUP: g, AZURE_SUBNET_ID: n, AZURE_IMAGE_ID: i}\n  daemonset:\n    podLabels: {azure.workload.identity/use: 'true'}\n    serviceAccount: {annotations: {azure.workload.identity/client-id: c}}\n";
    let (pp, w) = ok(&inputs("remote", Some(file), &[]));
    assert_eq!(pp.provider, Provider::Azure);
    assert!(pp.credentials.is_empty());
    // peerpod-ctrl without the label is warned about.
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].to_string(), "peerpods.resourceCtrl.podLabels (from -f pp.yaml): CAA uses Azure Workload Identity (daemonset.podLabels.azure.workload.identity/use) but peerpod-ctrl does not, so it cannot delete leaked VMs; give peerpod-ctrl the same label and ServiceAccount annotation (peerpods.resourceCtrl.podLabels, peerpods.resourceCtrl.serviceAccount.annotations)");
}

#[test]
fn aws_needs_an_ami_and_a_key_pair_or_a_role() {
    let ps = problems(&inputs(
        "remote",
        None,
        &["peerpods.provider=aws,peerpods.providerSecrets.aws.AWS_ACCESS_KEY_ID=a"],
    ));
    assert_eq!(ps, [
        "peerpods.providerConfigs.aws.PODVM_AMI_ID (from --set 'peerpods.provider=aws,peerpods.providerSecrets.aws.AWS_ACCESS_KEY_ID=a'): is required for provider aws: the CAA container's entry point exits without it\n  fix: --set peerpods.providerConfigs.aws.PODVM_AMI_ID=<value>",
        "peerpods.providerSecrets.aws (from --set 'peerpods.provider=aws,peerpods.providerSecrets.aws.AWS_ACCESS_KEY_ID=a'): has AWS_ACCESS_KEY_ID but no AWS_SECRET_ACCESS_KEY: provider aws needs an access key pair or a role ARN\n  fix: --set peerpods.providerSecrets.aws.AWS_ACCESS_KEY_ID=<id>,peerpods.providerSecrets.aws.AWS_SECRET_ACCESS_KEY=<secret>, or IRSA: peerpods.daemonset.serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=<role ARN>, or create a Secret with them and --set peerpods.secrets.mode=reference,peerpods.secrets.existingSecretName=peer-pods-secret",
    ]);
    ok(&inputs("remote", None, &["peerpods.provider=aws,peerpods.providerConfigs.aws.PODVM_AMI_ID=ami-1,peerpods.providerConfigs.aws.AWS_ROLE_ARN=arn"]));
}

#[test]
fn gcp_needs_project_zone_network_and_the_podvm_image_name() {
    let ps = problems(&inputs("remote", None, &["peerpods.provider=gcp"]));
    let keys: Vec<&str> = ps.iter().map(|p| p.split(' ').next().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "peerpods.providerConfigs.gcp.GCP_PROJECT_ID",
            "peerpods.providerConfigs.gcp.GCP_ZONE",
            "peerpods.providerConfigs.gcp.GCP_NETWORK",
            "peerpods.providerConfigs.gcp.PODVM_IMAGE_NAME",
        ]
    );
}

#[test]
fn byom_needs_the_pool_and_both_ssh_keys() {
    let ps = problems(&inputs(
        "remote",
        None,
        &["peerpods.provider=byom,peerpods.providerSecrets.byom.id_rsa=k"],
    ));
    assert_eq!(ps, [
        "peerpods.providerConfigs.byom.VM_POOL_IPS (from --set 'peerpods.provider=byom,peerpods.providerSecrets.byom.id_rsa=k'): is required for provider byom: the CAA container's entry point exits without it\n  fix: --set peerpods.providerConfigs.byom.VM_POOL_IPS=192.168.122.10,192.168.122.11",
        "peerpods.providerSecrets.byom.id_rsa_pub (from --set 'peerpods.provider=byom,peerpods.providerSecrets.byom.id_rsa=k'): is required for provider byom: CAA logs in over SSH with it (Secret ssh-key-secret, file id_rsa.pub)\n  fix: put the key under peerpods.providerSecrets.byom.id_rsa_pub in a -f values file (`id_rsa_pub: |` and the key's lines), or create the Secret yourself and --set peerpods.secrets.mode=reference,peerpods.secrets.existingSshKeySecretName=ssh-key-secret",
    ]);
}

#[test]
fn ibmcloud_needs_an_image_and_an_api_key_or_profile() {
    let ps = problems(&inputs("remote", None, &["peerpods.provider=ibmcloud,peerpods.providerConfigs.ibmcloud.IBMCLOUD_PODVM_IMAGE_ID=r1"]));
    assert_eq!(ps.len(), 1);
    assert!(ps[0].starts_with("peerpods.providerSecrets.ibmcloud (from --set 'peerpods.provider=ibmcloud,peerpods.providerConfigs.ibmcloud.IBMCLOUD_PODVM_IMAGE_ID=r1'): has neither IBMCLOUD_API_KEY nor IBMCLOUD_IAM_PROFILE_ID"), "{ps:?}");
}

#[test]
fn create_mode_with_credentials_warns_they_are_stored_in_the_release_record() {
    let (pp, w) = ok(&inputs("remote", None, &[AWS_OK]));
    assert_eq!(pp.mode, SecretsMode::Create);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].to_string(), format!("peerpods.providerSecrets.aws (from --set '{AWS_OK}'): credentials in secrets.mode=create: they are written into the Secret(s) peer-pods-secret and stored in the release record (the values this install was made from), where anyone who can read either sees them; for production create the Secrets yourself and reference them: --set peerpods.secrets.mode=reference,peerpods.secrets.existingSecretName=peer-pods-secret"));
}

#[test]
fn reference_mode_with_another_secret_name_explains_and_gives_peerpod_ctrl_the_same_name() {
    let (pp, w) = ok(&inputs("remote", None, &["peerpods.provider=aws,peerpods.providerConfigs.aws.PODVM_AMI_ID=ami-1,peerpods.secrets.mode=reference,peerpods.secrets.existingSecretName=aws-creds"]));
    assert_eq!(pp.credentials_secret.as_deref(), Some("aws-creds"));
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].to_string(), "peerpods.secrets.existingSecretName (from --set 'peerpods.provider=aws,peerpods.providerConfigs.aws.PODVM_AMI_ID=ami-1,peerpods.secrets.mode=reference,peerpods.secrets.existingSecretName=aws-creds'): `aws-creds`: upstream peerpod-ctrl reads its credentials from the fixed name `peer-pods-secret` whatever this says, so it could not delete leaked VMs; cococtl points peerpod-ctrl at `aws-creds` as well (docs/peerpods.md#fixed-secret-names)");
}

#[test]
fn reference_mode_for_libvirt_needs_the_ssh_key_secret_name() {
    let ps = problems(&inputs("remote", None, &["peerpods.providerConfigs.libvirt.LIBVIRT_URI=qemu:///system,peerpods.image.tag=dev-abc,peerpods.secrets.mode=reference"]));
    assert_eq!(ps, ["peerpods.secrets.existingSshKeySecretName (from --set 'peerpods.providerConfigs.libvirt.LIBVIRT_URI=qemu:///system,peerpods.image.tag=dev-abc,peerpods.secrets.mode=reference'): is empty in secrets.mode=reference, but provider libvirt needs an SSH key Secret (id_rsa)\n  fix: --set peerpods.secrets.existingSshKeySecretName=ssh-key-secret (a Secret you created with id_rsa)"]);
}

#[test]
fn cipher_suites_with_tls_1_3_are_refused() {
    let ps = problems(&inputs("remote", None, &[AWS_OK, "peerpods.tlsProfile.minVersion=VersionTLS13,peerpods.tlsProfile.cipherSuites=TLS_AES_128_GCM_SHA256"]));
    assert_eq!(ps, ["peerpods.tlsProfile.cipherSuites (from --set 'peerpods.tlsProfile.minVersion=VersionTLS13,peerpods.tlsProfile.cipherSuites=TLS_AES_128_GCM_SHA256'): is set while peerpods.tlsProfile.minVersion is VersionTLS13: TLS 1.3 cipher suites cannot be configured (Go ignores the list), so the setting would silently do nothing\n  fix: remove peerpods.tlsProfile.cipherSuites, or --set peerpods.tlsProfile.minVersion=VersionTLS12"]);
}

#[test]
fn a_ca_file_without_certificates_is_refused() {
    let ps = problems(&inputs(
        "remote",
        None,
        &[
            AWS_OK,
            "peerpods.providerConfigs.aws.CACERT_FILE=/etc/certificates/ca.crt",
        ],
    ));
    assert_eq!(ps.len(), 1);
    assert!(ps[0].starts_with("peerpods.secrets.tlsCerts (from --set 'peerpods.providerConfigs.aws.CACERT_FILE=/etc/certificates/ca.crt'): peerpods.providerConfigs.aws.CACERT_FILE is set, but no certificate is given, so CAA would fail to read it from the Secret certs-for-tls\n  fix: give peerpods.secrets.tlsCerts.caCert"), "{ps:?}");
}

#[test]
fn limit_is_wired_to_peerpods_limit_per_node_and_must_be_a_number() {
    let (pp, _) = ok(&inputs("remote", None, &[AWS_OK, "peerpods.limit=25"]));
    assert_eq!(pp.config["PEERPODS_LIMIT_PER_NODE"], "25");
    let ps = problems(&inputs("remote", None, &[AWS_OK, "peerpods.limit=many"]));
    assert_eq!(ps, ["peerpods.limit (from --set 'peerpods.limit=many'): `many` is not a whole number of peer pods per node (0 = unlimited)\n  fix: --set-string peerpods.limit=10"]);
}

#[test]
fn provider_values_that_are_lists_are_refused() {
    let ps = problems(&inputs(
        "remote",
        None,
        &[AWS_OK, "peerpods.providerConfigs.aws.AWS_SG_IDS={a,b}"],
    ));
    assert_eq!(ps, ["peerpods.providerConfigs.aws.AWS_SG_IDS (from --set 'peerpods.providerConfigs.aws.AWS_SG_IDS={a,b}'): must be a single value (it becomes an environment variable), not a list or map\n  fix: quote the value, e.g. KEY: \"a,b\""]);
}

#[test]
fn disabling_the_remote_shim_with_peer_pods_on_is_refused() {
    let ps = problems(&inputs(
        "remote",
        None,
        &[AWS_OK, "shims.remote.enabled=false"],
    ));
    assert_eq!(ps, ["shims.remote.enabled (from --set 'shims.remote.enabled=false'): is false, but peer pods (peerpods.enabled) run every pod through kata-deploy's `remote` shim\n  fix: remove shims.remote.enabled=false, or --set peerpods.enabled=false"]);
}

#[test]
fn a_mixed_cluster_adds_the_remote_shim_where_the_profile_runs() {
    let r = resolve(&inputs("x86_64", None, &["peerpods.enabled=true", AWS_OK])).unwrap();
    let remote = r
        .config
        .shims
        .iter()
        .find(|s| s.name() == "remote")
        .expect("remote");
    assert_eq!(remote.arches, [cococtl_core::Arch::Amd64]);
    assert_eq!(remote.snapshotter, "nydus");
    assert!(remote.crio_guest_pull);
    assert!(r.config.shims.iter().any(|s| s.name() == "qemu-snp"));
}

#[test]
fn unknown_peerpods_key_warns_with_a_suggestion() {
    let r = resolve(&inputs(
        "remote",
        None,
        &[AWS_OK, "peerpods.webhok.enabled=false"],
    ))
    .unwrap();
    assert!(r.warnings.iter().any(|w| w.to_string() == "peerpods.webhok (from --set 'peerpods.webhok.enabled=false'): unknown key, ignored; did you mean `webhook`?"), "{:?}", r.warnings);
}

#[test]
fn a_chart_values_file_nested_under_peerpods_loads_as_it_is() {
    // The chart's providers/libvirt.yaml shape (all options commented out), plus the key.
    let file = "peerpods:\n  provider: libvirt\n  image:\n    tag: \"latest\"\n  providerConfigs:\n    libvirt:\n      LIBVIRT_URI: \"qemu+ssh://root@192.168.122.1/system?no_verify=1\"\n      # LIBVIRT_CPU: \"2\"\n  secrets:\n    mode: reference\n    existingSshKeySecretName: ssh-key-secret\n";
    let (pp, w) = ok(&inputs("remote", Some(file), &[]));
    assert_eq!(
        pp.image.reference,
        "quay.io/confidential-containers/cloud-api-adaptor:latest"
    );
    assert_eq!(pp.image.pull_policy, "Always");
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].to_string().contains("`latest` is not pinned"));
}

#[test]
fn reference_mode_without_a_secret_name_still_needs_the_credentials() {
    let ps = problems(&inputs(
        "remote",
        None,
        &["peerpods.provider=ibmcloud,peerpods.providerConfigs.ibmcloud.IBMCLOUD_PODVM_IMAGE_ID=r1,peerpods.secrets.mode=reference"],
    ));
    assert_eq!(ps.len(), 1, "{ps:?}");
    assert!(
        ps[0].starts_with("peerpods.secrets.existingSecretName (from --set 'peerpods.provider=ibmcloud,peerpods.providerConfigs.ibmcloud.IBMCLOUD_PODVM_IMAGE_ID=r1,peerpods.secrets.mode=reference'): has neither IBMCLOUD_API_KEY nor IBMCLOUD_IAM_PROFILE_ID"),
        "{ps:?}"
    );
}

#[test]
fn ssh_keys_go_to_their_own_secret_with_one_trailing_newline() {
    let file = "peerpods:\n  provider: byom\n  providerConfigs: {byom: {VM_POOL_IPS: 10.0.0.2}}\n  providerSecrets:\n    byom:\n      id_rsa: \"PRIVATE\"\n      id_rsa_pub: \"ssh-ed25519 AAAA\"\n      EXTRA: x\n";
    let (pp, _) = ok(&inputs("remote", Some(file), &[]));
    assert_eq!(
        pp.ssh_keys.keys().collect::<Vec<_>>(),
        ["id_rsa", "id_rsa.pub"]
    );
    assert_eq!(pp.credentials.keys().collect::<Vec<_>>(), ["EXTRA"]);
    assert_eq!(pp.ssh_key_secret.as_deref(), Some("ssh-key-secret"));
}

#[test]
fn webhook_cipher_suites_with_tls13_or_an_unknown_min_version_are_refused() {
    let base = "peerpods.provider=aws,peerpods.providerConfigs.aws.PODVM_AMI_ID=ami-0123,peerpods.secrets.mode=reference,peerpods.secrets.existingSecretName=peer-pods-secret";
    let ps = problems(&inputs(
        "remote",
        None,
        &[&format!(
            "{base},peerpods.webhook.tlsMinVersion=VersionTLS13,peerpods.webhook.tlsCipherSuites=X"
        )],
    ));
    assert!(
        ps.iter()
            .any(|p| p.starts_with("peerpods.webhook.tlsCipherSuites")),
        "{ps:?}"
    );
    let ps = problems(&inputs(
        "remote",
        None,
        &[&format!("{base},peerpods.webhook.tlsMinVersion=TLS1.2")],
    ));
    assert!(
        ps.iter()
            .any(|p| p.starts_with("peerpods.webhook.tlsMinVersion")),
        "{ps:?}"
    );
}

#[test]
fn sub_chart_name_prefixes_and_the_webhook_namespace_are_carried_as_given() {
    let base = "peerpods.provider=aws,peerpods.providerConfigs.aws.PODVM_AMI_ID=ami-0123,peerpods.secrets.mode=reference,peerpods.secrets.existingSecretName=peer-pods-secret";
    let (pp, _) = ok(&inputs(
        "remote",
        None,
        &[&format!("{base},peerpods.resourceCtrl.namePrefix=acme-ctrl-,peerpods.webhook.namePrefix=acme-wh-,peerpods.webhook.namespaceOverride=acme-webhooks")],
    ));
    assert_eq!(pp.ctrl_prefix, "acme-ctrl-");
    assert_eq!(pp.webhook_prefix, "acme-wh-");
    assert_eq!(pp.webhook_namespace, "acme-webhooks");
    // The defaults.
    let (pp, _) = ok(&inputs("remote", None, &[base]));
    assert_eq!(pp.ctrl_prefix, "peerpodctrl-");
    assert_eq!(pp.webhook_prefix, "peer-pods-webhook-");
    assert_eq!(pp.webhook_namespace, "peer-pods-webhook-system");
    // An empty override: the sub-chart's `default .Release.Namespace`.
    let (pp, _) = ok(&inputs(
        "remote",
        None,
        &[&format!("{base},peerpods.webhook.namespaceOverride=")],
    ));
    assert_eq!(pp.webhook_namespace, pp.namespace);
}

#[test]
fn a_prefix_or_namespace_that_makes_invalid_names_is_refused_naming_the_key() {
    let base = "peerpods.provider=aws,peerpods.providerConfigs.aws.PODVM_AMI_ID=ami-0123,peerpods.secrets.mode=reference,peerpods.secrets.existingSecretName=peer-pods-secret";
    for (set, key) in [
        (
            "peerpods.resourceCtrl.namePrefix=Acme-",
            "peerpods.resourceCtrl.namePrefix",
        ),
        (
            "peerpods.webhook.namePrefix=1-",
            "peerpods.webhook.namePrefix",
        ),
        (
            "peerpods.webhook.namePrefix=a-very-long-prefix-for-the-webhook-",
            "peerpods.webhook.namePrefix",
        ),
        (
            "peerpods.webhook.namespaceOverride=Not_A_Namespace",
            "peerpods.webhook.namespaceOverride",
        ),
    ] {
        let ps = problems(&inputs("remote", None, &[&format!("{base},{set}")]));
        assert!(
            ps.iter()
                .any(|p| p.starts_with(&format!("{key} (from --set"))),
            "{set}: {ps:?}"
        );
    }
}
