//! The node-agent image, built by `scripts/build-image` from this test's binary (no daemon, no
//! network): a valid OCI layout whose entrypoint is what the rendered DaemonSet runs, whose
//! filesystem runs the agent and every program the agent takes from the image, and which is
//! the same image when built twice.
//!
//! Programs run inside the rootfs with `chroot` (the tests run as root). Where chroot is not
//! permitted they run through the rootfs's own dynamic loader with `--library-path` pointing
//! into the rootfs instead (said on stderr), which still proves every library is in the image;
//! COCOCTL_TEST_NO_CHROOT=1 forces that path.

use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom};
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

/// Runs scripts/build-image on the test binary; returns the manifest digest it prints.
fn build(out: &Path, archive: Option<&Path>) -> String {
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("scripts/build-image"))
        .args([
            "--binary",
            env!("CARGO_BIN_EXE_cococtl"),
            "--quiet",
            "--out",
        ])
        .arg(out);
    if let Some(a) = archive {
        cmd.arg("--archive").arg(a);
    }
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "scripts/build-image failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

struct Image {
    layout: PathBuf,
    archive: PathBuf,
    printed_digest: String,
    index: Value,
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

/// The image built once per test process, in a fixed directory under the target dir (so a
/// rerun replaces it rather than piling up copies of a debug binary in /tmp).
fn image() -> &'static Image {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("installer-image");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let layout = dir.join("oci");
        let archive = dir.join("cococtl.oci.tar");
        let printed_digest = build(&layout, Some(&archive));
        let index: Value =
            serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
        let manifest_desc = &index["manifests"][0];
        let manifest: Value =
            serde_json::from_slice(&checked_blob(&layout, manifest_desc)).unwrap();
        let config: Value =
            serde_json::from_slice(&checked_blob(&layout, &manifest["config"])).unwrap();
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
            printed_digest,
            index,
            manifest,
            config,
            rootfs,
        }
    })
}

fn entrypoint(img: &Image) -> Vec<String> {
    img.config["config"]["Entrypoint"]
        .as_array()
        .expect("an Entrypoint")
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// PT_INTERP of a 64-bit little-endian ELF file (the dynamic loader it names), if any.
fn interpreter(path: &Path) -> Option<String> {
    let mut f = std::fs::File::open(path).unwrap();
    let mut h = [0u8; 64];
    f.read_exact(&mut h).unwrap();
    assert_eq!(&h[..4], b"\x7fELF", "{} is not ELF", path.display());
    assert_eq!((h[4], h[5]), (2, 1), "only 64-bit little-endian is checked");
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes(b[o..o + 2].try_into().unwrap());
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    let (phoff, phentsize, phnum) = (u64_at(&h, 32), u16_at(&h, 54), u16_at(&h, 56));
    for i in 0..u64::from(phnum) {
        let mut ph = vec![0u8; phentsize.into()];
        f.seek(SeekFrom::Start(phoff + i * u64::from(phentsize)))
            .unwrap();
        f.read_exact(&mut ph).unwrap();
        if u32::from_le_bytes(ph[..4].try_into().unwrap()) == 3 {
            let mut s = vec![0u8; u64_at(&ph, 32) as usize];
            f.seek(SeekFrom::Start(u64_at(&ph, 8))).unwrap();
            f.read_exact(&mut s).unwrap();
            return Some(String::from_utf8(s).unwrap().trim_end_matches('\0').into());
        }
    }
    None
}

fn in_root(rootfs: &Path, p: &str) -> PathBuf {
    rootfs.join(p.trim_start_matches('/'))
}

/// Runs `argv` (absolute paths inside the image) in the rootfs: chroot, or the rootfs's
/// loader with the rootfs's library directories where chroot is not permitted.
fn run_in(rootfs: &Path, argv: &[&str]) -> Output {
    static CHROOT: OnceLock<bool> = OnceLock::new();
    let chroot = *CHROOT.get_or_init(|| {
        if std::env::var_os("COCOCTL_TEST_NO_CHROOT").is_some() {
            eprintln!("COCOCTL_TEST_NO_CHROOT: running the image's programs through its loader");
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
            eprintln!(
                "chroot is not permitted here: running the image's programs through its own \
                 dynamic loader with --library-path into the rootfs instead"
            );
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
    // The loader itself (no PT_INTERP) runs as is; a program runs through its loader.
    let exe = in_root(rootfs, argv[0]);
    let (loader, args) = match interpreter(&exe) {
        Some(loader) => (in_root(rootfs, &loader), argv),
        None => (exe, &argv[1..]),
    };
    let mut cmd = Command::new(loader);
    cmd.arg("--library-path").arg(library_dirs(rootfs));
    for a in args {
        if a.starts_with('/') {
            cmd.arg(in_root(rootfs, a));
        } else {
            cmd.arg(a);
        }
    }
    cmd.output().unwrap()
}

/// Every directory of the rootfs that holds a shared object, `:`-joined.
fn library_dirs(rootfs: &Path) -> String {
    let mut dirs = BTreeSet::new();
    let mut stack = vec![rootfs.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap().to_string_lossy().contains(".so") {
                dirs.insert(d.display().to_string());
            }
        }
    }
    dirs.into_iter().collect::<Vec<_>>().join(":")
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
        .args(["render", "-o", "json", "--set", "customContainerd.enabled=true,customContainerd.tarballUrl=https://e.com/c.tgz,customContainerd.sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"])
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
    let tag = img.index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .unwrap();
    assert_eq!(
        tag,
        format!("ghcr.io/confidential-containers/cococtl:{VERSION}")
    );
    assert_eq!(container["image"], tag);
}

#[test]
fn the_layout_is_a_valid_oci_image_whose_digests_match() {
    let img = image();
    let layout: Value =
        serde_json::from_slice(&std::fs::read(img.layout.join("oci-layout")).unwrap()).unwrap();
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    assert_eq!(img.index["schemaVersion"], 2);
    let desc = &img.index["manifests"][0];
    assert_eq!(img.index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(
        desc["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(desc["digest"], img.printed_digest);
    assert_eq!(img.manifest["schemaVersion"], 2);
    assert_eq!(
        img.manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    // Every blob the manifest names matches its digest (checked_blob), the layer's
    // uncompressed digest is the config's diff_id, and nothing else is in blobs/.
    let layers = img.manifest["layers"].as_array().unwrap();
    let diff_ids = img.config["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(layers.len(), diff_ids.len());
    let mut named = BTreeSet::from([
        desc["digest"].as_str().unwrap().to_string(),
        img.manifest["config"]["digest"]
            .as_str()
            .unwrap()
            .to_string(),
    ]);
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
    let on_disk: BTreeSet<String> = std::fs::read_dir(img.layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    assert_eq!(on_disk, named);
    // The platform is the binary's; the version label is the crate's.
    assert_eq!(img.config["os"], "linux");
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        a => a,
    };
    assert_eq!(img.config["architecture"], arch);
    assert_eq!(desc["platform"]["architecture"], arch);
    assert_eq!(
        img.config["config"]["Labels"]["org.opencontainers.image.version"],
        VERSION
    );
}

#[test]
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
/// rest it runs by path under --host-root: the containerd binaries it installs (their
/// `--version`) and the host's `ctr` for the health gate, both static Go binaries from the
/// host, not from the image.
const FROM_THE_HOST: &[(&str, &str)] = &[(
    "systemctl",
    "the host's, through `nsenter -t 1 -m --` (run directly only with --host-root /)",
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
fn every_program_the_agent_takes_from_the_image_runs_there() {
    let img = image();
    let path_var = img.config["config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| e.as_str().unwrap().strip_prefix("PATH="))
        .expect("PATH in the image config")
        .to_string();
    let names = programs_the_agent_runs_by_name();
    assert!(names.contains("nsenter"), "{names:?}");
    for name in &names {
        if FROM_THE_HOST.iter().any(|(n, _)| n == name) {
            continue;
        }
        let found = path_var
            .split(':')
            .map(|d| format!("{d}/{name}"))
            .find(|p| in_root(&img.rootfs, p).is_file())
            .unwrap_or_else(|| {
                panic!("the agent runs `{name}` but the image has none on {path_var}")
            });
        let out = stdout_ok(&run_in(&img.rootfs, &[&found, "--version"]), name);
        if name == "nsenter" {
            assert!(out.contains("util-linux"), "{out}");
        }
    }
}

#[test]
fn every_shared_library_resolves_inside_the_image() {
    let img = image();
    for exe in ["/cococtl", "/usr/bin/nsenter"] {
        let loader = interpreter(&in_root(&img.rootfs, exe)).expect("dynamically linked");
        assert!(in_root(&img.rootfs, &loader).is_file(), "{loader}");
        let list = stdout_ok(
            &run_in(&img.rootfs, &[&loader, "--list", exe]),
            &format!("{loader} --list {exe}"),
        );
        assert!(!list.contains("not found"), "{exe}:\n{list}");
        let mut libs = 0;
        for line in list.lines() {
            let Some(path) = line
                .split("=>")
                .last()
                .and_then(|s| s.split_whitespace().next())
                .filter(|p| p.starts_with('/'))
            else {
                continue; // linux-vdso
            };
            let path = Path::new(path);
            // chroot: paths inside the image; fallback: rootfs paths on this machine.
            let inside = if path.starts_with(&img.rootfs) {
                path.to_path_buf()
            } else {
                in_root(&img.rootfs, &path.to_string_lossy())
            };
            assert!(inside.is_file(), "{exe} needs {}", path.display());
            libs += 1;
        }
        assert!(libs >= 2, "{exe}: libc and the loader at least:\n{list}");
    }
}

#[test]
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
fn two_builds_of_the_same_binary_are_the_same_image() {
    let img = image();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("again.tar");
    let again = build(&dir.path().join("oci"), Some(&archive));
    assert_eq!(again, img.printed_digest);
    assert_eq!(
        sha256(&std::fs::read(&archive).unwrap()),
        sha256(&std::fs::read(&img.archive).unwrap()),
        "the oci-archive is byte-identical too"
    );
}

#[test]
fn skopeo_reads_the_layout_and_the_archive() {
    // An independent OCI implementation (containers/image) accepts what the script wrote;
    // scripts/setup.d/oci-image.sh installs skopeo.
    let img = image();
    let tag = img.index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .unwrap();
    let inspect = |reference: String| -> Value {
        let o = Command::new("skopeo")
            .args(["inspect", "--raw"])
            .arg(&reference)
            .output()
            .expect("skopeo (run scripts/setup.d/oci-image.sh)");
        serde_json::from_str(&stdout_ok(&o, &format!("skopeo inspect {reference}"))).unwrap()
    };
    let from_layout = inspect(format!("oci:{}:{tag}", img.layout.display()));
    let from_archive = inspect(format!("oci-archive:{}", img.archive.display()));
    assert_eq!(from_layout, img.manifest);
    assert_eq!(from_archive, img.manifest);
    // A full copy verifies every blob's digest on the way.
    let dest = tempfile::tempdir().unwrap();
    let o = Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("oci:{}:{tag}", img.layout.display()))
        .arg(format!("dir:{}", dest.path().display()))
        .output()
        .unwrap();
    stdout_ok(&o, "skopeo copy");
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
fn containerd_imports_the_archive_and_runs_the_agent_in_it() {
    // The runtime the DaemonSet's pod uses: import the oci-archive, unpack it (native
    // snapshotter: works on any filesystem) and run the entrypoint and nsenter under runc.
    let img = image();
    let tag = img.index["manifests"][0]["annotations"]["io.containerd.image.name"]
        .as_str()
        .unwrap();
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
            tag,
            &id,
            "/cococtl",
            "--version",
        ]),
        "ctr run /cococtl --version",
    );
    assert_eq!(version.trim(), format!("cococtl {VERSION}"));
    let nsenter = stdout_ok(
        &c.ctr(&[
            "run",
            "--rm",
            "--snapshotter",
            "native",
            tag,
            &format!("{id}-nsenter"),
            "/usr/bin/nsenter",
            "--version",
        ]),
        "ctr run nsenter --version",
    );
    assert!(nsenter.contains("util-linux"), "{nsenter}");
}
