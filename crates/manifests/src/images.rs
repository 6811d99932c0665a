//! What an install pulls and fetches: every image its pods run and every URL a node
//! downloads, read from the rendered objects themselves (`cococtl images`,
//! docs/values.md#global), so the list cannot drift from what `render` prints.
//!
//! Start with [`inventory`]. Images come from every container and init container of every
//! pod template (DaemonSet, Deployment, StatefulSet, ReplicaSet, Job, CronJob) and Pod;
//! URLs from the custom containerd agent's settings (the only thing a node downloads
//! itself). Pure: no registry is asked anything.

use std::collections::BTreeMap;

use cococtl_core::agent::Tarball;
use cococtl_core::Arch;
use cococtl_profile::Config;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, PodSpec};
use serde::Serialize;

use crate::Object;

/// One container that runs an image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ImageUse {
    /// The object's kind (`DaemonSet`, `Job`, …).
    pub kind: String,
    /// Its namespace (empty for none).
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The container's name.
    pub container: String,
    /// Whether it is an init container.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub init: bool,
}

/// One distinct image reference and everything that runs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// The reference exactly as rendered.
    pub reference: String,
    /// `sha256:…` when the reference is pinned by digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The architectures the image must exist for: the union over its pods (see
    /// [`pod_arches`]), in [`Arch::ALL`] order.
    pub arches: Vec<Arch>,
    /// The containers that run it, sorted.
    pub used_by: Vec<ImageUse>,
}

/// One file a node downloads: the custom containerd tarball of some architectures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fetch {
    /// The tarball URL.
    pub url: String,
    /// The architectures whose nodes fetch it.
    pub arches: Vec<Arch>,
    /// The pinned SHA-256 (lowercase hex), when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The `sha256sum`-format file the node fetches too, when one is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_url: Option<String>,
    /// The containerd version, from the file name (`containerd-<version>-linux-<arch>…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// Everything an install pulls or downloads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inventory {
    /// Distinct images, sorted by reference.
    pub images: Vec<Image>,
    /// Distinct downloads, sorted by URL.
    pub urls: Vec<Fetch>,
}

/// The pod spec of a workload object, or of a Pod; `None` for other kinds.
fn pod_spec(o: &Object) -> Option<PodSpec> {
    fn template<K>(o: &Object, f: impl FnOnce(K) -> Option<PodSpec>) -> Option<Option<PodSpec>>
    where
        K: k8s_openapi::Resource + serde::de::DeserializeOwned,
    {
        // Objects cococtl built from typed structs always read back; a failure would mean
        // no pod spec to read, which is what `None` says.
        o.decode::<K>().map(|r| r.ok().and_then(f))
    }
    None.or_else(|| template(o, |d: DaemonSet| d.spec?.template.spec))
        .or_else(|| template(o, |d: Deployment| d.spec?.template.spec))
        .or_else(|| template(o, |d: StatefulSet| d.spec?.template.spec))
        .or_else(|| template(o, |d: ReplicaSet| d.spec?.template?.spec))
        .or_else(|| template(o, |j: Job| j.spec?.template.spec))
        .or_else(|| template(o, |j: CronJob| j.spec?.job_template.spec?.template.spec))
        .or_else(|| template(o, |p: Pod| p.spec))
        .flatten()
}

/// The architectures a pod must find its image for: those its `nodeSelector` and required
/// node affinity on `kubernetes.io/arch` allow (all of them when it has neither),
/// narrowed to `install_arches`, the architectures the install targets (the nodes the
/// kata-deploy DaemonSet can run on). A pod pinned only outside them keeps its own.
pub fn pod_arches(spec: &PodSpec, install_arches: &[Arch]) -> Vec<Arch> {
    let own = cococtl_profile::validate::schedulable_arches(
        &spec.node_selector.clone().unwrap_or_default(),
        spec.affinity.as_ref(),
    );
    let narrowed: Vec<Arch> = own
        .iter()
        .copied()
        .filter(|a| install_arches.contains(a))
        .collect();
    if narrowed.is_empty() {
        own
    } else {
        narrowed
    }
}

/// `sha256:…` of a reference pinned by digest.
pub fn digest_of(reference: &str) -> Option<String> {
    reference.split_once('@').map(|(_, d)| d.to_string())
}

/// The containerd version in a release tarball's file name
/// (`…/containerd-2.1.9-linux-amd64.tar.gz` → `2.1.9`).
pub fn containerd_version(url: &str) -> Option<String> {
    let file = url.rsplit('/').next()?;
    let rest = file.strip_prefix("containerd-")?;
    let version = rest.split("-linux-").next()?;
    (!version.is_empty() && version != rest).then(|| version.to_string())
}

/// Every image `objects` run and every URL `config`'s nodes fetch.
pub fn inventory<'a>(objects: impl IntoIterator<Item = &'a Object>, config: &Config) -> Inventory {
    let mut images: BTreeMap<String, (Vec<Arch>, Vec<ImageUse>)> = BTreeMap::new();
    for o in objects {
        let Some(spec) = pod_spec(o) else { continue };
        let arches = pod_arches(&spec, &config.schedulable_arches);
        let containers = spec
            .init_containers
            .iter()
            .flatten()
            .map(|c| (c, true))
            .chain(spec.containers.iter().map(|c| (c, false)));
        for (c, init) in containers {
            let Some(reference) = c.image.clone() else {
                continue;
            };
            let entry = images.entry(reference).or_default();
            entry.0.extend(arches.iter().copied());
            entry.1.push(ImageUse {
                kind: o.kind().to_string(),
                namespace: o.namespace().unwrap_or("").to_string(),
                name: o.name().unwrap_or("").to_string(),
                container: c.name.clone(),
                init,
            });
        }
    }
    let images = images
        .into_iter()
        .map(|(reference, (mut arches, mut used_by))| {
            arches.sort();
            arches.dedup();
            used_by.sort();
            used_by.dedup();
            Image {
                digest: digest_of(&reference),
                reference,
                arches,
                used_by,
            }
        })
        .collect();
    Inventory {
        images,
        urls: fetches(config),
    }
}

/// The custom containerd tarballs, each with the install's architectures that fetch it
/// (its own architecture for a per-arch one; every other for the default one).
fn fetches(config: &Config) -> Vec<Fetch> {
    let Some(cc) = &config.custom_containerd else {
        return vec![];
    };
    let s = &cc.agent;
    let mut by_url: BTreeMap<String, (Tarball, Vec<Arch>)> = BTreeMap::new();
    for (arch, t) in &s.per_arch {
        let e = by_url
            .entry(t.url.clone())
            .or_insert_with(|| (t.clone(), vec![]));
        e.1.push(*arch);
    }
    if let Some(t) = &s.default {
        let e = by_url
            .entry(t.url.clone())
            .or_insert_with(|| (t.clone(), vec![]));
        e.1.extend(
            config
                .schedulable_arches
                .iter()
                .filter(|a| !s.per_arch.contains_key(a)),
        );
    }
    by_url
        .into_values()
        .map(|(t, mut arches)| {
            arches.sort();
            arches.dedup();
            Fetch {
                version: containerd_version(&t.url),
                sha256: Some(t.sha256).filter(|s| !s.is_empty()),
                checksum_url: Some(t.checksum_url).filter(|s| !s.is_empty()),
                url: t.url,
                arches,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::DeploymentSpec;
    use k8s_openapi::api::batch::v1::JobSpec;
    use k8s_openapi::api::core::v1::{
        ConfigMap, Container, NodeAffinity, NodeSelector, NodeSelectorRequirement,
        NodeSelectorTerm, PodTemplateSpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn config() -> Config {
        let inputs = cococtl_profile::Inputs {
            profile: Some((
                "x86_64".into(),
                cococtl_profile::builtin_profile("x86_64").unwrap().into(),
            )),
            namespace: "coco-system".into(),
            ..Default::default()
        };
        cococtl_profile::resolve(&inputs).unwrap().config
    }

    fn container(name: &str, image: &str) -> Container {
        Container {
            name: name.into(),
            image: Some(image.into()),
            ..Default::default()
        }
    }

    fn meta(name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ns".into()),
            ..Default::default()
        }
    }

    fn deployment(spec: PodSpec) -> Object {
        Object::new(Deployment {
            metadata: meta("web"),
            spec: Some(DeploymentSpec {
                template: PodTemplateSpec {
                    metadata: None,
                    spec: Some(spec),
                },
                ..Default::default()
            }),
            status: None,
        })
    }

    #[test]
    fn containers_and_init_containers_of_every_workload_are_listed_once_per_reference() {
        let d = deployment(PodSpec {
            init_containers: Some(vec![container("init", "quay.io/a/init:1")]),
            containers: vec![container("main", "quay.io/a/app:1")],
            ..Default::default()
        });
        let j = Object::new(Job {
            metadata: meta("once"),
            spec: Some(JobSpec {
                template: PodTemplateSpec {
                    metadata: None,
                    spec: Some(PodSpec {
                        containers: vec![container("c", "quay.io/a/app:1")],
                        ..Default::default()
                    }),
                },
                ..Default::default()
            }),
            status: None,
        });
        let cm = Object::new(ConfigMap {
            metadata: meta("not-a-pod"),
            ..Default::default()
        });
        let inv = inventory([&d, &j, &cm], &config());
        let refs: Vec<&str> = inv.images.iter().map(|i| i.reference.as_str()).collect();
        assert_eq!(refs, ["quay.io/a/app:1", "quay.io/a/init:1"]);
        let app = &inv.images[0];
        assert_eq!(app.used_by.len(), 2);
        assert_eq!(app.used_by[0].kind, "Deployment");
        assert_eq!(app.used_by[1].kind, "Job");
        assert!(inv.images[1].used_by[0].init);
    }

    #[test]
    fn a_pinned_reference_reports_its_digest() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(digest_of(&format!("quay.io/a/b:1@{d}")), Some(d));
        assert_eq!(digest_of("quay.io/a/b:1"), None);
    }

    #[test]
    fn an_unconstrained_pod_needs_the_install_arches_and_a_pinned_one_its_own() {
        let install = [Arch::Amd64, Arch::S390x];
        assert_eq!(pod_arches(&PodSpec::default(), &install), install);
        let arm_only = PodSpec {
            node_selector: Some([("kubernetes.io/arch".into(), "arm64".into())].into()),
            ..Default::default()
        };
        assert_eq!(pod_arches(&arm_only, &install), [Arch::Arm64]);
        let affinity = PodSpec {
            affinity: Some(k8s_openapi::api::core::v1::Affinity {
                node_affinity: Some(NodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                        node_selector_terms: vec![NodeSelectorTerm {
                            match_expressions: Some(vec![NodeSelectorRequirement {
                                key: "kubernetes.io/arch".into(),
                                operator: "In".into(),
                                values: Some(vec!["s390x".into(), "arm64".into()]),
                            }]),
                            match_fields: None,
                        }],
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(pod_arches(&affinity, &install), [Arch::S390x]);
    }

    #[test]
    fn the_containerd_version_comes_from_the_release_file_name() {
        assert_eq!(
            containerd_version("https://e.com/v2/containerd-2.1.9-linux-amd64.tar.gz"),
            Some("2.1.9".into())
        );
        assert_eq!(containerd_version("https://e.com/custom.tar.gz"), None);
    }

    #[test]
    fn every_tarball_is_listed_with_the_arches_that_fetch_it() {
        let inputs = cococtl_profile::Inputs {
            profile: Some((
                "x86_64".into(),
                cococtl_profile::builtin_profile("x86_64").unwrap().into(),
            )),
            sets: vec![cococtl_profile::SetArg {
                string: false,
                arg: format!(
                    "customContainerd.enabled=true,customContainerd.tarballUrl=https://e.com/containerd-2.1.9-linux-amd64.tar.gz,customContainerd.sha256={},customContainerd.tarballUrls.s390x=https://e.com/containerd-2.1.9-linux-s390x.tar.gz,customContainerd.checksumUrls.s390x=https://e.com/s390x.sha256sum",
                    "b".repeat(64)
                ),
            }],
            namespace: "coco-system".into(),
            ..Default::default()
        };
        let c = cococtl_profile::resolve(&inputs).unwrap().config;
        let urls = fetches(&c);
        assert_eq!(urls.len(), 2);
        assert_eq!(urls[0].arches, [Arch::Amd64]);
        assert_eq!(urls[0].sha256.as_deref(), Some("b".repeat(64).as_str()));
        assert_eq!(urls[1].arches, [Arch::S390x]);
        assert_eq!(
            urls[1].checksum_url.as_deref(),
            Some("https://e.com/s390x.sha256sum")
        );
        assert_eq!(urls[1].version.as_deref(), Some("2.1.9"));
    }
}
