#!/usr/bin/env python3
"""Writes the unsafe and broken tarballs of the node-agent tests into OUT, from the good
release directory SRC (holding bin/containerd, bin/containerd-shim-runc-v2, bin/ctr).
Usage: bad_tarballs.py SRC OUT"""
import gzip, io, os, sys, tarfile

src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)

def good_members(tar, skip=()):
    for name in ["containerd", "containerd-shim-runc-v2", "ctr"]:
        if name not in skip:
            tar.add(os.path.join(src, "bin", name), arcname=f"bin/{name}")

def make(name, extra, skip=()):
    with tarfile.open(os.path.join(out, name), "w:gz") as tar:
        good_members(tar, skip)
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)

def file(name, data=b"x"):
    i = tarfile.TarInfo(name)
    i.size = len(data)
    return (i, data)

def special(name, kind, target=""):
    i = tarfile.TarInfo(name)
    i.type = kind
    i.linkname = target
    return (i, None)

make("dotdot.tar.gz", [file("bin/../../etc/evil")])
make("absolute.tar.gz", [file("/etc/evil")])
make("symlink-out.tar.gz", [special("bin/escape", tarfile.SYMTYPE, "../../../etc/shadow")])
# A chain of links that each stay inside, but together resolve to the host's /usr/bin:
# a -> ., up1 -> a/.., up2 -> up1/.., ..., bin -> up6/usr/bin.
chain = [special("a", tarfile.SYMTYPE, ".")]
chain.append(special("up1", tarfile.SYMTYPE, "a/.."))
for k in range(2, 7):
    chain.append(special(f"up{k}", tarfile.SYMTYPE, f"up{k-1}/.."))
chain.append(special("bin", tarfile.SYMTYPE, "up6/usr/bin"))
with tarfile.open(os.path.join(out, "symlink-chain.tar.gz"), "w:gz") as tar:
    for info, data in chain:
        tar.addfile(info, None)
# bin/containerd a (sibling) link to the real binary: must be refused at verify.
with tarfile.open(os.path.join(out, "containerd-symlink.tar.gz"), "w:gz") as tar:
    good_members(tar, skip=("containerd",))
    tar.add(os.path.join(src, "bin", "containerd"), arcname="bin/containerd-real")
    tar.addfile(special("bin/containerd", tarfile.SYMTYPE, "containerd-real")[0])
# A release that also carries a kubelet: it must never reach the host.
make("with-kubelet.tar.gz", [file("bin/kubelet", b"#!/bin/sh\necho evil kubelet\n")])
make("hardlink.tar.gz", [special("bin/hard", tarfile.LNKTYPE, "/etc/shadow")])
make("device.tar.gz", [special("bin/kmem", tarfile.CHRTYPE)])
make("missing-ctr.tar.gz", [], skip=("ctr",))
# An aarch64 ELF header where containerd should be: the wrong architecture.
elf = bytearray(64)
elf[0:4] = b"\x7fELF"; elf[4] = 2; elf[5] = 1; elf[18] = 183
with tarfile.open(os.path.join(out, "other-arch.tar.gz"), "w:gz") as tar:
    good_members(tar, skip=("containerd",))
    tar.addfile(file("bin/containerd", bytes(elf))[0], io.BytesIO(bytes(elf)))
# A tar bomb: claims more than the agent's limit via many entries.
with tarfile.open(os.path.join(out, "many-entries.tar.gz"), "w:gz") as tar:
    good_members(tar)
    for n in range(10_050):
        i, d = file(f"junk/{n}", b"")
        tar.addfile(i, io.BytesIO(d))
# A truncated gzip stream.
with open(os.path.join(os.path.dirname(src), "..", "tarballs", "containerd-1.7.24-linux-amd64.tar.gz"), "rb") as f:
    data = f.read()
with open(os.path.join(out, "truncated.tar.gz"), "wb") as f:
    f.write(data[: len(data) // 3])
