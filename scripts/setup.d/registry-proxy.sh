#!/usr/bin/env bash
# Servers the image, mirror and proxy tests talk to, from Debian: the CNCF distribution
# registry (`docker-registry`, started by the tests on 127.0.0.1 with TLS from a test CA),
# tinyproxy (an HTTP/CONNECT proxy the agent's downloads go through) and openssl (the
# test CA). The tests start and stop their own instances; the packages' services are
# neither needed nor left running.
set -euo pipefail
need=()
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
[ -x /usr/bin/tinyproxy ] || [ -x /usr/sbin/tinyproxy ] || need+=(tinyproxy)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# htpasswd writes the bcrypt file the registry's basic auth reads (pull-secret tests).
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
[ ${#need[@]} -eq 0 ] && exit 0
apt-get update -qq
# policy-rc.d keeps the packages' own services from starting (no init system in CI).
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
