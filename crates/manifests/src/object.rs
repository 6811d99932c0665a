//! One rendered object, of any kind: its [`ResourceType`] (where the API serves it) and its
//! fields, kept in the order they are printed.
//!
//! Objects are built typed (k8s-openapi structs, so the compiler checks every field) and
//! erased here with [`Object::new`]; kinds without a k8s-openapi type (CRDs' custom
//! resources, cert-manager objects, …) come in through [`Object::from_parts`]. No enum of
//! kinds to extend: a new kind is a new [`ResourceType`].
//!
//! The cluster edge applies an object with server-side apply through kube-rs:
//! [`ResourceType::api_resource`] and [`ResourceType::namespaced`] pick the
//! `Api<DynamicObject>`, [`Object::to_dynamic`] is the body.

use std::any::TypeId;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::NamespaceResourceScope;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_yaml::{Mapping, Value};

/// A kind of Kubernetes object and where the API serves it: what kube-rs calls an
/// `ApiResource`, plus the scope that decides between `Api::namespaced_with` and
/// `Api::all_with`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceType {
    /// API group, empty for the core group.
    pub group: String,
    /// Version within the group, e.g. `v1`.
    pub version: String,
    /// `kind`, e.g. `DaemonSet`.
    pub kind: String,
    /// The resource's URL path segment, e.g. `daemonsets`.
    pub plural: String,
    /// Whether objects of this kind live in a namespace.
    pub namespaced: bool,
}

impl ResourceType {
    /// The resource type of a k8s-openapi type.
    pub fn of<K: k8s_openapi::Resource>() -> Self
    where
        K::Scope: 'static,
    {
        ResourceType {
            group: K::GROUP.into(),
            version: K::VERSION.into(),
            kind: K::KIND.into(),
            plural: K::URL_PATH_SEGMENT.into(),
            namespaced: TypeId::of::<K::Scope>() == TypeId::of::<NamespaceResourceScope>(),
        }
    }

    /// `version` for the core group, `group/version` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The kube-rs description of this type, for `Api::<DynamicObject>::all_with` or
    /// `Api::namespaced_with` (choose with [`ResourceType::namespaced`]).
    pub fn api_resource(&self) -> kube_core::ApiResource {
        kube_core::ApiResource {
            group: self.group.clone(),
            version: self.version.clone(),
            api_version: self.api_version(),
            kind: self.kind.clone(),
            plural: self.plural.clone(),
        }
    }
}

/// Why an object cannot be built from parts or read back as a type.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The body does not serialise to a mapping.
    #[error("{kind} body is not a mapping of fields")]
    NotAMapping {
        /// The object's kind.
        kind: String,
    },
    /// The body does not serialise at all.
    #[error("cannot serialise a {kind}: {source}")]
    Serialise {
        /// The object's kind.
        kind: String,
        /// What serde said.
        source: serde_yaml::Error,
    },
    /// The fields do not form the requested type.
    #[error("{id} does not read back as {kind}: {source}")]
    Decode {
        /// The object, `Kind/[namespace/]name`.
        id: String,
        /// The type asked for.
        kind: &'static str,
        /// What serde said.
        source: serde_json::Error,
    },
}

/// A Kubernetes object cococtl renders, of any kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    resource: ResourceType,
    /// Every field, `apiVersion`, `kind` and `metadata` included, in print order.
    fields: Mapping,
}

impl Object {
    /// Erases a k8s-openapi object. Its fields keep the order k8s-openapi serialises them
    /// in, which is the order `cococtl render` prints.
    pub fn new<K>(typed: K) -> Self
    where
        K: k8s_openapi::Resource + Serialize,
        K::Scope: 'static,
    {
        let resource = ResourceType::of::<K>();
        match serde_yaml::to_value(&typed) {
            Ok(Value::Mapping(fields)) => Object { resource, fields },
            // k8s-openapi types are structs of strings, numbers, lists and string-keyed
            // maps: they always serialise to a mapping.
            other => unreachable!("a k8s-openapi {} serialised to {other:?}", K::KIND),
        }
    }

    /// An object of a kind k8s-openapi does not know (a custom resource, say). `body` holds
    /// the fields after `apiVersion` and `kind`, which are taken from `resource` (and
    /// replace any in `body`); `metadata` should be among them.
    pub fn from_parts(resource: ResourceType, body: &impl Serialize) -> Result<Self, ObjectError> {
        let kind = resource.kind.clone();
        let body = match serde_yaml::to_value(body) {
            Ok(Value::Mapping(m)) => m,
            Ok(_) => return Err(ObjectError::NotAMapping { kind }),
            Err(source) => return Err(ObjectError::Serialise { kind, source }),
        };
        let mut fields = Mapping::new();
        fields.insert("apiVersion".into(), resource.api_version().into());
        fields.insert("kind".into(), resource.kind.clone().into());
        for (k, v) in body {
            if k.as_str() != Some("apiVersion") && k.as_str() != Some("kind") {
                fields.insert(k, v);
            }
        }
        Ok(Object { resource, fields })
    }

    /// The object's type and scope.
    pub fn resource(&self) -> &ResourceType {
        &self.resource
    }

    /// `kind`.
    pub fn kind(&self) -> &str {
        &self.resource.kind
    }

    /// `apiVersion`.
    pub fn api_version(&self) -> String {
        self.resource.api_version()
    }

    fn meta_str(&self, key: &str) -> Option<&str> {
        self.fields.get("metadata")?.get(key)?.as_str()
    }

    /// `metadata.name`.
    pub fn name(&self) -> Option<&str> {
        self.meta_str("name")
    }

    /// `metadata.namespace` (set on every namespaced object cococtl renders).
    pub fn namespace(&self) -> Option<&str> {
        self.meta_str("namespace")
    }

    /// The metadata, typed.
    pub fn metadata(&self) -> Result<ObjectMeta, ObjectError> {
        let m = self.fields.get("metadata").cloned().unwrap_or(Value::Null);
        serde_json::from_value(crate::yaml::to_json(&m)).map_err(|source| ObjectError::Decode {
            id: self.id(),
            kind: "ObjectMeta",
            source,
        })
    }

    /// `Kind/name` or `Kind/namespace/name`, for messages.
    pub fn id(&self) -> String {
        let name = self.name().unwrap_or("");
        match self.namespace() {
            Some(ns) => format!("{}/{ns}/{name}", self.kind()),
            None => format!("{}/{name}", self.kind()),
        }
    }

    /// The object as `K`, if it is one (`None` for another kind).
    pub fn decode<K>(&self) -> Option<Result<K, ObjectError>>
    where
        K: k8s_openapi::Resource + DeserializeOwned,
    {
        (self.resource.group == K::GROUP && self.resource.kind == K::KIND).then(|| {
            serde_json::from_value(self.to_json()).map_err(|source| ObjectError::Decode {
                id: self.id(),
                kind: K::KIND,
                source,
            })
        })
    }

    /// Every field, in print order.
    pub fn fields(&self) -> &Mapping {
        &self.fields
    }

    /// YAML that YAML 1.1 and 1.2 readers agree on ([`crate::yaml`]), fields in the
    /// API's order; one document, without the `---` line.
    pub fn to_yaml(&self) -> String {
        crate::yaml::mapping_document(&self.fields)
    }

    /// The object as JSON (key order as `serde_json`'s map keeps it: sorted, unless its
    /// `preserve_order` feature is on).
    pub fn to_json(&self) -> serde_json::Value {
        crate::yaml::mapping_to_json(&self.fields)
    }

    /// The body for kube-rs: `Api::<DynamicObject>::patch(name, &PatchParams::apply(..),
    /// &Patch::Apply(object.to_dynamic()?))`.
    pub fn to_dynamic(&self) -> Result<kube_core::DynamicObject, ObjectError> {
        serde_json::from_value(self.to_json()).map_err(|source| ObjectError::Decode {
            id: self.id(),
            kind: "DynamicObject",
            source,
        })
    }
}
