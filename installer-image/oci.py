"""Writes the node-agent image as an OCI image layout: one image index, one image per
architecture, each a single layer. Called by installer-image/build, which has already
checked each binary's --version; this file owns the bytes (layer tar, config, manifests,
index, oci-archive) and their determinism. Python's stdlib only.

Usage: oci.py --ca FILE --version V --tag REF --out DIR --archive FILE|'' --quiet 0|1 ARCH=PATH...
"""

import argparse
import gzip
import hashlib
import json
import os
import shutil
import struct
import sys
import tarfile
import time

# OCI platform of each architecture the build accepts, and the ELF machine its binary has.
PLATFORMS = {
    "amd64": ({"architecture": "amd64", "os": "linux"}, 62),
    "arm64": ({"architecture": "arm64", "os": "linux", "variant": "v8"}, 183),
    "s390x": ({"architecture": "s390x", "os": "linux"}, 22),
}
ORDER = ["amd64", "arm64", "s390x"]
CA_PATH = "/etc/ssl/certs/ca-certificates.crt"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"


def die(msg):
    print(f"installer-image/build: {msg}", file=sys.stderr)
    sys.exit(1)


def elf(path):
    """(ELF machine, PT_INTERP or None) of a 64-bit ELF file."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF":
            die(f"{path} is not an ELF file")
        if head[4] != 2:
            die(f"{path} is not a 64-bit ELF file")
        end = "<" if head[5] == 1 else ">"
        machine = struct.unpack(end + "H", head[18:20])[0]
        phoff, = struct.unpack(end + "Q", head[32:40])
        phentsize, phnum = struct.unpack(end + "HH", head[54:58])
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            ph = f.read(phentsize)
            if struct.unpack(end + "I", ph[:4])[0] == 3:  # PT_INTERP
                off, = struct.unpack(end + "Q", ph[8:16])
                size, = struct.unpack(end + "Q", ph[32:40])
                f.seek(off)
                return machine, f.read(size).rstrip(b"\0").decode()
    return machine, None


def digest(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def canon(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


class Hashing:
    """A write-only file that hashes and counts what passes through it."""

    def __init__(self, f):
        self.f, self.h, self.n = f, hashlib.sha256(), 0

    def write(self, b):
        self.h.update(b)
        self.n += len(b)
        return self.f.write(b)

    def flush(self):
        self.f.flush()


def tarinfo(name, epoch):
    ti = tarfile.TarInfo(name)
    ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = epoch, 0, 0, "", ""
    return ti


def write_layer(blobs, files, dirs, epoch):
    """Streams the layer to blobs/: sorted paths, no owner, fixed mtime, regular files
    only, gzip without name or timestamp. Returns (digest, size, diff_id, tar size)."""
    tmp = os.path.join(blobs, ".layer.tmp")
    with open(tmp, "wb") as f:
        zipped = Hashing(f)
        with gzip.GzipFile(filename="", mode="wb", fileobj=zipped, mtime=0, compresslevel=6) as g:
            plain = Hashing(g)
            with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as t:
                for p in sorted(set(files) | set(dirs)):
                    ti = tarinfo(p.lstrip("/"), epoch)
                    if p in dirs:
                        ti.type, ti.mode = tarfile.DIRTYPE, dirs[p]
                        t.addfile(ti)
                    else:
                        src, ti.mode = files[p]
                        ti.size = os.path.getsize(src)
                        with open(src, "rb") as s:
                            t.addfile(ti, s)
    layer = "sha256:" + zipped.h.hexdigest()
    os.replace(tmp, os.path.join(blobs, layer[7:]))
    return layer, zipped.n, "sha256:" + plain.h.hexdigest(), plain.n


def main():
    ap = argparse.ArgumentParser()
    for opt in ("--ca", "--version", "--tag", "--out", "--archive", "--quiet"):
        ap.add_argument(opt, required=True)
    ap.add_argument("binaries", nargs="+", metavar="ARCH=PATH")
    a = ap.parse_args()
    quiet = a.quiet == "1"
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))

    binaries = {}
    for spec in a.binaries:
        arch, _, path = spec.partition("=")
        if arch not in PLATFORMS:
            die(f"unknown architecture {arch}")
        machine, interp = elf(path)
        if machine != PLATFORMS[arch][1]:
            die(f"{path} (--binary-{arch}) is an ELF for machine {machine}, not linux/{arch}")
        # The image has no loader and no libraries: only a static binary runs in it.
        if interp is not None:
            die(f"{path} (--binary-{arch}) is dynamically linked (loader {interp}); the image "
                f"holds no loader or libraries: build it static (installer-image/build --build, "
                f"or cargo build --target <the musl / crt-static triple in .cargo/config.toml>)")
        binaries[arch] = path

    out = a.out
    if os.path.lexists(out):
        if os.path.isdir(out) and (not os.listdir(out) or os.path.exists(os.path.join(out, "oci-layout"))):
            shutil.rmtree(out)
        else:
            die(f"{out} exists and is not an OCI image layout; not replacing it")
    blobs = os.path.join(out, "blobs", "sha256")
    os.makedirs(blobs)
    layout = canon({"imageLayoutVersion": "1.0.0"})
    # Written first, so that a failed run leaves a directory the next run may replace.
    with open(os.path.join(out, "oci-layout"), "wb") as f:
        f.write(layout)

    labels = {
        "org.opencontainers.image.title": "cococtl",
        "org.opencontainers.image.description": "cococtl node agent (custom containerd installer, readiness probe)",
        "org.opencontainers.image.version": a.version,
        "org.opencontainers.image.source": "https://github.com/confidential-containers/cococtl",
        "org.opencontainers.image.licenses": "Apache-2.0",
    }
    small = {}  # blob digest -> bytes (configs, manifests, the index)
    descriptors, report = [], []
    dirs = {"/etc": 0o755, "/etc/ssl": 0o755, "/etc/ssl/certs": 0o755, "/tmp": 0o1777}
    for arch in ORDER:
        if arch not in binaries:
            continue
        platform = PLATFORMS[arch][0]
        files = {"/cococtl": (binaries[arch], 0o755), CA_PATH: (a.ca, 0o644)}
        layer, layer_size, diff_id, unpacked = write_layer(blobs, files, dirs, epoch)
        config = canon({
            "created": created,
            **platform,
            "config": {
                "Entrypoint": ["/cococtl"],
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "WorkingDir": "/",
                "Labels": labels,
            },
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": created, "created_by": "installer-image/build"}],
        })
        manifest = canon({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config), "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": layer_size}],
            "annotations": {"org.opencontainers.image.version": a.version, "org.opencontainers.image.created": created},
        })
        small[digest(config)] = config
        small[digest(manifest)] = manifest
        descriptors.append({"mediaType": MANIFEST, "digest": digest(manifest), "size": len(manifest), "platform": platform})
        report.append((arch, digest(manifest), layer_size, unpacked, os.path.getsize(binaries[arch])))

    # The image index: what a registry serves for the tag, each node pulling its platform.
    index = canon({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": descriptors,
        "annotations": {"org.opencontainers.image.version": a.version, "org.opencontainers.image.created": created},
    })
    small[digest(index)] = index
    # index.json names the index under the tag. ref.name: what `skopeo copy oci:DIR:REF`
    # selects; io.containerd.image.name: the name `ctr images import` gives the image.
    top = canon({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [{
            "mediaType": INDEX,
            "digest": digest(index),
            "size": len(index),
            "annotations": {"org.opencontainers.image.ref.name": a.tag, "io.containerd.image.name": a.tag},
        }],
    })
    for d, data in small.items():
        with open(os.path.join(blobs, d[7:]), "wb") as f:
            f.write(data)
    with open(os.path.join(out, "index.json"), "wb") as f:
        f.write(top)

    if a.archive:
        # oci-archive: the layout as a tar, same rules as the layer.
        os.makedirs(os.path.dirname(os.path.abspath(a.archive)), exist_ok=True)
        with tarfile.open(a.archive, mode="w", format=tarfile.PAX_FORMAT) as t:
            names = ["blobs", "blobs/sha256", "index.json", "oci-layout"]
            names += [f"blobs/sha256/{n}" for n in os.listdir(blobs)]
            for name in sorted(names):
                path = os.path.join(out, name)
                ti = tarinfo(name, epoch)
                if os.path.isdir(path):
                    ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                    t.addfile(ti)
                else:
                    ti.size, ti.mode = os.path.getsize(path), 0o644
                    with open(path, "rb") as f:
                        t.addfile(ti, f)

    if quiet:
        print(digest(index))
        return
    name = a.tag.split("@", 1)[0]
    repository, tagged = name, "latest"
    if ":" in name.rsplit("/", 1)[-1]:
        repository, tagged = name.rsplit(":", 1)
    lines = [f"cococtl node-agent image {a.tag}", f"  layout:   {out}"]
    if a.archive:
        lines.append(f"  archive:  {a.archive}")
    lines.append(f"  index:    {digest(index)}")
    for arch, m, gz, plain, binsize in report:
        p = PLATFORMS[arch][0]
        plat = "/".join([p["os"], p["architecture"]] + ([p["variant"]] if "variant" in p else []))
        lines.append(f"  {plat:<15} {m}  layer {gz} bytes gzipped ({plain} as tar; binary {binsize})")
    lines += [
        f"Push every platform (skopeo, from Debian's skopeo package; `skopeo login {name.split('/', 1)[0]}` first):",
        f"  skopeo copy --all oci:{out}:{a.tag} docker://{name}",
        "Or load it into a node's containerd without a registry (needs --archive):",
        f"  ctr -n k8s.io images import {a.archive or 'FILE'}",
        "Select it when rendering or installing:",
        f"  --set customContainerd.image.repository={repository},customContainerd.image.tag={tagged}",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
