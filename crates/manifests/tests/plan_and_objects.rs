//! The plan's phases and the open object type: what the cluster edge relies on.

use cococtl_manifests::{emit, plan, ClusterFacts, Object, Phase, ResourceType};
use cococtl_profile::{builtin, resolve, Config, Inputs, SetArg};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

fn config(sets: &[&str]) -> Config {
    let i = Inputs {
        profile: Some(("x86_64".into(), builtin::source("x86_64").unwrap().into())),
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

fn kinds(objects: &[Object]) -> Vec<&str> {
    objects.iter().map(Object::kind).collect()
}

#[test]
fn every_phase_is_either_install_or_uninstall_and_install_follows_declaration_order() {
    let all = [Phase::INSTALL, Phase::UNINSTALL].concat();
    let mut sorted = all.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(all, sorted);
    assert!(Phase::INSTALL.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn install_phases_hold_the_objects_they_are_named_for() {
    let p = plan(
        &config(&[
            "customContainerd.enabled=true",
            "customContainerd.tarballUrl=https://e.com/c.tgz",
            "customContainerd.sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ]),
        ClusterFacts::default(),
    );
    assert_eq!(kinds(p.objects(Phase::Namespace)), ["Namespace"]);
    // Role/RoleBinding: the containerd agent reads its own DaemonSet on SIGTERM.
    assert!(kinds(p.objects(Phase::Rbac)).iter().all(|k| [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding"
    ]
    .contains(k)));
    assert!(kinds(p.objects(Phase::Config))
        .iter()
        .all(|k| *k == "ConfigMap"));
    let agent = p.objects(Phase::NodeAgent);
    assert_eq!(agent.len(), 1);
    assert_eq!(agent[0].name(), Some("cococtl-containerd"));
    assert_eq!(kinds(p.objects(Phase::Runtime)), ["DaemonSet"]);
    assert_eq!(p.objects(Phase::Runtime)[0].name(), Some("kata-deploy"));
    assert!(kinds(p.objects(Phase::RuntimeClasses))
        .iter()
        .all(|k| *k == "RuntimeClass"));
    assert_eq!(
        kinds(p.objects(Phase::Cleanup)),
        ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Job"]
    );
    let in_phases: Vec<&Object> = p.steps(Phase::INSTALL).flat_map(|(_, o)| o).collect();
    assert_eq!(in_phases, p.install().collect::<Vec<_>>());
}

#[test]
fn without_a_custom_containerd_the_node_agent_phase_is_empty_and_skipped() {
    let p = plan(&config(&[]), ClusterFacts::default());
    assert!(p.objects(Phase::NodeAgent).is_empty());
    assert!(p
        .steps(Phase::INSTALL)
        .all(|(phase, _)| phase != Phase::NodeAgent));
}

#[test]
fn resource_types_come_from_k8s_openapi_and_match_kube_rs() {
    let ds = ResourceType::of::<DaemonSet>();
    assert_eq!(
        (ds.group.as_str(), ds.version.as_str(), ds.plural.as_str()),
        ("apps", "v1", "daemonsets")
    );
    assert!(ds.namespaced);
    assert_eq!(ds.api_version(), "apps/v1");
    assert_eq!(
        ds.api_resource(),
        kube_core::ApiResource::erase::<DaemonSet>(&())
    );
    let ns = ResourceType::of::<Namespace>();
    assert!(!ns.namespaced);
    assert_eq!(ns.api_version(), "v1");
    assert!(!ResourceType::of::<RuntimeClass>().namespaced);
}

#[test]
fn an_object_converts_to_a_kube_dynamic_object_with_all_its_fields() {
    let p = plan(&config(&[]), ClusterFacts::default());
    let ds = &p.objects(Phase::Runtime)[0];
    let d = ds.to_dynamic().unwrap();
    let types = d.types.unwrap();
    assert_eq!(
        (types.api_version.as_str(), types.kind.as_str()),
        ("apps/v1", "DaemonSet")
    );
    assert_eq!(d.metadata.name.as_deref(), Some("kata-deploy"));
    assert_eq!(d.metadata.namespace.as_deref(), Some("coco-system"));
    assert_eq!(
        d.data["spec"]["template"]["spec"]["containers"][0]["name"],
        "kube-kata"
    );
    assert_eq!(ds.metadata().unwrap().name.as_deref(), Some("kata-deploy"));
    assert_eq!(ds.id(), "DaemonSet/coco-system/kata-deploy");
}

#[test]
fn decode_gives_the_typed_object_back_and_nothing_for_other_kinds() {
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("x".into()),
            namespace: Some("n".into()),
            ..Default::default()
        },
        data: Some([("k".to_string(), "v".to_string())].into()),
        ..Default::default()
    };
    let o = Object::new(cm.clone());
    assert_eq!(o.decode::<ConfigMap>().unwrap().unwrap(), cm);
    assert!(o.decode::<DaemonSet>().is_none());
}

#[test]
fn a_kind_without_a_k8s_openapi_type_is_built_from_parts_and_printed_in_field_order() {
    let issuer = ResourceType {
        group: "cert-manager.io".into(),
        version: "v1".into(),
        kind: "Issuer".into(),
        plural: "issuers".into(),
        namespaced: true,
    };
    #[derive(serde::Serialize)]
    struct Body {
        metadata: ObjectMeta,
        spec: serde_json::Value,
    }
    let o = Object::from_parts(
        issuer,
        &Body {
            metadata: ObjectMeta {
                name: Some("selfsigned".into()),
                namespace: Some("coco-system".into()),
                ..Default::default()
            },
            spec: serde_json::json!({ "selfSigned": {} }),
        },
    )
    .unwrap();
    assert_eq!(
        emit::yaml([&o]),
        "---\napiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata:\n  name: selfsigned\n  namespace: coco-system\nspec:\n  selfSigned: {}\n"
    );
    assert_eq!(o.id(), "Issuer/coco-system/selfsigned");
    assert!(Object::from_parts(o.resource().clone(), &"not a mapping").is_err());
}

fn container_env(ds: &DaemonSet) -> std::collections::BTreeMap<String, String> {
    ds.spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.name, e.value.unwrap_or_default()))
        .collect()
}

fn agent_daemonset(c: &Config) -> DaemonSet {
    plan(c, ClusterFacts::default())
        .install()
        .filter(|o| o.kind() == "DaemonSet" && o.name() == Some("cococtl-containerd"))
        .find_map(Object::decode::<DaemonSet>)
        .unwrap()
        .unwrap()
}

const AGENT: [&str; 3] = [
    "customContainerd.enabled=true",
    "customContainerd.tarballUrl=https://e.com/c.tgz",
    "customContainerd.sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
];

#[test]
fn the_node_agent_gets_the_proxy_as_the_standard_variables() {
    let mut sets = AGENT.to_vec();
    sets.extend([
        "proxy.httpsProxy=http://p:3128",
        "proxy.httpProxy=http://h:3128",
        "proxy.noProxy=10.0.0.0/8\\,.svc",
    ]);
    let e = container_env(&agent_daemonset(&config(&sets)));
    assert_eq!(e["HTTPS_PROXY"], "http://p:3128");
    assert_eq!(e["HTTP_PROXY"], "http://h:3128");
    assert_eq!(e["NO_PROXY"], "10.0.0.0/8,.svc");
    assert!(
        !e.contains_key("COCOCTL_CONTAINERD_PROXY"),
        "containerd is opt-in"
    );
}

#[test]
fn proxy_containerd_tells_the_agent_to_give_containerd_the_proxy() {
    let mut sets = AGENT.to_vec();
    sets.extend(["proxy.httpsProxy=http://p:3128", "proxy.containerd=true"]);
    let e = container_env(&agent_daemonset(&config(&sets)));
    assert_eq!(e["COCOCTL_CONTAINERD_PROXY"], "true");
    assert_eq!(e["HTTPS_PROXY"], "http://p:3128");
}

#[test]
fn without_a_proxy_the_agent_gets_no_proxy_variables() {
    let e = container_env(&agent_daemonset(&config(&AGENT)));
    assert!(!e.keys().any(|k| k.contains("PROXY")), "{e:?}");
}
