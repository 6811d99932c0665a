//! The static cross-built binaries (x86_64 and aarch64 musl, s390x glibc with crt-static)
//! and the multi-architecture image made of them: each binary is static and for its
//! machine, runs under qemu-user-static (amd64 natively) and there answers exactly what
//! this machine's test build answers (`--version`, `render --profile <its arch>`, `probe`
//! on a fixture host of its architecture), and the image index lists one manifest per
//! platform whose layer holds that binary, which runs.
//!
//! Ignored in `cargo test`: `scripts/test` cross-builds the binaries in the dev profile,
//! builds the image with installer-image/build and runs this with `--ignored` and
//! COCOCTL_STATIC_{AMD64,ARM64,S390X}, COCOCTL_IMAGE_LAYOUT set; a missing binary, qemu or
//! skopeo fails the test. (The amd64 image's content and its run under containerd are
//! `installer_image.rs`'s; two builds giving one digest is checked there.)

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sha2::{Digest, Sha256};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// One node architecture: its OCI name, ELF machine, Rust target, qemu runner (none for
/// this machine's), built-in profile and fixture host.
struct Arch {
    oci: &'static str,
    variant: Option<&'static str>,
    machine: u16,
    triple: &'static str,
    var: &'static str,
    qemu: Option<&'static str>,
    profile: &'static str,
    fixture: &'static str,
}

const ARCHES: &[Arch] = &[
    Arch {
        oci: "amd64",
        variant: None,
        machine: 62,
        triple: "x86_64-unknown-linux-musl",
        var: "COCOCTL_STATIC_AMD64",
        qemu: None,
        profile: "x86_64",
        fixture: "",
    },
    Arch {
        oci: "arm64",
        variant: Some("v8"),
        machine: 183,
        triple: "aarch64-unknown-linux-musl",
        var: "COCOCTL_STATIC_ARM64",
        qemu: Some("qemu-aarch64-static"),
        profile: "aarch64",
        fixture: "aarch64",
    },
    Arch {
        oci: "s390x",
        variant: None,
        machine: 22,
        triple: "s390x-unknown-linux-gnu",
        var: "COCOCTL_STATIC_S390X",
        qemu: Some("qemu-s390x-static"),
        profile: "s390x",
        fixture: "s390x-se",
    },
];

fn foreign() -> impl Iterator<Item = &'static Arch> {
    ARCHES.iter().filter(|a| a.qemu.is_some())
}

/// A path scripts/test hands over; missing is a failure, not a skip.
fn given(var: &str) -> PathBuf {
    let p = PathBuf::from(std::env::var_os(var).unwrap_or_else(|| {
        panic!("{var} is not set: scripts/test sets it (cross-built binaries and the image)")
    }));
    assert!(
        p.is_file() || p.is_dir(),
        "{var}={} does not exist",
        p.display()
    );
    p
}

/// Runs `bin` with `args`, under the architecture's qemu when it is foreign.
fn run(arch: &Arch, bin: &Path, args: &[&str]) -> Output {
    let mut cmd = match arch.qemu {
        Some(q) => {
            let mut c = Command::new(q);
            c.arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.args(args).output().unwrap_or_else(|e| {
        panic!(
            "{} {}: {e} (scripts/setup.d/cross.sh installs qemu-user-static)",
            arch.qemu.unwrap_or(""),
            bin.display()
        )
    })
}

fn native(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what}: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// (ELF machine, whether a PT_INTERP is present) of a 64-bit ELF file of either byte order.
fn elf(path: &Path) -> (u16, bool) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..4], b"\x7fELF", "{} is not ELF", path.display());
    assert_eq!(b[4], 2, "{} is not 64-bit", path.display());
    let big = b[5] == 2;
    let u16_at = |o: usize| {
        let x: [u8; 2] = b[o..o + 2].try_into().unwrap();
        if big {
            u16::from_be_bytes(x)
        } else {
            u16::from_le_bytes(x)
        }
    };
    let u32_at = |o: usize| {
        let x: [u8; 4] = b[o..o + 4].try_into().unwrap();
        if big {
            u32::from_be_bytes(x)
        } else {
            u32::from_le_bytes(x)
        }
    };
    let u64_at = |o: usize| {
        let x: [u8; 8] = b[o..o + 8].try_into().unwrap();
        if big {
            u64::from_be_bytes(x)
        } else {
            u64::from_le_bytes(x)
        }
    };
    let (phoff, phentsize, phnum) = (u64_at(32) as usize, usize::from(u16_at(54)), u16_at(56));
    // A static-pie has PT_DYNAMIC (its own relocations) but no loader; only PT_INTERP
    // makes the kernel look for one.
    const PT_INTERP: u32 = 3;
    let interp = (0..usize::from(phnum)).any(|i| u32_at(phoff + i * phentsize) == PT_INTERP);
    (u16_at(18), interp)
}

#[test]
#[ignore = "run by scripts/test on the static cross-built binaries"]
fn every_binary_is_static_and_for_its_machine() {
    for a in ARCHES {
        let bin = given(a.var);
        let (machine, interp) = elf(&bin);
        assert_eq!(
            machine,
            a.machine,
            "{} is not a {} binary",
            bin.display(),
            a.oci
        );
        assert!(
            !interp,
            "{} names a dynamic loader (PT_INTERP)",
            bin.display()
        );
        // `file`'s independent reading, where it is installed.
        if let Ok(o) = Command::new("file").arg("-b").arg(&bin).output() {
            let what = String::from_utf8_lossy(&o.stdout);
            assert!(
                what.contains("statically linked") || what.contains("static-pie linked"),
                "{}: {what}",
                bin.display()
            );
        }
    }
}

#[test]
#[ignore = "run by scripts/test on the static cross-built binaries"]
fn every_binary_answers_its_version_and_target() {
    for a in ARCHES {
        let bin = given(a.var);
        let out = ok(
            &run(a, &bin, &["--version"]),
            &format!("{} --version", a.oci),
        );
        assert_eq!(out.trim(), format!("cococtl {VERSION}"));
        let v: Value = serde_json::from_str(&ok(
            &run(a, &bin, &["version", "-o", "json"]),
            &format!("{} version -o json", a.oci),
        ))
        .unwrap();
        assert_eq!(v["version"], VERSION);
        assert_eq!(v["target"], a.triple, "{}", a.oci);
        assert_eq!(v["upstream"]["kataDeploy"], "4.1.0");
    }
}

#[test]
#[ignore = "run by scripts/test on the static cross-built binaries"]
fn a_foreign_binary_renders_its_profile_as_this_machine_does() {
    for a in foreign() {
        let bin = given(a.var);
        let args = ["render", "--profile", a.profile];
        let theirs = ok(&run(a, &bin, &args), &format!("{} render", a.oci));
        let ours = ok(&native(&args), "native render");
        assert!(theirs.contains("kind: DaemonSet"), "{theirs}");
        assert!(
            theirs == ours,
            "{} renders --profile {} differently",
            a.oci,
            a.profile
        );
    }
}

#[test]
#[ignore = "run by scripts/test on the static cross-built binaries"]
fn a_foreign_binary_probes_a_host_of_its_architecture_as_this_machine_does() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hosts");
    for a in foreign() {
        let bin = given(a.var);
        let dir = fixtures.join(a.fixture);
        let (root, hw) = (dir.join("root"), dir.join("hw.json"));
        let (root, hw) = (root.to_str().unwrap(), hw.to_str().unwrap());
        let args = [
            "probe",
            "-o",
            "json",
            "--profile",
            a.profile,
            "--root",
            root,
            "--hw",
            hw,
        ];
        let theirs = run(a, &bin, &args);
        let ours = native(&args);
        let report: Value = serde_json::from_slice(&theirs.stdout).unwrap_or_else(|e| {
            panic!(
                "{} probe: {e}\n{}",
                a.oci,
                String::from_utf8_lossy(&theirs.stderr)
            )
        });
        // The fixture is that architecture's host, ready for its profile (s390x: IBM SE;
        // aarch64: the coco-dev shim), as either binary reads it.
        assert_eq!(
            report["profile"]["ready"], true,
            "{} on {}: {report}",
            a.oci, a.fixture
        );
        assert_eq!(theirs.status.code(), Some(0), "{} probe exit", a.oci);
        assert_eq!(
            theirs.status.code(),
            ours.status.code(),
            "{} probe exit",
            a.oci
        );
        assert!(
            theirs.stdout == ours.stdout,
            "{} probes {} differently:\n{}\n---\n{}",
            a.oci,
            a.fixture,
            String::from_utf8_lossy(&theirs.stdout),
            String::from_utf8_lossy(&ours.stdout)
        );
    }
}

fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    let b = std::fs::read(layout.join("blobs/sha256").join(&digest[7..])).unwrap();
    assert_eq!(sha256(&b), digest);
    b
}

/// The index under the layout's one tag, as skopeo (containers/image) reads it.
fn skopeo_index(layout: &Path) -> Value {
    let top: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let tag = top["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .unwrap()
        .to_string();
    let o = Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:{tag}", layout.display()))
        .output()
        .expect("skopeo (scripts/setup.d/oci-image.sh installs it)");
    serde_json::from_str(&ok(&o, "skopeo inspect --raw")).unwrap()
}

#[test]
#[ignore = "run by scripts/test on the static cross-built binaries"]
fn the_index_lists_every_platform_with_its_digest() {
    let layout = given("COCOCTL_IMAGE_LAYOUT");
    let index = skopeo_index(&layout);
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), ARCHES.len(), "{index}");
    for a in ARCHES {
        let m = manifests
            .iter()
            .find(|m| m["platform"]["architecture"] == a.oci)
            .unwrap_or_else(|| panic!("no linux/{} in {index}", a.oci));
        assert_eq!(m["platform"]["os"], "linux");
        assert_eq!(m["platform"]["variant"].as_str(), a.variant, "{}", a.oci);
        let digest = m["digest"].as_str().unwrap();
        assert!(
            digest.starts_with("sha256:") && digest.len() == 71,
            "{digest}"
        );
        assert_eq!(
            blob(&layout, digest).len() as u64,
            m["size"].as_u64().unwrap()
        );
    }
}

#[test]
#[ignore = "run by scripts/test on the static cross-built binaries"]
fn every_platform_layer_holds_its_binary_and_it_runs() {
    let layout = given("COCOCTL_IMAGE_LAYOUT");
    let index = skopeo_index(&layout);
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("foreign-arch-layers");
    let _ = std::fs::remove_dir_all(&work);
    for a in ARCHES {
        let desc = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["platform"]["architecture"] == a.oci)
            .unwrap();
        let manifest: Value =
            serde_json::from_slice(&blob(&layout, desc["digest"].as_str().unwrap())).unwrap();
        let config: Value = serde_json::from_slice(&blob(
            &layout,
            manifest["config"]["digest"].as_str().unwrap(),
        ))
        .unwrap();
        assert_eq!(config["architecture"], a.oci);
        assert_eq!(config["config"]["Entrypoint"][0], "/cococtl");
        let layers = manifest["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 1);
        let gz = blob(&layout, layers[0]["digest"].as_str().unwrap());
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut tar)
            .unwrap();
        let rootfs = work.join(a.oci);
        std::fs::create_dir_all(&rootfs).unwrap();
        let mut ar = tar::Archive::new(&tar[..]);
        ar.set_preserve_permissions(true);
        ar.unpack(&rootfs).unwrap();
        let inside = rootfs.join("cococtl");
        assert_eq!(
            sha256(&std::fs::read(&inside).unwrap()),
            sha256(&std::fs::read(given(a.var)).unwrap()),
            "linux/{}'s /cococtl is the {} binary",
            a.oci,
            a.triple
        );
        assert!(rootfs.join("etc/ssl/certs/ca-certificates.crt").is_file());
        let out = ok(
            &run(a, &inside, &["--version"]),
            &format!("{} /cococtl", a.oci),
        );
        assert_eq!(out.trim(), format!("cococtl {VERSION}"));
    }
    let _ = std::fs::remove_dir_all(&work);
}
