//! `oci://` tarballs against a real registry (Debian's docker-registry, TLS from a test
//! CA, htpasswd Basic auth; `cococtl_containerd::test_registry`): the artifact push, the
//! agent's download with the pull secret, and each refusal. What is installed from such a
//! download is the ordinary install path (tests/agent.rs, crates/cli/tests).

use std::path::{Path, PathBuf};

use cococtl_containerd::config::Checksum;
use cococtl_containerd::fetch::{self, FetchError};
use cococtl_containerd::oci::{self, push, Access, OciError, Registry};
use cococtl_containerd::test_registry::{RegistryOptions, TestRegistry};
use cococtl_core::oci_ref::OciRef;
use sha2::{Digest, Sha256};

const USER: &str = "robot";
const PASSWORD: &str = "s3cret";

struct Mirror {
    dir: tempfile::TempDir,
    reg: TestRegistry,
}

impl Mirror {
    fn start() -> Mirror {
        let dir = tempfile::tempdir().unwrap();
        let reg = TestRegistry::start(
            &dir.path().join("reg"),
            RegistryOptions {
                auth: Some((USER.into(), PASSWORD.into())),
            },
        )
        .unwrap();
        Mirror { dir, reg }
    }

    fn pull_secret(&self, doc: &str) -> PathBuf {
        let p = self
            .dir
            .path()
            .join(format!("secret-{}.json", hex::encode(Sha256::digest(doc))));
        std::fs::write(&p, doc).unwrap();
        p
    }

    /// The agent's access: the harness's pull secret and CA.
    fn access(&self) -> Access {
        Access {
            pull_secret: Some(self.pull_secret(&self.reg.docker_config())),
            ca_file: Some(self.reg.ca_pem()),
        }
    }

    /// A pusher's session with the right credentials.
    fn session(&self, r: &OciRef) -> Registry {
        Registry::new(r, &self.access(), &Default::default()).unwrap()
    }

    fn reference(&self, repo_ref: &str) -> OciRef {
        OciRef::parse(&format!("oci://{}/{repo_ref}", self.reg.host())).unwrap()
    }

    async fn push(&self, repo_ref: &str, tarball: &[u8]) -> push::Pushed {
        let r = self.reference(repo_ref);
        self.session(&r).push_tarball(&r, tarball).await.unwrap()
    }

    fn dest(&self) -> PathBuf {
        self.dir.path().join("staging/containerd.tar.gz")
    }

    async fn fetch(
        &self,
        url: &str,
        checksum: Checksum,
        access: Access,
    ) -> Result<fetch::Fetched, FetchError> {
        std::fs::create_dir_all(self.dest().parent().unwrap()).unwrap();
        let opts = fetch::Options {
            registry: access,
            attempts: 2,
            ..fetch::Options::default()
        };
        fetch::fetch(url, &self.dest(), &checksum, &opts).await
    }

    /// The registry's stored copy of a blob (its filesystem driver's layout).
    fn stored_blob(&self, hex: &str) -> PathBuf {
        self.dir
            .path()
            .join("reg/storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

/// A small gzip'd tar standing in for a release tarball (the download does not look
/// inside; the agent's extract and verify are tested elsewhere).
fn tarball(content: &str) -> Vec<u8> {
    use std::io::Write;
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(content.len() as u64);
    h.set_mode(0o755);
    h.set_mtime(0);
    h.set_cksum();
    tar.append_data(&mut h, "bin/containerd", content.as_bytes())
        .unwrap();
    let raw = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    gz.finish().unwrap()
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn nothing_left(p: &Path) {
    assert!(!p.exists(), "{} was left behind", p.display());
}

#[tokio::test]
async fn a_pushed_tarball_downloads_by_digest_with_basic_auth_from_the_pull_secret() {
    let m = Mirror::start();
    let t = tarball("containerd 2.1.9");
    let pushed = m.push("coco/containerd:2.1.9", &t).await;
    assert_eq!(pushed.tarball_sha256, sha(&t));
    assert_eq!(pushed.bytes, t.len() as u64);
    let url = pushed.reference.to_string();
    assert!(
        url.starts_with(&format!("oci://{}/coco/containerd@sha256:", m.reg.host())),
        "{url}"
    );
    // What the registry stores under the tag is the artifact the agent expects.
    let raw = m.reg.inspect_raw("coco/containerd:2.1.9").unwrap();
    assert!(
        raw.contains(oci::ARTIFACT_TYPE) && raw.contains(oci::EMPTY_CONFIG_MEDIA_TYPE),
        "{raw}"
    );

    let got = m
        .fetch(&url, Checksum::Sha256(sha(&t)), m.access())
        .await
        .unwrap();
    assert_eq!(std::fs::read(&got.path).unwrap(), t, "the same bytes");
    assert_eq!(got.sha256, sha(&t));
}

#[tokio::test]
async fn the_same_tarball_pushed_twice_gives_the_same_manifest_digest() {
    let m = Mirror::start();
    let t = tarball("containerd 1.7.24");
    let a = m.push("coco/containerd:1.7.24", &t).await;
    let b = m.push("mirror/containerd:again", &t).await;
    assert_eq!(a.reference.api_reference(), b.reference.api_reference());
    assert_ne!(
        a.reference.api_reference(),
        m.push("coco/containerd:other", &tarball("other"))
            .await
            .reference
            .api_reference()
    );
}

#[tokio::test]
async fn an_oci_tarball_comes_through_the_configured_proxy_and_not_around_it() {
    use cococtl_containerd::test_proxy::TestProxy;
    use cococtl_core::proxy::Proxy;
    let m = Mirror::start();
    let t = tarball("behind a proxy");
    let pushed = m.push("coco/containerd:proxied", &t).await;
    let url = pushed.reference.to_string();
    let port: u16 = m.reg.host().rsplit(':').next().unwrap().parse().unwrap();
    let proxy = TestProxy::start(&m.dir.path().join("proxy"), "127.0.0.1", port).unwrap();
    std::fs::create_dir_all(m.dest().parent().unwrap()).unwrap();
    let through = |no_proxy: &str| fetch::Options {
        registry: m.access(),
        attempts: 1,
        proxy: Proxy {
            https_proxy: proxy.url(),
            http_proxy: String::new(),
            no_proxy: no_proxy.into(),
        },
        ..fetch::Options::default()
    };
    let got = fetch::fetch(&url, &m.dest(), &Checksum::Sha256(sha(&t)), &through(""))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", proxy.log()));
    assert_eq!(std::fs::read(&got.path).unwrap(), t);
    let tunnels = |log: &str| log.matches(&format!("CONNECT 127.0.0.1:{port}")).count();
    let seen = tunnels(&proxy.log());
    assert!(seen >= 1, "no CONNECT through the proxy:\n{}", proxy.log());

    // Listed in NO_PROXY: the registry is reached directly, the proxy sees nothing new.
    std::fs::remove_file(&got.path).unwrap();
    fetch::fetch(
        &url,
        &m.dest(),
        &Checksum::Sha256(sha(&t)),
        &through("127.0.0.1"),
    )
    .await
    .unwrap();
    assert_eq!(tunnels(&proxy.log()), seen, "{}", proxy.log());
}

#[tokio::test]
async fn a_tag_reference_downloads_too() {
    let m = Mirror::start();
    let t = tarball("by tag");
    m.push("coco/containerd:2.1.9", &t).await;
    let url = format!("oci://{}/coco/containerd:2.1.9", m.reg.host());
    let got = m
        .fetch(&url, Checksum::Sha256(sha(&t)), m.access())
        .await
        .unwrap();
    assert_eq!(std::fs::read(&got.path).unwrap(), t);
}

#[tokio::test]
async fn wrong_credentials_are_refused_naming_the_registry_and_the_pull_secret() {
    let m = Mirror::start();
    let t = tarball("x");
    let url = m.push("coco/containerd:v", &t).await.reference.to_string();
    use base64::Engine;
    let wrong = serde_json::json!({"auths": {m.reg.host(): {"auth":
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:nope"))}}})
    .to_string();
    let secret = m.pull_secret(&wrong);
    let access = Access {
        pull_secret: Some(secret.clone()),
        ca_file: Some(m.reg.ca_pem()),
    };
    let e = m
        .fetch(&url, Checksum::Sha256(sha(&t)), access)
        .await
        .unwrap_err();
    assert!(
        matches!(e, FetchError::Registry(OciError::Refused { .. })),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains(&format!(
            "registry {} refused the credentials of the pull secret {} (user `{USER}`)",
            m.reg.host(),
            secret.display()
        )),
        "{msg}"
    );
    nothing_left(&m.dest());

    // No pull secret at all: anonymous is refused, and the message says how to give one.
    let anon = Access {
        pull_secret: None,
        ca_file: Some(m.reg.ca_pem()),
    };
    let msg = m
        .fetch(&url, Checksum::Sha256(sha(&t)), anon)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("refused anonymous access") && msg.contains("customContainerd.pullSecret"),
        "{msg}"
    );
}

#[tokio::test]
async fn an_unknown_tag_or_digest_is_a_clear_not_found() {
    let m = Mirror::start();
    let t = tarball("x");
    m.push("coco/containerd:v1", &t).await;
    for url in [
        format!("oci://{}/coco/containerd:v2", m.reg.host()),
        format!(
            "oci://{}/coco/containerd@sha256:{}",
            m.reg.host(),
            "0".repeat(64)
        ),
        format!("oci://{}/coco/nothing:v1", m.reg.host()),
    ] {
        let e = m
            .fetch(&url, Checksum::Sha256(sha(&t)), m.access())
            .await
            .unwrap_err();
        assert!(
            matches!(e, FetchError::Registry(OciError::NotFound { .. })),
            "{url}: {e:?}"
        );
        assert!(
            e.to_string()
                .contains(&format!("{url}: not found in the registry")),
            "{e}"
        );
    }
}

#[tokio::test]
async fn a_configured_checksum_that_is_not_the_layer_digest_is_refused_naming_both() {
    let m = Mirror::start();
    let t = tarball("x");
    let url = m.push("coco/containerd:v", &t).await.reference.to_string();
    let other = "e".repeat(64);
    let e = m
        .fetch(&url, Checksum::Sha256(other.clone()), m.access())
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains(&format!(
            "the configured sha256 {other} is not the digest of the artifact's layer, sha256:{}",
            sha(&t)
        )),
        "{msg}"
    );
    nothing_left(&m.dest());
}

#[tokio::test]
async fn a_manifest_whose_bytes_are_not_the_references_digest_is_refused() {
    let m = Mirror::start();
    let t = tarball("x");
    let pushed = m.push("coco/containerd:v", &t).await;
    let digest = pushed.reference.api_reference()[7..].to_string();
    // A compromised mirror: the stored manifest changed under its digest (the layer now
    // points at another blob the attacker pushed).
    let evil = tarball("evil");
    let r = m.reference("coco/containerd:evil");
    let evil_layer = m
        .session(&r)
        .push_blob(oci::LAYER_MEDIA_TYPE, &evil)
        .await
        .unwrap();
    let stored = m.stored_blob(&digest);
    let text = std::fs::read_to_string(&stored).unwrap();
    std::fs::write(
        &stored,
        text.replace(&format!("sha256:{}", sha(&t)), &evil_layer.digest),
    )
    .unwrap();

    let e = m
        .fetch(&pushed.reference.to_string(), Checksum::None, m.access())
        .await
        .unwrap_err();
    assert!(
        matches!(e, FetchError::Registry(OciError::ManifestDigest { .. })),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains(&format!("not the sha256:{digest} asked for")),
        "{e}"
    );
    nothing_left(&m.dest());
}

#[tokio::test]
async fn a_blob_that_does_not_hash_to_its_layer_digest_is_discarded() {
    let m = Mirror::start();
    let t = tarball("x");
    let url = m.push("coco/containerd:v", &t).await.reference.to_string();
    let mut bad = t.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    std::fs::write(m.stored_blob(&sha(&t)), &bad).unwrap();
    let e = m
        .fetch(&url, Checksum::Sha256(sha(&t)), m.access())
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::Checksum { .. }), "{e:?}");
    nothing_left(&m.dest());
}

#[tokio::test]
async fn a_manifest_with_two_layers_is_refused() {
    let m = Mirror::start();
    let r = m.reference("coco/containerd:two");
    let s = m.session(&r);
    let a = s
        .push_blob(oci::LAYER_MEDIA_TYPE, &tarball("a"))
        .await
        .unwrap();
    let b = s
        .push_blob(oci::LAYER_MEDIA_TYPE, &tarball("b"))
        .await
        .unwrap();
    let config = s
        .push_blob(oci::EMPTY_CONFIG_MEDIA_TYPE, push::EMPTY_CONFIG)
        .await
        .unwrap();
    let digest = s
        .push_manifest("two", &push::manifest(&config, &[a, b]))
        .await
        .unwrap();
    let url = r.with_digest(&digest).to_string();
    let e = m.fetch(&url, Checksum::None, m.access()).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("has 2 layers; a containerd tarball artifact has exactly one"),
        "{e}"
    );
}

#[tokio::test]
async fn without_the_registry_ca_the_certificate_is_refused() {
    let m = Mirror::start();
    let t = tarball("x");
    let url = m.push("coco/containerd:v", &t).await.reference.to_string();
    let access = Access {
        pull_secret: m.access().pull_secret,
        ca_file: None,
    };
    let e = m
        .fetch(&url, Checksum::Sha256(sha(&t)), access)
        .await
        .unwrap_err();
    assert!(
        matches!(e, FetchError::Registry(OciError::Network { .. })),
        "{e:?}"
    );
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
}
