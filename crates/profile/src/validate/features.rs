//! Chart features cococtl does not render yet: refused with the key to change, never
//! silently dropped.

use super::{one_of, V};
use crate::raw;

pub(super) fn refuse_unrendered_features(v: &mut V, r: &raw::Values) {
    let not_yet = "cococtl does not render this kata-deploy feature yet";
    if r.deployment_mode != "daemonset" {
        if r.deployment_mode == "job" {
            v.err(
                "deploymentMode",
                format!("`job` mode: {not_yet}"),
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
    if r.monitor.enabled {
        v.err(
            "monitor.enabled",
            format!("kata-monitor: {not_yet}"),
            "--set monitor.enabled=false",
        );
    }
    if r.custom_runtimes.enabled {
        v.err(
            "customRuntimes.enabled",
            format!("custom runtimes: {not_yet}"),
            "--set customRuntimes.enabled=false",
        );
    }
    if !r.verification.pod.is_empty() {
        v.err(
            "verification.pod",
            format!("the verification Job: {not_yet}"),
            "remove verification.pod",
        );
    }
    if r.node_feature_discovery.enabled {
        v.err(
            "node-feature-discovery.enabled",
            format!("the NFD subchart: {not_yet}"),
            "install NFD separately and --set node-feature-discovery.enabled=false",
        );
    }
    match r.node_feature_rules.create.as_str() {
        "auto" | "false" => {}
        "true" => v.err(
            "nodeFeatureRules.create",
            format!("the NodeFeatureRule: {not_yet}"),
            "--set nodeFeatureRules.create=false",
        ),
        other => one_of(
            v,
            "nodeFeatureRules.create",
            other,
            &["auto", "true", "false"],
        ),
    }
}
