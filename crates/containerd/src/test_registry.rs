//! A real OCI registry for tests (compiled only with the `test-hooks` feature): Debian's
//! `docker-registry` (the CNCF distribution registry) on 127.0.0.1, serving TLS with a
//! certificate from a CA made for the test, optionally behind basic auth (bcrypt file
//! from `htpasswd`). `scripts/setup.d/registry-proxy.sh` installs the programs.
//!
//! The mirror tests push images into it with skopeo and read them back; the node agent's
//! `oci://` tarball fetch pulls from it with the pull secret [`TestRegistry::docker_config`]
//! writes. Dropping the value stops the server.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which registry to start.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Basic auth (user, password); `None` serves anonymously.
    pub auth: Option<(String, String)>,
}

/// A running registry. Its address is `127.0.0.1:<port>`.
pub struct TestRegistry {
    child: Child,
    dir: PathBuf,
    port: u16,
    auth: Option<(String, String)>,
}

/// Something the harness needed from the machine was missing or failed.
#[derive(Debug, thiserror::Error)]
#[error("test registry: {0}")]
pub struct RegistryError(String);

fn run(cmd: &mut Command, what: &str) -> Result<(), RegistryError> {
    let out = cmd.output().map_err(|e| {
        RegistryError(format!(
            "{what}: cannot run: {e} (run scripts/setup.d/registry-proxy.sh)"
        ))
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(RegistryError(format!(
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// A port nothing listens on (bound, then released), for servers that take no port 0
/// and for a "dead" address.
pub fn free_port() -> Result<u16, RegistryError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| RegistryError(format!("no free port: {e}")))
}

impl TestRegistry {
    /// Starts a registry whose state lives under `dir` (created); waits until `/v2/`
    /// answers.
    pub fn start(dir: &Path, opts: RegistryOptions) -> Result<Self, RegistryError> {
        std::fs::create_dir_all(dir.join("certs"))
            .and_then(|_| std::fs::create_dir_all(dir.join("storage")))
            .map_err(|e| RegistryError(format!("{}: {e}", dir.display())))?;
        let c = dir.join("certs");
        run(
            Command::new("openssl")
                .args([
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=cococtl test CA",
                ])
                .arg("-keyout")
                .arg(c.join("ca.key"))
                .arg("-out")
                .arg(c.join("ca.crt")),
            "openssl (CA)",
        )?;
        run(
            Command::new("openssl")
                .args([
                    "req",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-subj",
                    "/CN=127.0.0.1",
                ])
                .arg("-keyout")
                .arg(c.join("server.key"))
                .arg("-out")
                .arg(c.join("server.csr")),
            "openssl (server key)",
        )?;
        std::fs::write(
            c.join("san.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
        )
        .map_err(|e| RegistryError(format!("san.ext: {e}")))?;
        run(
            Command::new("openssl")
                .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
                .arg("-in")
                .arg(c.join("server.csr"))
                .arg("-CA")
                .arg(c.join("ca.crt"))
                .arg("-CAkey")
                .arg(c.join("ca.key"))
                .arg("-extfile")
                .arg(c.join("san.ext"))
                .arg("-out")
                .arg(c.join("server.crt")),
            "openssl (server certificate)",
        )?;
        let mut auth_yaml = String::new();
        if let Some((user, password)) = &opts.auth {
            run(
                Command::new("htpasswd")
                    .args(["-Bbc"])
                    .arg(dir.join("htpasswd"))
                    .args([user, password]),
                "htpasswd",
            )?;
            auth_yaml = format!(
                "auth:\n  htpasswd:\n    realm: cococtl-test\n    path: {}\n",
                dir.join("htpasswd").display()
            );
        }
        let port = free_port()?;
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  tls:\n    certificate: {crt}\n    key: {key}\n{auth_yaml}",
            storage = dir.join("storage").display(),
            crt = c.join("server.crt").display(),
            key = c.join("server.key").display(),
        );
        std::fs::write(dir.join("config.yml"), config)
            .map_err(|e| RegistryError(format!("config.yml: {e}")))?;
        let log = std::fs::File::create(dir.join("registry.log"))
            .map_err(|e| RegistryError(format!("registry.log: {e}")))?;
        let err = log
            .try_clone()
            .map_err(|e| RegistryError(format!("registry.log: {e}")))?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| {
                RegistryError(format!(
                    "docker-registry: {e} (run scripts/setup.d/registry-proxy.sh)"
                ))
            })?;
        let mut r = TestRegistry {
            child,
            dir: dir.to_path_buf(),
            port,
            auth: opts.auth,
        };
        r.wait_ready()?;
        Ok(r)
    }

    fn wait_ready(&mut self) -> Result<(), RegistryError> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(RegistryError(format!(
                    "docker-registry exited ({status}): {}",
                    std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
                )));
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(RegistryError(format!(
            "docker-registry did not listen on 127.0.0.1:{} within 20 s",
            self.port
        )))
    }

    /// `127.0.0.1:<port>`: the registry host as image references spell it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The CA certificate (PEM) that signed the server's certificate.
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.join("certs/ca.crt")
    }

    /// A directory holding only `ca.crt`, as skopeo's `--src-cert-dir`/`--dest-cert-dir`
    /// and containerd's `certs.d` expect.
    pub fn cert_dir(&self) -> PathBuf {
        let d = self.dir.join("certdir");
        if !d.join("ca.crt").exists() {
            // Failures surface as TLS errors in the caller, which name the directory.
            let _ = std::fs::create_dir_all(&d);
            let _ = std::fs::copy(self.ca_pem(), d.join("ca.crt"));
        }
        d
    }

    /// skopeo's credentials flag for this registry (`--dest-creds user:pw`), if any.
    pub fn creds(&self) -> Option<String> {
        self.auth.as_ref().map(|(u, p)| format!("{u}:{p}"))
    }

    /// A `.dockerconfigjson` document for this registry, as a pull Secret holds it.
    pub fn docker_config(&self) -> String {
        let auth = match &self.auth {
            Some((u, p)) => {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            }
            None => String::new(),
        };
        serde_json::json!({"auths": {self.host(): {"auth": auth}}}).to_string()
    }

    /// Copies an image (any skopeo transport, e.g. `oci:/path:tag`) to
    /// `<host>/<repo_ref>` with every platform of an index.
    pub fn push(&self, src: &str, repo_ref: &str) -> Result<(), RegistryError> {
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--all", "--quiet", "--dest-cert-dir"])
            .arg(self.cert_dir());
        if let Some(c) = self.creds() {
            cmd.args(["--dest-creds", &c]);
        }
        cmd.arg(src)
            .arg(format!("docker://{}/{repo_ref}", self.host()));
        run(&mut cmd, &format!("skopeo copy {src} → {repo_ref}"))
    }

    /// `skopeo inspect --raw` of `<host>/<repo_ref>`: the manifest or index bytes, or
    /// the error skopeo printed.
    pub fn inspect_raw(&self, repo_ref: &str) -> Result<String, RegistryError> {
        let mut cmd = Command::new("skopeo");
        cmd.args(["inspect", "--raw", "--cert-dir"])
            .arg(self.cert_dir());
        if let Some(c) = self.creds() {
            cmd.args(["--creds", &c]);
        }
        cmd.arg(format!("docker://{}/{repo_ref}", self.host()));
        let out = cmd
            .output()
            .map_err(|e| RegistryError(format!("skopeo: {e}")))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(RegistryError(format!(
                "skopeo inspect {repo_ref}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a minimal single-platform OCI image layout at `dir` (one layer holding
/// `/hello.txt` with `content`, so different contents give different digests) and
/// returns its skopeo reference `oci:<dir>:<tag>`.
pub fn tiny_image(dir: &Path, tag: &str, content: &str) -> Result<String, RegistryError> {
    use sha2::{Digest, Sha256};
    use std::io::Write;
    let io = |e: std::io::Error| RegistryError(format!("{}: {e}", dir.display()));
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(io)?;
    let put = |bytes: &[u8]| -> Result<(String, usize), RegistryError> {
        let hex = hex::encode(Sha256::digest(bytes));
        std::fs::write(blobs.join(&hex), bytes).map_err(io)?;
        Ok((format!("sha256:{hex}"), bytes.len()))
    };
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    tar.append_data(&mut h, "hello.txt", content.as_bytes())
        .map_err(io)?;
    let raw = tar.into_inner().map_err(io)?;
    let diff_id = format!("sha256:{}", hex::encode(Sha256::digest(&raw)));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).map_err(io)?;
    let layer = put(&gz.finish().map_err(io)?)?;
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "config": {}
    });
    let config = put(config.to_string().as_bytes())?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.0, "size": config.1},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer.0, "size": layer.1}]
    });
    let manifest = put(manifest.to_string().as_bytes())?;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest.0, "size": manifest.1,
            "annotations": {"org.opencontainers.image.ref.name": tag}
        }]
    });
    std::fs::write(dir.join("index.json"), index.to_string()).map_err(io)?;
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io)?;
    Ok(format!("oci:{}:{tag}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pushed_image_reads_back_and_auth_is_enforced() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tiny_image(&tmp.path().join("img"), "v1", "hello").unwrap();
        let reg = TestRegistry::start(
            &tmp.path().join("reg"),
            RegistryOptions {
                auth: Some(("tester".into(), "s3cret".into())),
            },
        )
        .unwrap();
        reg.push(&src, "coco/hello:v1").unwrap();
        let raw = reg.inspect_raw("coco/hello:v1").unwrap();
        assert!(
            raw.contains("application/vnd.oci.image.manifest.v1+json"),
            "{raw}"
        );
        // Without credentials the registry refuses: the auth the pull-secret tests rely on.
        let out = Command::new("skopeo")
            .args(["inspect", "--raw", "--cert-dir"])
            .arg(reg.cert_dir())
            .arg(format!("docker://{}/coco/hello:v1", reg.host()))
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(reg.docker_config().contains(&reg.host()));
    }
}
