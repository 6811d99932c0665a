#!/usr/bin/env bash
# Real containerd for the node-agent tests: Debian's packages (bookworm 1.6.20, trixie
# 1.7.24, sid 2.1.9, from the Debian mirror this machine is configured with), unpacked and
# repacked as release-style tarballs (bin/containerd, bin/containerd-shim-runc-v2, bin/ctr),
# plus a "broken" tarball whose containerd answers --version but cannot start.
# Output: target/test-deps/containerd/{<version>/,tarballs/}. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=target/test-deps/containerd
stamp=$out/.done-v1
[ -f "$stamp" ] && exit 0
[ "$(uname -m)" = x86_64 ] || { echo "containerd test deps: only prepared for x86_64" >&2; exit 1; }
command -v gcc >/dev/null || { apt-get update -qq && apt-get install -y -qq gcc >/dev/null; }
mkdir -p "$out/debs" "$out/tarballs"
mirror=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
[ -n "$mirror" ] || { echo "no Debian mirror configured in /etc/apt" >&2; exit 1; }
apt_dir=$out/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
cat > "$apt_dir/sources.list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror sid main
SRC
opts=(-o "Dir::Etc::sourcelist=$PWD/$apt_dir/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$PWD/$apt_dir/lists" -o "Dir::Cache=$PWD/$apt_dir/cache" -o APT::Sandbox::User=root)
apt-get "${opts[@]}" update -qq
declare -A versions=([1.6.20]="1.6.20~ds1-1+deb12u3" [1.7.24]="1.7.24~ds1-6+deb13u1" [2.1.9]="2.1.9+ds1-5")
for short in "${!versions[@]}"; do
    ver=${versions[$short]}
    (cd "$out/debs" && apt-get "${opts[@]}" download "containerd=$ver" >/dev/null 2>&1) \
        || { echo "cannot download containerd=$ver; available:" >&2; apt-cache "${opts[@]}" madison containerd >&2; exit 1; }
    rm -rf "$out/$short" && mkdir -p "$out/$short"
    dpkg -x "$out"/debs/containerd_"${ver//+/+}"_amd64.deb "$out/$short/pkg"
    mkdir -p "$out/$short/release/bin"
    cp "$out/$short/pkg/usr/bin/"* "$out/$short/release/bin/"
    tar -czf "$out/tarballs/containerd-$short-linux-amd64.tar.gz" -C "$out/$short/release" bin
done
# A containerd that answers --version but exits at once: the new binary that fails its gate.
mkdir -p "$out/broken/bin"
cat > "$out/broken/fake.c" <<'C'
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        puts("containerd github.com/containerd/containerd 9.9.9 broken");
        return 0;
    }
    fputs("containerd: refusing to start (test binary)\n", stderr);
    return 1;
}
C
gcc -O2 -o "$out/broken/bin/containerd" "$out/broken/fake.c"
cp "$out/1.7.24/release/bin/containerd-shim-runc-v2" "$out/1.7.24/release/bin/ctr" "$out/broken/bin/"
tar -czf "$out/tarballs/containerd-broken-linux-amd64.tar.gz" -C "$out/broken" bin
(cd "$out/tarballs" && sha256sum ./*.tar.gz | sed 's#\./##' > SHA256SUMS)
touch "$stamp"
echo "containerd test deps ready in $out" >&2
