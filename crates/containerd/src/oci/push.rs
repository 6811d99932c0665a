//! Writes a containerd tarball into a registry as the one-layer artifact the agent reads
//! (`cococtl artifact push`): the blob (monolithic upload: `POST …/blobs/uploads/`, then
//! `PUT <location>?digest=`), the empty config `{}`, and the manifest. The manifest holds
//! nothing but media types, digests and sizes (no time stamp, no file name), so the same
//! tarball always gives the same manifest digest.

use cococtl_core::oci_ref::OciRef;
use sha2::{Digest, Sha256};

use super::{network, snippet, OciError, Registry, ARTIFACT_TYPE, EMPTY_CONFIG_MEDIA_TYPE};
use super::{API_TIMEOUT, LAYER_MEDIA_TYPE, MANIFEST_MEDIA_TYPE};

/// The blob upload (up to the agent's 1 GiB cap over a slow link).
const UPLOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// The empty config's bytes and their digest (the image spec's `application/vnd.oci.empty.v1+json`).
pub const EMPTY_CONFIG: &[u8] = b"{}";

/// A blob's descriptor, as manifests list it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type.
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Bytes.
    pub size: u64,
}

/// Field order is the serialisation order: the bytes, and so the digest, are fixed.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest<'a> {
    schema_version: u32,
    media_type: &'a str,
    artifact_type: &'a str,
    config: &'a Descriptor,
    layers: &'a [Descriptor],
}

/// What a push wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// `oci://host/repo@sha256:<manifest digest>`: the value for `tarballUrl`.
    pub reference: OciRef,
    /// The tarball's SHA-256 (hex): the value for `sha256`.
    pub tarball_sha256: String,
    /// The tarball's size.
    pub bytes: u64,
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Descriptor {
    Descriptor {
        media_type: media_type.into(),
        digest: format!("sha256:{}", hex::encode(Sha256::digest(bytes))),
        size: bytes.len() as u64,
    }
}

/// The artifact manifest for a config and layers (bytes as they are pushed).
pub fn manifest(config: &Descriptor, layers: &[Descriptor]) -> Vec<u8> {
    let m = Manifest {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE,
        artifact_type: ARTIFACT_TYPE,
        config,
        layers,
    };
    // Serialising plain structs of strings and numbers cannot fail.
    serde_json::to_vec(&m).unwrap_or_default()
}

impl Registry {
    fn push_scope(&self) -> String {
        format!("repository:{}:pull,push", self.repository)
    }

    fn resolve_location(&self, loc: &str) -> String {
        if loc.starts_with("http://") || loc.starts_with("https://") {
            loc.to_string()
        } else {
            self.url(loc)
        }
    }

    /// Uploads `bytes` as a blob of this repository (skipped when the registry has it).
    pub async fn push_blob(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor, OciError> {
        let d = descriptor(media_type, bytes);
        let scope = self.push_scope();
        let head = self.api("blobs", &d.digest);
        let resp = self
            .send(&head, &scope, |c| c.head(&head).timeout(API_TIMEOUT))
            .await?;
        if resp.status().is_success() {
            return Ok(d);
        }
        let start = self.url(&format!("/v2/{}/blobs/uploads/", self.repository));
        let resp = self
            .send(&start, &scope, |c| c.post(&start).timeout(API_TIMEOUT))
            .await?;
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let Some(location) = location.filter(|_| status == 202) else {
            let body = resp.bytes().await.unwrap_or_default();
            return Err(OciError::Http {
                method: "POST".into(),
                url: start,
                status,
                body: snippet(&body),
            });
        };
        let loc = self.resolve_location(&location);
        let sep = if loc.contains('?') { '&' } else { '?' };
        let put = format!("{loc}{sep}digest={}", super::auth::query_escape(&d.digest));
        let resp = self
            .send(&put, &scope, |c| {
                c.put(&put)
                    .timeout(UPLOAD_TIMEOUT)
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(bytes.to_vec())
            })
            .await?;
        let status = resp.status().as_u16();
        if status != 201 {
            let body = resp.bytes().await.unwrap_or_default();
            return Err(OciError::Http {
                method: "PUT".into(),
                url: loc,
                status,
                body: snippet(&body),
            });
        }
        Ok(d)
    }

    /// Puts `bytes` as the manifest `reference` (a tag or `sha256:<hex>`); returns its
    /// digest (hex).
    pub async fn push_manifest(&self, reference: &str, bytes: &[u8]) -> Result<String, OciError> {
        let url = self.api("manifests", reference);
        let resp = self
            .send(&url, &self.push_scope(), |c| {
                c.put(&url)
                    .timeout(API_TIMEOUT)
                    .header(reqwest::header::CONTENT_TYPE, MANIFEST_MEDIA_TYPE)
                    .body(bytes.to_vec())
            })
            .await?;
        let status = resp.status().as_u16();
        if status != 201 {
            let body = resp.bytes().await.map_err(|e| network(&url, e))?;
            return Err(OciError::Http {
                method: "PUT".into(),
                url,
                status,
                body: snippet(&body),
            });
        }
        Ok(hex::encode(Sha256::digest(bytes)))
    }

    /// Pushes `tarball` as the artifact `target` (tag or digest form) names.
    pub async fn push_tarball(&self, target: &OciRef, tarball: &[u8]) -> Result<Pushed, OciError> {
        let layer = self.push_blob(LAYER_MEDIA_TYPE, tarball).await?;
        let config = self
            .push_blob(EMPTY_CONFIG_MEDIA_TYPE, EMPTY_CONFIG)
            .await?;
        let m = manifest(&config, std::slice::from_ref(&layer));
        let digest = hex::encode(Sha256::digest(&m));
        // A digest target must be this manifest's digest (the registry would refuse it).
        if let cococtl_core::oci_ref::Reference::Digest(want) = &target.reference {
            if *want != digest {
                return Err(OciError::ManifestDigest {
                    reference: target.to_string(),
                    expected: want.clone(),
                    actual: digest,
                });
            }
        }
        self.push_manifest(&target.api_reference(), &m).await?;
        Ok(Pushed {
            reference: target.with_digest(&digest),
            tarball_sha256: layer.digest.trim_start_matches("sha256:").to_string(),
            bytes: layer.size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_tarball_gives_the_same_manifest_bytes() {
        let config = descriptor(EMPTY_CONFIG_MEDIA_TYPE, EMPTY_CONFIG);
        assert_eq!(
            config.digest,
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
            "the image spec's empty descriptor"
        );
        let layer = descriptor(LAYER_MEDIA_TYPE, b"tarball");
        let a = manifest(&config, std::slice::from_ref(&layer));
        assert_eq!(a, manifest(&config, std::slice::from_ref(&layer)));
        assert_eq!(
            String::from_utf8(a.clone()).unwrap(),
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{MANIFEST_MEDIA_TYPE}","artifactType":"{ARTIFACT_TYPE}","config":{{"mediaType":"{EMPTY_CONFIG_MEDIA_TYPE}","digest":"{}","size":2}},"layers":[{{"mediaType":"{LAYER_MEDIA_TYPE}","digest":"{}","size":7}}]}}"#,
                config.digest, layer.digest
            )
        );
        assert_eq!(
            super::super::parse_manifest(&a, "").unwrap(),
            (layer.digest[7..].to_string(), 7)
        );
    }
}
