#!/usr/bin/env bash
# The node-agent image (installer-image/build, tests/installer_image.rs, tests/foreign_arch.rs):
# the CA bundle the image carries (ca-certificates; python3 writes the layout), chroot
# (coreutils) to run the binary in the unpacked rootfs, unshare (util-linux) for the
# `__host-exec` test, skopeo, the independent OCI implementation the tests read the layout
# back with, and runc, under which the test runs the image with the real containerd of
# containerd-debs.sh. The static binaries come from cross.sh's toolchains.
# Debian packages only; no base image or registry is needed.
set -euo pipefail
need=()
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v chroot >/dev/null 2>&1 || need+=(coreutils)
[ -s /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] || need+=(runc)
[ ${#need[@]} -eq 0 ] && exit 0
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
