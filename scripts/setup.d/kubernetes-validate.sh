#!/usr/bin/env bash
# kubernetes-validate (PyPI) ships the official Kubernetes OpenAPI schemas and validates the
# rendered objects offline.
set -euo pipefail
if ! command -v kubernetes-validate >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "kubernetes-validate==1.37.0"
fi
