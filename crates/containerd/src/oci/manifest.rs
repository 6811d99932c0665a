//! What a tarball artifact's manifest must be: an OCI (or Docker schema 2) image manifest
//! with exactly one layer of a tarball media type, not an index and not a container
//! image. Pure: bytes in, the layer's digest and size (or why not) out.

use super::{
    ACCEPTED_LAYER_TYPES, ARTIFACT_TYPE, DOCKER_MANIFEST_MEDIA_TYPE, IMAGE_CONFIG_TYPES,
    INDEX_TYPES, MANIFEST_MEDIA_TYPE,
};

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestDoc {
    #[serde(default)]
    schema_version: u32,
    #[serde(default)]
    media_type: String,
    #[serde(default)]
    artifact_type: String,
    config: Option<DescriptorDoc>,
    layers: Option<Vec<DescriptorDoc>>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescriptorDoc {
    #[serde(default)]
    media_type: String,
    #[serde(default)]
    digest: String,
    #[serde(default)]
    size: u64,
}

/// The single layer's digest (hex) and size, or why this manifest is not a tarball
/// artifact.
pub fn parse_manifest(body: &[u8], content_type: &str) -> Result<(String, u64), String> {
    let m: ManifestDoc =
        serde_json::from_slice(body).map_err(|e| format!("the manifest is not JSON: {e}"))?;
    let media_type = if m.media_type.is_empty() {
        content_type
    } else {
        m.media_type.as_str()
    };
    if INDEX_TYPES.contains(&media_type) {
        return Err(format!(
            "is an image index ({media_type}), not one artifact; push one artifact per architecture and use customContainerd.tarballUrls.<arch>"
        ));
    }
    if m.schema_version != 2
        || ![MANIFEST_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE].contains(&media_type)
    {
        return Err(format!(
            "is not an OCI image manifest (mediaType `{media_type}`, schemaVersion {})",
            m.schema_version
        ));
    }
    if let Some(c) = &m.config {
        if IMAGE_CONFIG_TYPES.contains(&c.media_type.as_str()) {
            return Err(format!(
                "is a container image (config {}), not a tarball artifact; push the tarball with `cococtl artifact push`",
                c.media_type
            ));
        }
    }
    if !m.artifact_type.is_empty() && m.artifact_type != ARTIFACT_TYPE {
        tracing::warn!(
            "the manifest's artifactType is {}, not {ARTIFACT_TYPE}; its single layer is used as the tarball",
            m.artifact_type
        );
    }
    let layers = m.layers.unwrap_or_default();
    if layers.len() != 1 {
        return Err(format!(
            "has {} layers; a containerd tarball artifact has exactly one (the tarball)",
            layers.len()
        ));
    }
    let l = &layers[0];
    if !ACCEPTED_LAYER_TYPES.contains(&l.media_type.as_str()) {
        return Err(format!(
            "its layer's mediaType is `{}`; expected one of {}",
            l.media_type,
            ACCEPTED_LAYER_TYPES.join(", ")
        ));
    }
    let hex = l
        .digest
        .strip_prefix("sha256:")
        .and_then(cococtl_core::agent::parse_sha256)
        .ok_or_else(|| format!("its layer's digest `{}` is not sha256:<hex>", l.digest))?;
    Ok((hex, l.size))
}
