//! The RuntimeClasses of custom runtimes (`customRuntimes.runtimes.<name>.runtimeClass`,
//! docs/kata-deploy-contract.md#custom-runtimes): the user's own RuntimeClass, parsed and
//! checked by the profile, with the base shim's overhead merged under its own and the
//! per-install node labels added to its selector. Their ConfigMap entries are in
//! [`super::config_maps`].

use std::collections::BTreeMap;

use cococtl_core::labels::{INSTANCE, KATA_INSTANCE_LABEL_PREFIX, KATA_RUNTIME_LABEL};
use cococtl_profile::config::CustomRuntime;
use cococtl_profile::Config;
use k8s_openapi::api::node::v1::{Overhead, RuntimeClass, Scheduling};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::Object;

/// `overhead.podFixed`: the base shim's table entry under the class's own entries with
/// `inheritBaseOverhead` (the default), else the class's own as given.
fn overhead(r: &CustomRuntime) -> Option<Overhead> {
    let own = r.runtime_class.overhead.clone();
    if !r.inherit_base_overhead {
        return own;
    }
    let mut fixed: BTreeMap<String, Quantity> = BTreeMap::new();
    fixed.insert("memory".into(), Quantity(r.base.overhead.memory.into()));
    fixed.insert("cpu".into(), Quantity(r.base.overhead.cpu.into()));
    fixed.extend(own.and_then(|o| o.pod_fixed).unwrap_or_default());
    Some(Overhead {
        pod_fixed: Some(fixed),
    })
}

fn runtime_class(c: &Config, r: &CustomRuntime) -> RuntimeClass {
    let mut rc = r.runtime_class.clone();
    rc.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(INSTANCE.into(), c.instance().into());
    rc.overhead = overhead(r);
    // The same two node labels as every 4.1 class (docs/kata-deploy-contract.md#g11): the
    // class schedules only where this install's kata-deploy finished, which is where
    // containerd knows the handler.
    let scheduling = rc.scheduling.get_or_insert_with(Scheduling::default);
    let sel = scheduling
        .node_selector
        .get_or_insert_with(Default::default);
    sel.insert(KATA_RUNTIME_LABEL.into(), "true".into());
    sel.insert(
        format!("{KATA_INSTANCE_LABEL_PREFIX}/{}", c.instance()),
        "true".into(),
    );
    rc
}

/// One RuntimeClass per custom runtime, in key order; none unless `customRuntimes.enabled`.
pub fn objects(c: &Config) -> Vec<Object> {
    c.custom_runtimes
        .iter()
        .map(|r| Object::new(runtime_class(c, r)))
        .collect()
}
