//! The `peerpods.confidentialcontainers.org` CRD from the peerpodctrl sub-chart's `crds/`
//! (controller-gen v0.20.0). Helm installs it before everything else and never upgrades or
//! deletes it; cococtl applies it first and waits for `Established`.

use std::collections::BTreeMap;

use cococtl_profile::Config;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionNames, CustomResourceDefinitionSpec,
    CustomResourceDefinitionVersion, CustomResourceSubresourceStatus, CustomResourceSubresources,
    CustomResourceValidation, JSONSchemaProps,
};

use super::meta_cluster;
use crate::Object;

fn prop(ty: &str, description: Option<&str>) -> JSONSchemaProps {
    JSONSchemaProps {
        type_: Some(ty.into()),
        description: description.map(str::to_string),
        ..Default::default()
    }
}

fn object(description: &str, props: Vec<(&str, JSONSchemaProps)>) -> JSONSchemaProps {
    JSONSchemaProps {
        description: Some(description.into()),
        properties: Some(
            props
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect::<BTreeMap<_, _>>(),
        ),
        type_: Some("object".into()),
        ..Default::default()
    }
}

/// The PeerPod CRD, as controller-gen generates it.
pub fn peerpods(config: &Config) -> Object {
    let mut metadata = meta_cluster(config, "peerpods.confidentialcontainers.org", &[]);
    metadata.annotations = Some(BTreeMap::from([(
        "controller-gen.kubebuilder.io/version".to_string(),
        "v0.20.0".to_string(),
    )]));
    let schema = object(
        "PeerPod is the Schema for the peerpods API",
        vec![
            ("apiVersion", prop("string", Some("APIVersion defines the versioned schema of this representation of an object.\nServers should convert recognized schemas to the latest internal value, and\nmay reject unrecognized values.\nMore info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"))),
            ("kind", prop("string", Some("Kind is a string value representing the REST resource this object represents.\nServers may infer this from the endpoint the client submits requests to.\nCannot be updated.\nIn CamelCase.\nMore info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"))),
            ("metadata", prop("object", None)),
            (
                "spec",
                object(
                    "PeerPodSpec defines the desired state of PeerPod",
                    vec![
                        ("cloudProvider", prop("string", None)),
                        ("instanceID", prop("string", None)),
                    ],
                ),
            ),
            (
                "status",
                object(
                    "PeerPodStatus defines the observed state of PeerPod",
                    vec![("cleand", prop("boolean", None))],
                ),
            ),
        ],
    );
    Object::new(CustomResourceDefinition {
        metadata,
        spec: CustomResourceDefinitionSpec {
            group: "confidentialcontainers.org".into(),
            names: CustomResourceDefinitionNames {
                kind: "PeerPod".into(),
                list_kind: Some("PeerPodList".into()),
                plural: "peerpods".into(),
                singular: Some("peerpod".into()),
                ..Default::default()
            },
            scope: "Namespaced".into(),
            versions: vec![CustomResourceDefinitionVersion {
                name: "v1alpha1".into(),
                schema: Some(CustomResourceValidation {
                    open_api_v3_schema: Some(schema),
                }),
                served: true,
                storage: true,
                subresources: Some(CustomResourceSubresources {
                    status: Some(CustomResourceSubresourceStatus(serde_json::json!({}))),
                    scale: None,
                }),
                ..Default::default()
            }],
            ..Default::default()
        },
        status: None,
    })
}
