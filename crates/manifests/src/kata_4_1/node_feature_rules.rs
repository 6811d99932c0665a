//! The NodeFeatureRule `kata-tee-keys[-<sfx>]` of the 4.1.0 chart
//! (`nodeFeatureRules.create`, docs/kata-deploy-contract.md#node-feature-rules): it teaches
//! Node Feature Discovery to label SEV-SNP and TDX nodes and to advertise their per-node
//! key counts as extended resources, which the TEE RuntimeClasses then request
//! ([`TEE_KEYS`], docs/kata-deploy-contract.md#g13).
//!
//! NodeFeatureRule (`nfd.k8s-sigs.io/v1alpha1`) is not in k8s-openapi: the body is typed
//! here, with only the fields this rule uses.

use std::collections::BTreeMap;

use cococtl_profile::Config;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use crate::meta;
use crate::{Object, ResourceType};

/// The extended resource each TEE consumes per pod, by the substring of the shim name the
/// chart matches (`snp`, `tdx`): one SEV-SNP ASID / one TDX key.
pub const TEE_KEYS: [(&str, &str); 2] = [
    ("snp", "sev-snp.amd.com/esids"),
    ("tdx", "tdx.intel.com/keys"),
];

/// Where the API serves NodeFeatureRules (cluster-scoped; the CRD comes with NFD).
pub fn resource_type() -> ResourceType {
    ResourceType {
        group: "nfd.k8s-sigs.io".into(),
        version: "v1alpha1".into(),
        kind: "NodeFeatureRule".into(),
        plural: "nodefeaturerules".into(),
        namespaced: false,
    }
}

#[derive(Serialize)]
struct Body {
    metadata: ObjectMeta,
    spec: Spec,
}

#[derive(Serialize)]
struct Spec {
    rules: Vec<Rule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    name: String,
    labels: BTreeMap<String, String>,
    extended_resources: BTreeMap<String, String>,
    match_features: Vec<FeatureMatcher>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FeatureMatcher {
    feature: String,
    match_expressions: BTreeMap<String, Expression>,
}

#[derive(Serialize)]
struct Expression {
    op: String,
}

/// A rule: when `cpu.security` has `flag`, set `label=true` and advertise `resource` with
/// the value of the `cpu.security` attribute `count`.
fn rule(name: &str, flag: &str, label: &str, resource: &str, count: &str) -> Rule {
    Rule {
        name: name.into(),
        labels: BTreeMap::from([(label.to_string(), "true".to_string())]),
        extended_resources: BTreeMap::from([(
            resource.to_string(),
            format!("@cpu.security.{count}"),
        )]),
        match_features: vec![FeatureMatcher {
            feature: "cpu.security".into(),
            match_expressions: BTreeMap::from([(
                flag.to_string(),
                Expression {
                    op: "Exists".into(),
                },
            )]),
        }],
    }
}

/// `kata-tee-keys[-<sfx>]`, when `nodeFeatureRules.create` is `true` (or `auto` resolved to
/// it by an install). The name is deliberately not the `amd64-tee-keys` older binaries
/// created, so the two never fight over one object.
pub fn objects(c: &Config) -> Vec<Object> {
    if !c.node_feature_rules.active() {
        return vec![];
    }
    let mut metadata = meta::cluster(c, &c.suffixed("kata-tee-keys"));
    let release = c.suffixed(&c.release_name);
    metadata
        .labels
        .get_or_insert_with(Default::default)
        .extend([
            (
                "app.kubernetes.io/managed-by".to_string(),
                "kata-deploy".to_string(),
            ),
            ("app.kubernetes.io/instance".to_string(), release),
            ("kata-deploy/instance".to_string(), c.instance().to_string()),
        ]);
    let body = Body {
        metadata,
        spec: Spec {
            rules: vec![
                rule(
                    "amd.sev-snp",
                    "sev.snp.enabled",
                    cococtl_core::labels::SNP_NFD_LABEL,
                    TEE_KEYS[0].1,
                    "sev.encrypted_state_ids",
                ),
                rule(
                    "intel.tdx",
                    "tdx.enabled",
                    cococtl_core::labels::TDX_NFD_LABEL,
                    TEE_KEYS[1].1,
                    "tdx.total_keys",
                ),
            ],
        },
    };
    // A struct of strings and maps always serialises to a mapping.
    Object::from_parts(resource_type(), &body)
        .into_iter()
        .collect()
}
