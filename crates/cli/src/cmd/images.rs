//! `cococtl images`: every image an install runs and every URL its nodes fetch, from the
//! same inputs as `render` (the list is read from the rendered objects by
//! [`cococtl_manifests::images::inventory`]), and how to mirror them: `--mirror` maps each
//! image to where `global.imageRegistry` would move it, `--write-script` writes the copy
//! commands (docs/values.md#global).

use std::fmt::Write as _;
use std::process::ExitCode;

use cococtl_manifests::images::{inventory, Fetch, Image, ImageUse, Inventory};
use cococtl_manifests::{plan, ClusterFacts, Object};
use cococtl_profile::{Resolved, SetArg};
use serde::Serialize;

use super::values_args::ValuesArgs;
use crate::exit;

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Output {
    Text,
    Json,
    Yaml,
}

/// List the images an install runs and the URLs its nodes fetch; plan a registry mirror
#[derive(clap::Args)]
#[command(after_help = "Examples:
  cococtl images --profile x86_64
  cococtl images --profile remote -f aws.yaml -o json
  cococtl images --profile x86_64 --mirror registry.example.com/coco        # source -> mirrored
  cococtl images --profile x86_64 --with-tools       # also the images of cococtl verify and check
  cococtl images --profile remote -f aws.yaml --mirror registry.example.com/coco --write-script mirror.sh
  bash mirror.sh && cococtl install --profile remote -f aws.yaml --set global.imageRegistry=registry.example.com/coco

The images are those of the install and of uninstall's clean-up Job. ARCHES are the
architectures each image must exist for: those its pods' nodeSelector and required node
affinity on kubernetes.io/arch allow, narrowed to the architectures the kata-deploy
DaemonSet targets (the profile's); a pod pinned only elsewhere keeps its own. The mirrored
reference follows global.imageRegistry's rule (docs/values.md#global), so an install with
--set global.imageRegistry=<mirror> pulls exactly the right-hand side.

The script copies each image with `skopeo copy --all` (every architecture, digests kept),
downloads each containerd tarball with curl, checks its SHA-256, and pushes it with
`cococtl artifact push --file <tarball> oci://<mirror>/containerd:<version>`.

Exit codes: 0 listed, 2 invalid input (nothing printed on stdout).")]
pub struct ImagesArgs {
    #[command(flatten)]
    pub values: ValuesArgs,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: Output,
    /// Also show where each image goes in this registry (host[:port][/path]), by
    /// global.imageRegistry's rule
    #[arg(long, value_name = "REGISTRY")]
    pub mirror: Option<String>,
    /// Write a bash script that copies every image (and containerd tarball) to --mirror
    #[arg(long, value_name = "FILE", requires = "mirror")]
    pub write_script: Option<String>,
    /// Also list the images of `cococtl verify`'s pods and `cococtl check`'s probe
    /// (not part of the install; they pull from the same mirror)
    #[arg(long)]
    pub with_tools: bool,
}

/// One image as printed: the inventory entry, with its mirrored reference.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Listed<'a> {
    #[serde(flatten)]
    image: &'a Image,
    #[serde(skip_serializing_if = "Option::is_none")]
    mirror: Option<String>,
}

#[derive(Serialize)]
struct Report<'a> {
    schema: &'static str,
    images: Vec<Listed<'a>>,
    urls: &'a [Fetch],
}

/// Every object an install and its uninstall apply.
fn objects(r: &Resolved) -> Vec<Object> {
    let p = plan(&r.config, ClusterFacts::default());
    p.install().chain(p.uninstall()).cloned().collect()
}

/// The inputs with one more `--set`, applied after every other.
fn resolve_with(args: &ValuesArgs, set: String) -> Result<Resolved, String> {
    let mut inputs = args.inputs()?;
    inputs.sets.push(SetArg {
        string: false,
        arg: set,
    });
    cococtl_profile::resolve(&inputs).map_err(|e| e.to_string())
}

/// Where each listed image goes with `mirror`: the same container's image once the values
/// are resolved with `global.imageRegistry=<mirror>`, so the per-image keys the user set
/// stay where they are exactly as an install would keep them.
fn mirrored(args: &ValuesArgs, mirror: &str, inv: &Inventory) -> Result<Vec<String>, String> {
    let to = resolve_with(args, format!("global.imageRegistry={mirror}"))?;
    let dest = inventory(&objects(&to), &to.config);
    let find = |u: &ImageUse| {
        dest.images
            .iter()
            .find(|i| i.used_by.contains(u))
            .map(|i| i.reference.clone())
    };
    inv.images
        .iter()
        .map(|i| {
            i.used_by
                .first()
                .and_then(find)
                .ok_or_else(|| format!("{}: no mirrored counterpart (a bug)", i.reference))
        })
        .collect()
}

/// The images `cococtl verify` and `cococtl check` run by default next to an install,
/// where the install's values put them (`verify` follows the release's
/// `global.imageRegistry`, `check` its `--image-registry`, by the same rule).
fn tools(config: &cococtl_profile::Config) -> Vec<Image> {
    let arches = config.schedulable_arches.clone();
    let one = |reference: String, kind: &str, namespace: &str, name: &str, container: &str| {
        // Where the install's own images are (its global.imageRegistry, if any).
        let reference = config.global.mirrored(&reference);
        Image {
            digest: cococtl_manifests::images::digest_of(&reference),
            reference,
            arches: arches.clone(),
            used_by: vec![ImageUse {
                kind: kind.into(),
                namespace: namespace.into(),
                name: name.into(),
                container: container.into(),
                init: false,
            }],
        }
    };
    vec![
        one(
            cococtl_cluster::verify::DEFAULT_IMAGE.into(),
            "Pod",
            &config.namespace,
            "cococtl-verify-<runtimeclass>",
            "verify",
        ),
        one(
            cococtl_profile::default_agent_image(),
            "DaemonSet",
            cococtl_manifests::probe_agent::CHECK_NAME,
            cococtl_manifests::probe_agent::CHECK_NAME,
            "probe",
        ),
    ]
}

/// Adds `extra` (with their mirrored references, when mapping) to the inventory: a
/// reference already listed gains the uses, a new one is inserted in reference order.
fn add_images(
    inv: &mut Inventory,
    dest: &mut Option<Vec<String>>,
    extra: Vec<Image>,
    mirror: Option<&str>,
) {
    for e in extra {
        if let Some(i) = inv.images.iter_mut().find(|i| i.reference == e.reference) {
            i.used_by.extend(e.used_by);
            for a in e.arches {
                if !i.arches.contains(&a) {
                    i.arches.push(a);
                }
            }
            i.arches.sort();
            continue;
        }
        let at = inv.images.partition_point(|i| i.reference < e.reference);
        if let (Some(d), Some(m)) = (dest.as_mut(), mirror) {
            d.insert(at, cococtl_profile::mirror::rewrite(&e.reference, m));
        }
        inv.images.insert(at, e);
    }
}

pub fn run(args: ImagesArgs) -> ExitCode {
    if let Some(m) = &args.mirror {
        if let Some(why) = cococtl_profile::mirror::check_registry(m) {
            return exit::invalid(&format!(
                "--mirror {m}: {why}\n  fix: --mirror registry.example.com/coco"
            ));
        }
    }
    // With a mirror, the sources are the upstream references (no global.imageRegistry),
    // whatever the values say.
    let resolved = match &args.mirror {
        Some(_) => resolve_with(&args.values, "global.imageRegistry=".into()),
        None => args
            .values
            .inputs()
            .and_then(|i| cococtl_profile::resolve(&i).map_err(|e| e.to_string())),
    };
    let resolved = match resolved {
        Ok(r) => r,
        Err(e) => return exit::invalid(&e),
    };
    exit::warnings(&resolved.warnings);
    let mut inv = inventory(&objects(&resolved), &resolved.config);
    let mut mirrors = match &args.mirror {
        Some(m) => match mirrored(&args.values, m, &inv) {
            Ok(d) => Some(d),
            Err(e) => return exit::invalid(&e),
        },
        None => None,
    };
    if args.with_tools {
        add_images(
            &mut inv,
            &mut mirrors,
            tools(&resolved.config),
            args.mirror.as_deref(),
        );
    }
    if let (Some(path), Some(m), Some(d)) = (&args.write_script, &args.mirror, &mirrors) {
        let script = script(&inv, d, m);
        if let Err(e) = std::fs::write(path, script) {
            return exit::failed(&format!("--write-script {path}: cannot write: {e}"));
        }
        eprintln!("wrote {path}");
    }
    let listed: Vec<Listed> = inv
        .images
        .iter()
        .enumerate()
        .map(|(n, image)| Listed {
            image,
            mirror: mirrors.as_ref().and_then(|d| d.get(n).cloned()),
        })
        .collect();
    let report = Report {
        schema: "cococtl.confidentialcontainers.org/images/v1",
        images: listed,
        urls: &inv.urls,
    };
    exit::print(&match args.output {
        Output::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
        Output::Yaml => serde_yaml::to_string(&report).unwrap_or_default(),
        Output::Text => text(&report, args.mirror.is_some()),
    })
}

fn arches(a: &[cococtl_core::Arch]) -> String {
    a.iter().map(|a| a.k8s_name()).collect::<Vec<_>>().join(",")
}

/// With a mirror: one `SOURCE -> MIRRORED` line per image. Without: each image with its
/// architectures, digest and the containers that run it. Then the URLs.
fn text(r: &Report, with_mirror: bool) -> String {
    let mut s = String::new();
    for l in &r.images {
        let i = l.image;
        if with_mirror {
            let _ = writeln!(
                s,
                "{} -> {}",
                i.reference,
                l.mirror.as_deref().unwrap_or("?")
            );
            continue;
        }
        let _ = writeln!(s, "{}", i.reference);
        let _ = writeln!(s, "  arches: {}", arches(&i.arches));
        if let Some(d) = &i.digest {
            let _ = writeln!(s, "  digest: {d}");
        }
        for u in &i.used_by {
            let ns = if u.namespace.is_empty() {
                String::new()
            } else {
                format!("{}/", u.namespace)
            };
            let init = if u.init {
                "init container"
            } else {
                "container"
            };
            let _ = writeln!(
                s,
                "  used by: {} {ns}{} {init} {}",
                u.kind, u.name, u.container
            );
        }
    }
    for f in r.urls {
        let _ = writeln!(s, "{}", f.url);
        let _ = writeln!(
            s,
            "  fetched by: the node agent on {} nodes",
            arches(&f.arches)
        );
        if let Some(v) = &f.version {
            let _ = writeln!(s, "  containerd: {v}");
        }
        match (&f.sha256, &f.checksum_url) {
            (Some(h), _) => {
                let _ = writeln!(s, "  sha256: {h}");
            }
            (None, Some(u)) => {
                let _ = writeln!(s, "  checksum url: {u}");
            }
            (None, None) => {
                let _ = writeln!(s, "  checksum: none (allowUnverified)");
            }
        }
        if let (Some(_), Some(u)) = (&f.sha256, &f.checksum_url) {
            let _ = writeln!(s, "  checksum url: {u}");
        }
    }
    s
}

/// `s` as one bash word.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The tarball's tag in the mirror: its containerd version, with the architectures
/// appended when the install fetches several tarballs (one tag per tarball).
fn tarball_tag(f: &Fetch, several: bool, file: &str) -> String {
    let base = f.version.clone().unwrap_or_else(|| {
        file.trim_end_matches(".tar.gz")
            .trim_end_matches(".tgz")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    });
    if several {
        format!("{base}-{}", arches(&f.arches).replace(',', "-"))
    } else {
        base
    }
}

/// `repo[:tag]`, the reference without its digest.
fn without_digest(r: &str) -> &str {
    r.split_once('@').map_or(r, |(n, _)| n)
}

/// Whether `name` (no digest) has a tag: a `:` after its last `/`.
fn has_tag(name: &str) -> bool {
    name.rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'))
}

/// What skopeo copies for one image, and any extra flags. skopeo takes a tag or a digest,
/// not both, and cannot push to a digest: a pinned image is read by its digest
/// (`repo@sha256:…`) and written under its tag (or `sha256-<hex>` without one) with
/// `--preserve-digests`, so `dest@sha256:…` resolves to the same bytes.
fn copy_refs(src: &str, dst: &str) -> (String, String, &'static str) {
    let Some(digest) = cococtl_manifests::images::digest_of(src) else {
        return (src.to_string(), dst.to_string(), "");
    };
    let name = without_digest(src);
    let repo = if has_tag(name) {
        name.rsplit_once(':').map_or(name, |(r, _)| r)
    } else {
        name
    };
    let dst_name = without_digest(dst);
    let dst = if has_tag(dst_name) {
        dst_name.to_string()
    } else {
        format!("{dst_name}:{}", digest.replace(':', "-"))
    };
    (format!("{repo}@{digest}"), dst, " --preserve-digests")
}

/// The mirroring script: a `skopeo copy --all` per image, and per containerd tarball a
/// download, its SHA-256 check and `cococtl artifact push`.
fn script(inv: &Inventory, dest: &[String], mirror: &str) -> String {
    let mirror = mirror.trim_end_matches('/');
    let mut s = String::from(
        "#!/usr/bin/env bash\n\
         # Written by `cococtl images --write-script`: copies what the install pulls into the\n\
         # mirror; install afterwards with --set global.imageRegistry=",
    );
    s.push_str(mirror);
    s.push_str(
        ".\n\
         # Needs skopeo (logged in to both registries), curl, sha256sum and cococtl.\n\
         set -euo pipefail\n\n\
         # Images: --all copies every architecture and keeps the digests.\n",
    );
    for (i, d) in inv.images.iter().zip(dest) {
        if i.reference == *d {
            let _ = writeln!(
                s,
                "# kept as set in the values (not mirrored): {}",
                i.reference
            );
            continue;
        }
        let (src, dst, flags) = copy_refs(&i.reference, d);
        let _ = writeln!(
            s,
            "skopeo copy --all{flags} {} {}",
            quote(&format!("docker://{src}")),
            quote(&format!("docker://{dst}"))
        );
    }
    let several = inv.urls.len() > 1;
    for f in &inv.urls {
        let file = f.url.rsplit('/').next().unwrap_or("containerd.tar.gz");
        let file = if file.is_empty() {
            "containerd.tar.gz"
        } else {
            file
        };
        let _ = writeln!(s, "\n# containerd tarball for {} nodes", arches(&f.arches));
        let _ = writeln!(
            s,
            "curl -fsSL --retry 3 -o {} {}",
            quote(file),
            quote(&f.url)
        );
        match (&f.sha256, &f.checksum_url) {
            (Some(h), _) => {
                let _ = writeln!(
                    s,
                    "echo {} | sha256sum -c -",
                    quote(&format!("{h}  {file}"))
                );
            }
            (None, Some(u)) => {
                let sums = format!("{file}.sha256sum");
                let _ = writeln!(s, "curl -fsSL --retry 3 -o {} {}", quote(&sums), quote(u));
                let _ = writeln!(s, "sha256sum -c --ignore-missing {}", quote(&sums));
            }
            (None, None) => {
                s.push_str("# no checksum is configured (allowUnverified): the tarball is pushed as downloaded\n");
            }
        }
        let artifact = format!(
            "oci://{mirror}/containerd:{}",
            tarball_tag(f, several, file)
        );
        let _ = writeln!(
            s,
            "cococtl artifact push --file {} {}",
            quote(file),
            quote(&artifact)
        );
        let _ = writeln!(
            s,
            "# nodes fetch it from the mirror with customContainerd.tarballUrl{} set to {artifact}",
            match f.arches.as_slice() {
                [a] if several => format!("s.{}", a.k8s_name()),
                _ => String::new(),
            }
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_image_is_copied_by_digest_under_its_tag() {
        let d = format!("sha256:{}", "a".repeat(64));
        let (src, dst, flags) = copy_refs(
            &format!("ghcr.io/x/cococtl:0.1.0@{d}"),
            &format!("m.io/coco/x/cococtl:0.1.0@{d}"),
        );
        assert_eq!(src, format!("ghcr.io/x/cococtl@{d}"));
        assert_eq!(dst, "m.io/coco/x/cococtl:0.1.0");
        assert_eq!(flags, " --preserve-digests");
        let (src, dst, _) = copy_refs(&format!("localhost:5000/x@{d}"), &format!("m.io/c/x@{d}"));
        assert_eq!(src, format!("localhost:5000/x@{d}"));
        assert_eq!(dst, format!("m.io/c/x:sha256-{}", "a".repeat(64)));
        assert_eq!(copy_refs("q.io/a:1", "m.io/a:1").2, "");
    }

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(quote("a'b"), r"'a'\''b'");
    }
}
