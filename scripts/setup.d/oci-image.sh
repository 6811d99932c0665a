#!/usr/bin/env bash
# The node-agent image (scripts/build-image and tests/installer_image.rs): the files the image
# is assembled from (nsenter from util-linux, the CA bundle from ca-certificates, ldd from
# libc-bin; python3 writes the layout), chroot (coreutils) to run them in the unpacked
# rootfs, skopeo, the independent OCI implementation the test reads the layout back with, and
# runc, under which the test runs the image with the real containerd of containerd-debs.sh.
# Debian packages only; no base image or registry is needed.
set -euo pipefail
need=()
command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
command -v ldd >/dev/null 2>&1 || need+=(libc-bin)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v chroot >/dev/null 2>&1 || need+=(coreutils)
[ -s /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] || need+=(runc)
[ ${#need[@]} -eq 0 ] && exit 0
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
