//! The peer-pods objects of the upstream `peerpods` chart 0.4.0 (cloud-api-adaptor v0.22.0)
//! with its `peerpodctrl` and `peerpods-webhook` sub-charts, kata-deploy disabled (cococtl's
//! own kata-deploy carries the `remote` shim). Field for field as the chart renders them,
//! except cococtl's ownership label and the fixes listed in docs/peerpods.md#deviations.
//!
//! [`objects`] groups them by the phase they are applied in: the CRD first, then the
//! namespaces, RBAC and configuration, peerpod-ctrl, the webhook (ready before its
//! MutatingWebhookConfiguration exists), and the CAA DaemonSet last.

use std::collections::BTreeMap;

use cococtl_profile::peerpods::PeerPods;
use cococtl_profile::Config;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::PolicyRule;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::meta;
use crate::Object;

mod caa;
mod crd;
mod ctrl;
mod webhook;

/// The peer-pods objects, by phase.
#[derive(Debug, Default)]
pub struct Objects {
    /// The `peerpods.confidentialcontainers.org` CRD.
    pub crds: Vec<Object>,
    /// The CAA namespace (when it is not the install namespace) and the webhook's.
    pub namespaces: Vec<Object>,
    /// ServiceAccounts, roles and bindings of CAA, peerpod-ctrl and the webhook.
    pub rbac: Vec<Object>,
    /// The Secrets (create mode) and `peer-pods-cm`.
    pub config: Vec<Object>,
    /// peerpod-ctrl's metrics Service and Deployment.
    pub ctrl: Vec<Object>,
    /// The webhook's Issuer, Certificate, Service and Deployment.
    pub webhook: Vec<Object>,
    /// The MutatingWebhookConfiguration.
    pub webhook_config: Vec<Object>,
    /// The CAA DaemonSet.
    pub caa: Vec<Object>,
}

/// Every peer-pods object for `config`, empty when peer pods are off.
pub fn objects(config: &Config) -> Objects {
    let Some(pp) = &config.peerpods else {
        return Objects::default();
    };
    let mut o = Objects::default();
    if pp.namespace != config.namespace {
        o.namespaces
            .push(crate::namespace::privileged(config, &pp.namespace));
    }
    o.rbac.extend(caa::rbac(config, pp));
    o.config.extend(caa::config(config, pp));
    o.caa.push(caa::daemonset(config, pp));
    if let Some(rc) = &pp.resource_ctrl {
        o.crds.push(crd::peerpods(config));
        o.rbac.extend(ctrl::rbac(config, pp));
        o.ctrl.extend(ctrl::workloads(config, pp, rc));
    }
    if let Some(w) = &pp.webhook {
        // Its own Namespace only when it is not one the release makes anyway (the chart:
        // `namespaceOverride` set and not the release namespace).
        if pp.webhook_namespace != pp.namespace && pp.webhook_namespace != config.namespace {
            o.namespaces.push(Object::new(Namespace {
                metadata: meta::cluster(config, &pp.webhook_namespace),
                ..Default::default()
            }));
        }
        o.rbac.extend(webhook::rbac(config, pp));
        o.webhook.extend(webhook::workloads(config, pp, w));
        o.webhook_config.push(webhook::configuration(config, pp, w));
    }
    o
}

/// Metadata in namespace `ns` with cococtl's instance label and the chart's `labels`.
fn meta_in(config: &Config, ns: &str, name: &str, labels: &[(&str, &str)]) -> ObjectMeta {
    let mut m = meta::cluster(config, name);
    m.namespace = Some(ns.to_string());
    add_labels(&mut m, labels);
    m
}

/// Cluster-scoped metadata with cococtl's instance label and the chart's `labels`.
fn meta_cluster(config: &Config, name: &str, labels: &[(&str, &str)]) -> ObjectMeta {
    let mut m = meta::cluster(config, name);
    add_labels(&mut m, labels);
    m
}

fn add_labels(m: &mut ObjectMeta, labels: &[(&str, &str)]) {
    let l = m.labels.get_or_insert_with(BTreeMap::new);
    for (k, v) in labels {
        l.insert(k.to_string(), v.to_string());
    }
}

/// The kubebuilder scaffolding labels both sub-charts put on their objects.
fn scaffold<'a>(
    name: &'a str,
    instance: &'a str,
    component: &'a str,
    part_of: &'a str,
) -> [(&'a str, &'a str); 5] {
    [
        ("app.kubernetes.io/name", name),
        ("app.kubernetes.io/instance", instance),
        ("app.kubernetes.io/component", component),
        ("app.kubernetes.io/created-by", part_of),
        ("app.kubernetes.io/part-of", part_of),
    ]
}

/// One RBAC rule.
fn rule(groups: &[&str], resources: &[&str], names: &[&str], verbs: &[&str]) -> PolicyRule {
    let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    PolicyRule {
        api_groups: Some(v(groups)),
        resources: Some(v(resources)),
        resource_names: (!names.is_empty()).then(|| v(names)),
        verbs: v(verbs),
        non_resource_urls: None,
    }
}

/// `get` on a non-resource URL.
fn url_rule(url: &str) -> PolicyRule {
    PolicyRule {
        non_resource_urls: Some(vec![url.to_string()]),
        verbs: vec!["get".into()],
        ..Default::default()
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The Secret holding the credentials of the pinned name `pp`.
fn credentials_secret(pp: &PeerPods) -> Option<&str> {
    pp.credentials_secret.as_deref()
}
