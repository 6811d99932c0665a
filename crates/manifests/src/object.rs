//! One rendered object, typed, and its serialised forms.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// A Kubernetes object cococtl renders.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    Namespace(Namespace),
    ServiceAccount(ServiceAccount),
    ClusterRole(ClusterRole),
    ClusterRoleBinding(ClusterRoleBinding),
    ConfigMap(ConfigMap),
    DaemonSet(Box<DaemonSet>),
    Job(Box<Job>),
    RuntimeClass(RuntimeClass),
}

macro_rules! each {
    ($self:ident, $o:ident => $e:expr) => {
        match $self {
            Object::Namespace($o) => $e,
            Object::ServiceAccount($o) => $e,
            Object::ClusterRole($o) => $e,
            Object::ClusterRoleBinding($o) => $e,
            Object::ConfigMap($o) => $e,
            Object::DaemonSet($o) => $e,
            Object::Job($o) => $e,
            Object::RuntimeClass($o) => $e,
        }
    };
}

impl Object {
    pub fn metadata(&self) -> &ObjectMeta {
        each!(self, o => &o.metadata)
    }

    pub fn kind(&self) -> &'static str {
        self.type_meta().1
    }

    pub fn api_version(&self) -> &'static str {
        self.type_meta().0
    }

    fn type_meta(&self) -> (&'static str, &'static str) {
        use k8s_openapi::Resource;
        fn tm<T: Resource>() -> (&'static str, &'static str) {
            (T::API_VERSION, T::KIND)
        }
        match self {
            Object::Namespace(_) => tm::<Namespace>(),
            Object::ServiceAccount(_) => tm::<ServiceAccount>(),
            Object::ClusterRole(_) => tm::<ClusterRole>(),
            Object::ClusterRoleBinding(_) => tm::<ClusterRoleBinding>(),
            Object::ConfigMap(_) => tm::<ConfigMap>(),
            Object::DaemonSet(_) => tm::<DaemonSet>(),
            Object::Job(_) => tm::<Job>(),
            Object::RuntimeClass(_) => tm::<RuntimeClass>(),
        }
    }

    /// `Kind/name` or `Kind/namespace/name`, for messages.
    pub fn id(&self) -> String {
        let m = self.metadata();
        let name = m.name.as_deref().unwrap_or("");
        match &m.namespace {
            Some(ns) => format!("{}/{ns}/{name}", self.kind()),
            None => format!("{}/{name}", self.kind()),
        }
    }

    /// YAML that YAML 1.1 and 1.2 readers agree on ([`crate::yaml`]), fields in the
    /// API's order.
    pub fn to_yaml(&self) -> Result<String, serde_yaml::Error> {
        let v = each!(self, o => serde_yaml::to_value(o))?;
        Ok(crate::yaml::document(&v))
    }

    pub fn to_json_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        each!(self, o => serde_json::to_value(o))
    }
}
