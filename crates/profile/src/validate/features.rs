//! Chart features cococtl does not render yet: refused with the key to change, never
//! silently dropped; and `nodeFeatureRules.create`, whose `auto` only an install resolves.

use serde_yaml::Value;

use super::{one_of, V};
use crate::config::NodeFeatureRules;
use crate::raw;

/// `nodeFeatureRules.create` (docs/values.md#nodefeaturerules): `auto` stays unresolved
/// here, since only the installer can look for NFD on the cluster; offline it renders no
/// rule, and saying `auto` explicitly gets a note that an install resolves it.
pub(super) fn node_feature_rules(v: &mut V, r: &raw::Values) -> NodeFeatureRules {
    match r.node_feature_rules.create.as_str() {
        "true" => NodeFeatureRules::On,
        "false" => NodeFeatureRules::Off,
        "auto" => {
            let user_set = v
                .prov
                .get("nodeFeatureRules.create")
                .is_some_and(|(_, s)| s.is_user_input());
            if user_set {
                v.warn(
                    "nodeFeatureRules.create",
                    "`auto`: rendered offline as `false` (no NodeFeatureRule, no TEE key requests); `cococtl install` resolves it on the cluster, rendering the rule when Node Feature Discovery is found there",
                );
            }
            NodeFeatureRules::Auto
        }
        other => {
            one_of(
                v,
                "nodeFeatureRules.create",
                other,
                &["auto", "true", "false"],
            );
            NodeFeatureRules::Auto
        }
    }
}

pub(super) fn refuse_unrendered_features(v: &mut V, r: &raw::Values) {
    let not_yet = "cococtl does not render this kata-deploy feature yet";
    if r.deployment_mode != "daemonset" {
        if r.deployment_mode == "job" {
            v.err(
                "deploymentMode",
                format!(
                    "`job` mode (per-node install and clean-up Jobs made by kata-deploy \
                     4.1.0's job dispatcher): {not_yet}; the same install runs in \
                     `daemonset` mode (docs/values.md#deploymentmode)"
                ),
                "--set deploymentMode=daemonset",
            );
        } else {
            one_of(
                v,
                "deploymentMode",
                &r.deployment_mode,
                &["daemonset", "job"],
            );
        }
    }
    if r.node_feature_discovery.enabled {
        v.err(
            "node-feature-discovery.enabled",
            format!("the NFD subchart: {not_yet}"),
            "install NFD separately and --set node-feature-discovery.enabled=false",
        );
    }
}

/// The peerpods chart's Alibaba Cloud RRSA token mount is not rendered
/// (docs/peerpods.md#deviations): asking for it is refused, leaving it off is accepted.
pub(super) fn refuse_alibabacloud_rrsa(v: &mut V, tree: &Value) {
    let Some(rrsa) = crate::tree::get(tree, &["peerpods", "alibabacloud", "rrsa"]) else {
        return;
    };
    if asks_for_something(rrsa) {
        v.err(
            "peerpods.alibabacloud.rrsa",
            "the Alibaba Cloud RRSA token mount of the peerpods chart is not rendered by cococtl (docs/peerpods.md#deviations)",
            "remove peerpods.alibabacloud.rrsa and give CAA credentials in peerpods.providerSecrets.alibabacloud, or a referenced Secret (peerpods.secrets.mode=reference)",
        );
    }
}

/// Whether a value turns something on: anything but null, false, "" or a map of those.
fn asks_for_something(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => !(s.is_empty() || s == "false"),
        Value::Mapping(m) => m.values().any(asks_for_something),
        Value::Sequence(l) => !l.is_empty(),
        _ => true,
    }
}
