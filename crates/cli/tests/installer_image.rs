//! The node-agent image written by `installer-image/build` from the static cross-built
//! binaries (no daemon, no network), read from its amd64 manifest: a valid OCI index whose
//! entrypoint is what the rendered DaemonSet runs, whose filesystem is only the static
//! binary, the CA bundle and /tmp, which runs the agent (and its way into the host's mount
//! namespace) under Debian's containerd and runc, and which is the same image when built
//! twice.
//!
//! Ignored in `cargo test`: the image holds static binaries (musl, crt-static), which the
//! test build of cococtl is not. `scripts/test` cross-builds them, builds the image and runs
//! these with `--ignored` and the variables below set; a missing variable fails the test.
//! The foreign architectures' images are checked by `foreign_arch.rs`. Only the refusal of a
//! dynamically linked binary runs in every `cargo test`.
//!
//! Programs run inside the rootfs with `chroot` (the tests run as root). Where chroot is not
//! permitted they run directly (said on stderr): the binary is static, so only the root
//! directory differs; COCOCTL_TEST_NO_CHROOT=1 forces that path.

use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;
use sha2::{Digest, Sha256};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A path scripts/test hands over; missing is a failure, not a skip.
fn given(var: &str) -> PathBuf {
    let p = PathBuf::from(std::env::var_os(var).unwrap_or_else(|| {
        panic!("{var} is not set: scripts/test sets it (cross-built binaries and the image)")
    }));
    assert!(p.exists(), "{var}={} does not exist", p.display());
    p
}

/// The static binaries, by OCI architecture, as scripts/test built them.
fn binaries() -> Vec<(&'static str, PathBuf)> {
    [
        ("amd64", "COCOCTL_STATIC_AMD64"),
        ("arm64", "COCOCTL_STATIC_ARM64"),
        ("s390x", "COCOCTL_STATIC_S390X"),
    ]
    .into_iter()
    .map(|(a, v)| (a, given(v)))
    .collect()
}

/// Runs installer-image/build on the static binaries; returns the index digest it prints.
fn build(out: &Path, archive: Option<&Path>) -> String {
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("installer-image/build"));
    for (arch, bin) in binaries() {
        cmd.arg(format!("--binary-{arch}")).arg(bin);
    }
    cmd.args(["--quiet", "--out"]).arg(out);
    if let Some(a) = archive {
        cmd.arg("--archive").arg(a);
    }
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "installer-image/build failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

struct Image {
    layout: PathBuf,
    archive: PathBuf,
    /// index.json: one descriptor, the image index under the tag.
    top: Value,
    /// The image index (one manifest per platform).
    index: Value,
    index_digest: String,
    manifest_desc: Value,
    manifest: Value,
    config: Value,
    rootfs: PathBuf,
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
    std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap()
}

fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

/// Reads a descriptor's blob, checking its size and digest.
fn checked_blob(layout: &Path, desc: &Value) -> Vec<u8> {
    let digest = desc["digest"].as_str().unwrap();
    let b = blob(layout, digest);
    assert_eq!(b.len() as u64, desc["size"].as_u64().unwrap(), "{digest}");
    assert_eq!(sha256(&b), digest);
    b
}

/// The image scripts/test built (COCOCTL_IMAGE_LAYOUT, COCOCTL_IMAGE_ARCHIVE), its amd64
/// image unpacked once per test process under the target dir.
fn image() -> &'static Image {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let layout = given("COCOCTL_IMAGE_LAYOUT");
        let archive = given("COCOCTL_IMAGE_ARCHIVE");
        let top: Value =
            serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
        let index_desc = &top["manifests"][0];
        assert_eq!(
            index_desc["mediaType"],
            "application/vnd.oci.image.index.v1+json"
        );
        let index: Value = serde_json::from_slice(&checked_blob(&layout, index_desc)).unwrap();
        let manifest_desc = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["platform"]["architecture"] == "amd64")
            .expect("an amd64 manifest in the index")
            .clone();
        let manifest: Value =
            serde_json::from_slice(&checked_blob(&layout, &manifest_desc)).unwrap();
        let config: Value =
            serde_json::from_slice(&checked_blob(&layout, &manifest["config"])).unwrap();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("installer-image");
        let _ = std::fs::remove_dir_all(&dir);
        let rootfs = dir.join("rootfs");
        std::fs::create_dir_all(&rootfs).unwrap();
        for layer in manifest["layers"].as_array().unwrap() {
            let gz = checked_blob(&layout, layer);
            let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
            ar.set_preserve_permissions(true);
            ar.unpack(&rootfs).unwrap();
        }
        Image {
            layout,
            archive,
            index_digest: index_desc["digest"].as_str().unwrap().to_string(),
            top,
            index,
            manifest_desc,
            manifest,
            config,
            rootfs,
        }
    })
}

fn tag(img: &Image, key: &str) -> String {
    img.top["manifests"][0]["annotations"][key]
        .as_str()
        .unwrap()
        .to_string()
}

fn entrypoint(img: &Image) -> Vec<String> {
    img.config["config"]["Entrypoint"]
        .as_array()
        .expect("an Entrypoint")
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Whether a 64-bit ELF file has a PT_INTERP (names a dynamic loader).
fn has_interpreter(path: &Path) -> bool {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..4], b"\x7fELF", "{} is not ELF", path.display());
    assert_eq!(
        (b[4], b[5]),
        (2, 1),
        "only 64-bit little-endian is checked here"
    );
    let u16_at = |o: usize| usize::from(u16::from_le_bytes(b[o..o + 2].try_into().unwrap()));
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap()) as usize;
    let (phoff, phentsize, phnum) = (u64_at(32), u16_at(54), u16_at(56));
    (0..phnum).any(|i| {
        let o = phoff + i * phentsize;
        u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) == 3
    })
}

fn in_root(rootfs: &Path, p: &str) -> PathBuf {
    rootfs.join(p.trim_start_matches('/'))
}

/// Runs `argv` (absolute paths inside the image) in the rootfs: chroot, or the binary
/// directly where chroot is not permitted (it is static, so nothing else is looked up).
fn run_in(rootfs: &Path, argv: &[&str]) -> Output {
    static CHROOT: OnceLock<bool> = OnceLock::new();
    let chroot = *CHROOT.get_or_init(|| {
        if std::env::var_os("COCOCTL_TEST_NO_CHROOT").is_some() {
            eprintln!("COCOCTL_TEST_NO_CHROOT: running the image's programs directly");
            return false;
        }
        let o = Command::new("chroot")
            .arg(rootfs)
            .args(["/cococtl", "--version"])
            .output()
            .unwrap();
        let denied = !o.status.success()
            && String::from_utf8_lossy(&o.stderr).contains("Operation not permitted");
        if denied {
            eprintln!("chroot is not permitted here: running the image's static programs directly");
        }
        !denied
    });
    if chroot {
        return Command::new("chroot")
            .arg(rootfs)
            .args(argv)
            .output()
            .unwrap();
    }
    Command::new(in_root(rootfs, argv[0]))
        .args(&argv[1..])
        .output()
        .unwrap()
}

fn stdout_ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what}: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn rendered_agent() -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args(["render", "-o", "json", "--set", "customContainerd.enabled=true,customContainerd.tarballUrl=https://e.com/c.tgz,customContainerd.sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef,probe.enabled=true"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "DaemonSet" && o["metadata"]["name"] == "cococtl-containerd")
        .unwrap()["spec"]["template"]["spec"]["containers"][0]
        .clone()
}

#[test]
#[ignore = "run by scripts/test on the static cross-built binaries"]
fn the_binary_lands_where_the_rendered_daemonset_runs_it() {
    let img = image();
    let container = rendered_agent();
    let cmd: Vec<&str> = container["command"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert_eq!(entrypoint(img), ["/cococtl"]);
    assert_eq!(cmd[0], entrypoint(img)[0]);
    assert_eq!(cmd[1..5], ["node", "containerd", "install", "--host-root"]);
    // The default image the DaemonSet pulls is the one the script tags by default: the
    // binary's own version.
    let tag = tag(img, "org.opencontainers.image.ref.name");
    assert_eq!(
        tag,
        format!("ghcr.io/confidential-containers/cococtl:{VERSION}")
    );
    assert_eq!(container["image"], tag);
}

#[test]
#[ignore = "run by scripts/test on the static cross-built binaries"]
fn the_layout_is_a_valid_oci_index_whose_digests_match() {
    let img = image();
    let layout: Value =
        serde_json::from_slice(&std::fs::read(img.layout.join("oci-layout")).unwrap()).unwrap();
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    assert_eq!(img.top["schemaVersion"], 2);
    assert_eq!(img.top["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(img.index["schemaVersion"], 2);
    assert_eq!(
        img.index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    // Every blob every manifest names matches its digest (checked_blob), each layer's
    // uncompressed digest is its config's diff_id, and nothing else is in blobs/.
    let mut named = BTreeSet::from([img.index_digest.clone()]);
    for desc in img.index["manifests"].as_array().unwrap() {
        assert_eq!(
            desc["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        named.insert(desc["digest"].as_str().unwrap().to_string());
        let manifest: Value = serde_json::from_slice(&checked_blob(&img.layout, desc)).unwrap();
        assert_eq!(manifest["schemaVersion"], 2);
        assert_eq!(
            manifest["config"]["mediaType"],
            "application/vnd.oci.image.config.v1+json"
        );
        named.insert(manifest["config"]["digest"].as_str().unwrap().to_string());
        let config: Value =
            serde_json::from_slice(&checked_blob(&img.layout, &manifest["config"])).unwrap();
        // The platform in the index is the config's.
        assert_eq!(config["os"], desc["platform"]["os"]);
        assert_eq!(config["architecture"], desc["platform"]["architecture"]);
        assert_eq!(
            config["config"]["Labels"]["org.opencontainers.image.version"],
            VERSION
        );
        let layers = manifest["layers"].as_array().unwrap();
        let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
        assert_eq!(layers.len(), diff_ids.len());
        for (layer, diff_id) in layers.iter().zip(diff_ids) {
            assert_eq!(
                layer["mediaType"],
                "application/vnd.oci.image.layer.v1.tar+gzip"
            );
            let gz = checked_blob(&img.layout, layer);
            let mut tar = Vec::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut tar)
                .unwrap();
            assert_eq!(sha256(&tar), diff_id.as_str().unwrap());
            named.insert(layer["digest"].as_str().unwrap().to_string());
            // Reproducible entries: no owner, epoch mtime, sorted.
            let mut ar = tar::Archive::new(&tar[..]);
            let mut paths = Vec::new();
            for e in ar.entries().unwrap() {
                let e = e.unwrap();
                let h = e.header();
                assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
                assert_eq!(h.mtime().unwrap(), 0);
                paths.push(e.path().unwrap().into_owned());
            }
            assert!(paths.windows(2).all(|w| w[0] < w[1]), "{paths:?}");
        }
    }
    let on_disk: BTreeSet<String> = std::fs::read_dir(img.layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    assert_eq!(on_disk, named);
    assert_eq!(img.config["os"], "linux");
    assert_eq!(img.config["architecture"], "amd64");
    assert_eq!(img.manifest_desc["platform"]["architecture"], "amd64");
}

#[test]
#[ignore = "run by scripts/test on the static cross-built binaries"]
fn the_image_holds_the_static_binary_the_ca_bundle_and_tmp_only() {
    let img = image();
    let mut found = BTreeSet::new();
    let mut stack = vec![img.rootfs.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(&img.rootfs).unwrap().display().to_string();
            if p.is_dir() {
                stack.push(p);
            }
            found.insert(rel);
        }
    }
    let want: BTreeSet<String> = [
        "cococtl",
        "etc",
        "etc/ssl",
        "etc/ssl/certs",
        "etc/ssl/certs/ca-certificates.crt",
        "tmp",
    ]
    .map(String::from)
    .into();
    assert_eq!(found, want, "no loader, no shared libraries, no nsenter");
    assert!(
        !has_interpreter(&in_root(&img.rootfs, "/cococtl")),
        "/cococtl is static (no PT_INTERP)"
    );
}

#[test]
#[ignore = "run by scripts/test on the static cross-built binaries"]
fn the_entrypoint_answers_version_inside_the_image() {
    let img = image();
    let ep = &entrypoint(img)[0];
    let path = in_root(&img.rootfs, ep);
    let meta = std::fs::metadata(&path).unwrap();
    assert!(meta.is_file());
    assert_eq!(
        meta.permissions().mode() & 0o111,
        0o111,
        "{ep} is executable"
    );
    let out = stdout_ok(
        &run_in(&img.rootfs, &[ep, "--version"]),
        "cococtl --version",
    );
    assert_eq!(out.trim(), format!("cococtl {VERSION}"));
}

/// Programs the agent runs by name (`Command::new("name")`) and where each comes from. The
/// rest it runs by path: the containerd binaries it installs (their `--version`) and the
/// host's `ctr` for the health gate, both static Go binaries from under --host-root, and
/// its own binary (`/proc/self/exe __host-exec`), which is the image's /cococtl.
const FROM_THE_HOST: &[(&str, &str)] = &[(
    "systemctl",
    "the host's, in PID 1's mount namespace through `cococtl __host-exec --` (run directly only with --host-root /)",
)];

/// The containerd crate's modules compiled only into test builds: those declared right after
/// `#[cfg(feature = "test-hooks")]` in its lib.rs. They never reach the image.
fn test_only_modules() -> BTreeSet<String> {
    let lib = std::fs::read_to_string(repo().join("crates/containerd/src/lib.rs")).unwrap();
    let mut gated = BTreeSet::new();
    let mut lines = lib.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(feature = \"test-hooks\")]" {
            if let Some(m) = lines.next().and_then(|l| l.trim().strip_prefix("pub mod ")) {
                gated.insert(format!("{}.rs", m.trim_end_matches(';')));
            }
        }
    }
    assert!(gated.contains("testing.rs"), "{gated:?}");
    gated
}

fn programs_the_agent_runs_by_name() -> BTreeSet<String> {
    let test_only = test_only_modules();
    let mut files = vec![repo().join("crates/cli/src/cmd/node.rs")];
    let mut stack = vec![repo().join("crates/containerd/src")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs")
                && !p
                    .file_name()
                    .is_some_and(|n| test_only.contains(n.to_string_lossy().as_ref()))
            {
                files.push(p);
            }
        }
    }
    let mut names = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        for piece in text.split("Command::new(\"").skip(1) {
            names.insert(piece.split('"').next().unwrap().to_string());
        }
    }
    names
}

#[test]
#[ignore = "run by scripts/test on the static cross-built binaries"]
fn the_agent_takes_no_program_but_itself_from_the_image() {
    let img = image();
    let names = programs_the_agent_runs_by_name();
    assert!(names.contains("systemctl"), "{names:?}");
    let from_image: Vec<_> = names
        .iter()
        .filter(|n| !FROM_THE_HOST.iter().any(|(h, _)| h == n))
        .collect();
    assert!(
        from_image.is_empty(),
        "the image has only /cococtl, but the agent runs {from_image:?} by name"
    );
    // The way into the host is the image's own binary: it knows the hidden subcommand.
    let service = std::fs::read_to_string(repo().join("crates/containerd/src/service.rs")).unwrap();
    assert!(service.contains(r#"SELF_EXE: &str = "/proc/self/exe""#));
    let o = run_in(&img.rootfs, &["/cococtl", "__host-exec"]);
    assert_eq!(o.status.code(), Some(2), "usage error expected: {o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("__host-exec -- PROGRAM"));
}

#[test]
#[ignore = "run by scripts/test on the static cross-built binaries"]
fn the_image_carries_the_ca_bundle_where_rustls_native_certs_looks() {
    // reqwest (rustls-platform-verifier) loads the native roots; openssl-probe's first
    // candidate file on Linux is Debian's bundle.
    let img = image();
    let bundle =
        std::fs::read_to_string(in_root(&img.rootfs, "/etc/ssl/certs/ca-certificates.crt"))
            .unwrap();
    assert!(bundle.matches("-----BEGIN CERTIFICATE-----").count() > 50);
    assert_eq!(
        std::fs::metadata(in_root(&img.rootfs, "/tmp"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o1777
    );
}

#[test]
#[ignore = "run by scripts/test on the static cross-built binaries"]
fn two_builds_of_the_same_binaries_are_the_same_image() {
    let img = image();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("again.tar");
    let again = build(&dir.path().join("oci"), Some(&archive));
    assert_eq!(again, img.index_digest);
    assert_eq!(
        sha256(&std::fs::read(&archive).unwrap()),
        sha256(&std::fs::read(&img.archive).unwrap()),
        "the oci-archive is byte-identical too"
    );
}

#[test]
#[ignore = "run by scripts/test on the static cross-built binaries"]
fn skopeo_reads_the_layout_and_the_archive() {
    // An independent OCI implementation (containers/image) accepts what the script wrote;
    // scripts/setup.d/oci-image.sh installs skopeo.
    let img = image();
    let tag = tag(img, "org.opencontainers.image.ref.name");
    let skopeo = |args: &[&str], reference: &str| -> String {
        let o = Command::new("skopeo")
            .args(args)
            .arg(reference)
            .output()
            .expect("skopeo (run scripts/setup.d/oci-image.sh)");
        stdout_ok(&o, &format!("skopeo {args:?} {reference}"))
    };
    let layout_ref = format!("oci:{}:{tag}", img.layout.display());
    let from_layout: Value =
        serde_json::from_str(&skopeo(&["inspect", "--raw"], &layout_ref)).unwrap();
    let from_archive: Value = serde_json::from_str(&skopeo(
        &["inspect", "--raw"],
        &format!("oci-archive:{}", img.archive.display()),
    ))
    .unwrap();
    assert_eq!(from_layout, img.index);
    assert_eq!(from_archive, img.index);
    // skopeo resolves the amd64 image through the index to the same manifest.
    let amd64: Value = serde_json::from_str(&skopeo(
        &["--override-arch", "amd64", "inspect"],
        &layout_ref,
    ))
    .unwrap();
    // (its `Digest` is the tag's, the index's; the layers are the amd64 image's own)
    assert_eq!(amd64["Digest"].as_str(), Some(img.index_digest.as_str()));
    assert_eq!(amd64["Architecture"], "amd64");
    assert_eq!(amd64["Layers"][0], img.manifest["layers"][0]["digest"]);
    // A full copy of every platform verifies every blob's digest on the way.
    let dest = tempfile::tempdir().unwrap();
    let o = Command::new("skopeo")
        .args(["copy", "--quiet", "--all"])
        .arg(&layout_ref)
        .arg(format!("dir:{}", dest.path().display()))
        .output()
        .unwrap();
    stdout_ok(&o, "skopeo copy --all");
}

/// A containerd started for one test, killed (by its pid) when dropped.
struct Containerd {
    child: std::process::Child,
    socket: PathBuf,
    bin: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Containerd {
    fn start() -> Containerd {
        // Debian's containerd 1.7.24 (scripts/setup.d/containerd-debs.sh) and Debian's runc.
        let bin = repo().join("target/test-deps/containerd/1.7.24/release/bin");
        assert!(
            bin.join("containerd").is_file(),
            "real containerd test deps are missing: run ./scripts/test"
        );
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("containerd.sock");
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\naddress = \"{1}\"\n",
                dir.path().display(),
                socket.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("containerd.log")).unwrap();
        let child = Command::new(bin.join("containerd"))
            .arg("--config")
            .arg(&config)
            .env("PATH", Self::path(&bin))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let c = Containerd {
            child,
            socket,
            bin,
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !c.ctr(&["version"]).status.success() {
            assert!(
                std::time::Instant::now() < deadline,
                "containerd did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        c
    }

    /// The shim comes from the containerd build, runc from Debian (sbin).
    fn path(bin: &Path) -> String {
        format!(
            "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            bin.display()
        )
    }

    fn ctr(&self, args: &[&str]) -> Output {
        Command::new(self.bin.join("ctr"))
            .arg("--address")
            .arg(&self.socket)
            .args(args)
            .env("PATH", Self::path(&self.bin))
            .output()
            .unwrap()
    }
}

#[test]
#[ignore = "run by scripts/test on the static cross-built binaries"]
fn containerd_imports_the_archive_and_runs_the_agent_in_it() {
    // The runtime the DaemonSet's pod uses: import the oci-archive (containerd picks the
    // amd64 image from the index), unpack it (native snapshotter: works on any filesystem)
    // and run the entrypoint under runc; then, privileged in the host's PID namespace as the
    // DaemonSet runs, its way into the host: `__host-exec` must land in PID 1's mount
    // namespace and run the host's program there.
    let img = image();
    let tag = tag(img, "io.containerd.image.name");
    let c = Containerd::start();
    let archive = img.archive.to_str().unwrap();
    stdout_ok(
        &c.ctr(&["images", "import", "--snapshotter", "native", archive]),
        "ctr images import",
    );
    let listed = stdout_ok(&c.ctr(&["images", "ls", "-q"]), "ctr images ls");
    assert!(listed.lines().any(|l| l == tag), "{listed}");
    let id = format!("cococtl-image-test-{}", std::process::id());
    let version = stdout_ok(
        &c.ctr(&[
            "run",
            "--rm",
            "--snapshotter",
            "native",
            &tag,
            &id,
            "/cococtl",
            "--version",
        ]),
        "ctr run /cococtl --version",
    );
    assert_eq!(version.trim(), format!("cococtl {VERSION}"));
    // The node's init: PID 1 of a PID namespace of its own, in a mount namespace of its
    // own (the sandbox's real PID 1 may not be entered). The container joins that PID
    // namespace as the DaemonSet's hostPID joins the node's.
    let init = StandInInit::start();
    let entered = stdout_ok(
        &c.ctr(&[
            "run",
            "--rm",
            "--snapshotter",
            "native",
            "--privileged",
            "--with-ns",
            &format!("pid:/proc/{}/ns/pid", init.pid),
            &tag,
            &format!("{id}-host"),
            "/cococtl",
            "__host-exec",
            "--",
            "readlink",
            "/proc/self/ns/mnt",
        ]),
        "ctr run /cococtl __host-exec -- readlink /proc/self/ns/mnt",
    );
    assert_eq!(entered.trim(), init.mount_ns());
}

/// `unshare --pid --fork --mount-proc sleep`: its child is PID 1 of a new PID namespace,
/// in a new mount namespace. Killed (by the unshare's pid) when dropped.
struct StandInInit {
    unshare: std::process::Child,
    /// The child's pid as this test sees it.
    pid: u32,
}

impl StandInInit {
    fn start() -> StandInInit {
        // Owned by the guard at once, so that every way out (a panic too) reaps it.
        let mut init = StandInInit {
            unshare: Command::new("unshare")
                .args([
                    "--pid",
                    "--fork",
                    "--mount-proc",
                    "--kill-child",
                    "sleep",
                    "600",
                ])
                .spawn()
                .expect("unshare (util-linux)"),
            pid: 0,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let child = std::fs::read_dir("/proc").unwrap().find_map(|e| {
                let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                // "pid (comm) state ppid ...": comm may hold spaces, so split after ')'.
                let ppid: u32 = stat
                    .rsplit_once(')')?
                    .1
                    .split_whitespace()
                    .nth(1)?
                    .parse()
                    .ok()?;
                (ppid == init.unshare.id()).then_some(pid)
            });
            // Until the child has exec'd sleep, its namespaces may not be set up yet.
            if let Some(pid) = child.filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim() == "sleep")
            }) {
                init.pid = pid;
                return init;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "unshare started no child"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    fn mount_ns(&self) -> String {
        let ns = std::fs::read_link(format!("/proc/{}/ns/mnt", self.pid)).unwrap();
        let own = std::fs::read_link("/proc/self/ns/mnt").unwrap();
        assert_ne!(
            ns, own,
            "the stand-in init has a mount namespace of its own"
        );
        ns.to_string_lossy().into_owned()
    }
}

impl Drop for StandInInit {
    fn drop(&mut self) {
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}

#[test]
fn a_dynamically_linked_binary_is_refused() {
    // The test build links glibc dynamically: the image has no loader to run it with.
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new("bash")
        .arg(repo().join("installer-image/build"))
        .args(["--binary-amd64", env!("CARGO_BIN_EXE_cococtl"), "--out"])
        .arg(dir.path().join("oci"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is dynamically linked (loader /lib"), "{err}");
    assert!(err.contains("build it static"), "{err}");
}
