//! The agent DaemonSet for `oci://` tarballs: the pull secret mounted for the agent, the
//! registry CA passed on, and nothing of it for an HTTPS tarball.

use cococtl_manifests::{plan, ClusterFacts, Phase};
use cococtl_profile::{builtin, resolve, Inputs, SetArg};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::PodSpec;

const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn agent_pod(sets: &[&str]) -> PodSpec {
    let i = Inputs {
        profile: Some(("x86_64".into(), builtin::source("x86_64").unwrap().into())),
        sets: [
            "customContainerd.enabled=true".to_string(),
            format!("customContainerd.sha256={SHA}"),
        ]
        .into_iter()
        .chain(sets.iter().map(|s| s.to_string()))
        .map(|arg| SetArg { string: false, arg })
        .collect(),
        namespace: "coco-system".into(),
        ..Default::default()
    };
    let c = resolve(&i).unwrap_or_else(|e| panic!("{e}")).config;
    let p = plan(&c, ClusterFacts::default());
    let ds: DaemonSet = p.objects(Phase::NodeAgent)[0].decode().unwrap().unwrap();
    ds.spec.unwrap().template.spec.unwrap()
}

fn env(spec: &PodSpec, name: &str) -> Option<String> {
    spec.containers[0]
        .env
        .as_ref()?
        .iter()
        .find(|e| e.name == name)
        .and_then(|e| e.value.clone())
}

#[test]
fn an_oci_tarball_mounts_the_pull_secret_and_passes_the_registry_ca() {
    let spec = agent_pod(&[
        "customContainerd.tarballUrl=oci://mirror.local:5000/coco/containerd@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "customContainerd.pullSecret=mirror-login",
        "customContainerd.registryCA=/etc/containerd/certs.d/mirror.local:5000/ca.crt",
    ]);
    let vol = spec
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.name == "pull-secret")
        .expect("the pull secret volume");
    let secret = vol.secret.as_ref().unwrap();
    assert_eq!(secret.secret_name.as_deref(), Some("mirror-login"));
    assert_eq!(secret.optional, Some(false), "a named Secret must exist");
    let items = secret.items.as_ref().unwrap();
    assert_eq!(
        (items[0].key.as_str(), items[0].path.as_str()),
        (".dockerconfigjson", "config.json")
    );
    let mount = spec.containers[0]
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.name == "pull-secret")
        .unwrap();
    assert_eq!(mount.mount_path, "/etc/cococtl/pull-secret");
    assert_eq!(mount.read_only, Some(true));
    assert_eq!(
        env(&spec, "COCOCTL_CONTAINERD_PULL_SECRET").as_deref(),
        Some("/etc/cococtl/pull-secret/config.json")
    );
    assert_eq!(
        env(&spec, "COCOCTL_CONTAINERD_REGISTRY_CA").as_deref(),
        Some("/etc/containerd/certs.d/mirror.local:5000/ca.crt")
    );
}

#[test]
fn an_https_tarball_gets_no_pull_secret_and_an_oci_one_without_any_secret_is_anonymous() {
    let spec = agent_pod(&["customContainerd.tarballUrl=https://e.com/c.tgz"]);
    assert!(spec
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .all(|v| v.name != "pull-secret"));
    assert_eq!(env(&spec, "COCOCTL_CONTAINERD_PULL_SECRET"), None);
    let spec = agent_pod(&[&format!(
        "customContainerd.tarballUrl=oci://mirror.local/coco/containerd@sha256:{SHA}"
    )]);
    assert!(spec
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .all(|v| v.name != "pull-secret"));
    assert_eq!(env(&spec, "COCOCTL_CONTAINERD_PULL_SECRET"), None);
}
