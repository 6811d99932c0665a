#!/usr/bin/env bash
# Cross builds of cococtl for the other node architectures (installer-image/, the
# foreign-binary tests): the Rust targets, Debian's cross linkers and C compilers (ring
# builds C; .cargo/config.toml names them), qemu-user-static to run the results on this
# machine and `file`, the tests' second opinion that each binary is static.
set -euo pipefail
targets=(aarch64-unknown-linux-gnu s390x-unknown-linux-gnu x86_64-unknown-linux-musl aarch64-unknown-linux-musl)
installed=$(rustup target list --installed)
for t in "${targets[@]}"; do
    grep -qx "$t" <<<"$installed" || rustup target add "$t" >/dev/null
done
need=()
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v s390x-linux-gnu-gcc >/dev/null 2>&1 || need+=(gcc-s390x-linux-gnu libc6-dev-s390x-cross)
command -v musl-gcc >/dev/null 2>&1 || need+=(musl-tools)
[ -x /usr/bin/qemu-aarch64-static ] && [ -x /usr/bin/qemu-s390x-static ] || need+=(qemu-user-static)
command -v file >/dev/null 2>&1 || need+=(file)
[ ${#need[@]} -eq 0 ] && exit 0
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
