//! `global.imageRegistry` and `global.imagePullSecrets` (docs/values.md#global).

use cococtl_profile::{builtin_profile, resolve, Config, Inputs, SetArg};

fn config(profile: &str, files: &[&str], sets: &[&str]) -> Result<Config, String> {
    let inputs = Inputs {
        profile: Some((profile.into(), builtin_profile(profile).unwrap().into())),
        files: files
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("f{i}.yaml"), t.to_string()))
            .collect(),
        sets: sets
            .iter()
            .map(|a| SetArg {
                string: false,
                arg: a.to_string(),
            })
            .collect(),
        kata_version: None,
        namespace: "coco-system".into(),
    };
    resolve(&inputs)
        .map(|r| r.config)
        .map_err(|e| e.to_string())
}

const MIRROR: &str = "global.imageRegistry=registry.example.com/coco";

#[test]
fn the_mirror_moves_every_default_image_keeping_path_and_tag() {
    let c = config(
        "x86_64",
        &[],
        &[MIRROR, "probe.enabled=true", "customContainerd.enabled=true,customContainerd.tarballUrl=https://e.com/containerd-2.1.9-linux-amd64.tar.gz,customContainerd.allowUnverified=true"],
    )
    .unwrap();
    assert_eq!(
        c.image,
        "registry.example.com/coco/kata-containers/kata-deploy:4.1.0"
    );
    assert_eq!(
        c.kubectl_image,
        "registry.example.com/coco/kata-containers/kubectl:latest"
    );
    let own = format!(
        "registry.example.com/coco/confidential-containers/cococtl:{}",
        env!("CARGO_PKG_VERSION")
    );
    assert!(c.custom_containerd.unwrap().image.starts_with(&own));
    assert!(c.probe.unwrap().image.starts_with(&own));
}

#[test]
fn the_mirror_moves_the_peer_pods_images_and_the_auth_proxy() {
    let c = config(
        "x86_64",
        &["peerpods:\n  enabled: true\n  provider: aws\n  providerConfigs:\n    aws:\n      PODVM_AMI_ID: ami-1\n  providerSecrets:\n    aws:\n      AWS_ACCESS_KEY_ID: a\n      AWS_SECRET_ACCESS_KEY: b\n"],
        &[MIRROR],
    )
    .unwrap();
    let pp = c.peerpods.unwrap();
    assert!(pp
        .image
        .reference
        .starts_with("registry.example.com/coco/confidential-containers/cloud-api-adaptor:"));
    let rc = pp.resource_ctrl.unwrap();
    assert!(rc
        .image
        .reference
        .starts_with("registry.example.com/coco/confidential-containers/peerpod-ctrl:"));
    assert_eq!(
        rc.auth_proxy_image,
        "registry.example.com/coco/kubebuilder/kube-rbac-proxy:v0.14.0"
    );
    assert!(pp
        .webhook
        .unwrap()
        .image
        .reference
        .starts_with("registry.example.com/coco/confidential-containers/peer-pods-webhook:"));
}

#[test]
fn an_image_the_user_set_is_not_rewritten_but_a_tag_alone_is() {
    let c = config(
        "x86_64",
        &["kubectlImage:\n  reference: bitnami/kubectl\n  tag: \"1.33\"\n"],
        &[MIRROR, "image.reference=my.registry/kd"],
    )
    .unwrap();
    assert_eq!(c.image, "my.registry/kd:4.1.0");
    assert_eq!(c.kubectl_image, "bitnami/kubectl:1.33");
    let tag_only = config("x86_64", &[], &[MIRROR, "image.tag=4.1.1"]).unwrap();
    assert_eq!(
        tag_only.image,
        "registry.example.com/coco/kata-containers/kata-deploy:4.1.1"
    );
}

#[test]
fn without_global_keys_nothing_changes() {
    let c = config("x86_64", &[], &[]).unwrap();
    assert_eq!(c.image, "quay.io/kata-containers/kata-deploy:4.1.0");
    assert!(c.global.image_registry.is_none());
    assert!(c.global.image_pull_secrets.is_empty());
}

#[test]
fn a_registry_that_is_not_a_host_is_refused_naming_the_key() {
    let e = config("x86_64", &[], &["global.imageRegistry=coco"]).unwrap_err();
    assert!(e.contains("global.imageRegistry"), "{e}");
    assert!(e.contains("fix: --set global.imageRegistry="), "{e}");
}

#[test]
fn pull_secrets_take_names_or_objects_and_merge_into_kata_deploys_without_duplicates() {
    let c = config(
        "x86_64",
        &["imagePullSecrets:\n  - name: own\n  - name: shared\nglobal:\n  imagePullSecrets:\n    - shared\n    - name: mirror\n    - mirror\n"],
        &[],
    )
    .unwrap();
    let names = |v: &[k8s_openapi::api::core::v1::LocalObjectReference]| {
        v.iter().map(|s| s.name.clone()).collect::<Vec<_>>()
    };
    assert_eq!(names(&c.global.image_pull_secrets), ["shared", "mirror"]);
    assert_eq!(names(&c.image_pull_secrets), ["own", "shared", "mirror"]);
}
