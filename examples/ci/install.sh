#!/usr/bin/env bash
# Install reconciler on the CI runner.
#
#   RECONCILER_PIP_SPEC  what pip installs: a CI variable such as
#                        git+https://github.com/your-org/reconciler@v0.1.0 (see README.md).
#                        A runner whose image already has reconciler may leave it empty.
set -euo pipefail

if [ -n "${RECONCILER_PIP_SPEC:-}" ]; then
  python3 -m pip install --disable-pip-version-check --quiet "$RECONCILER_PIP_SPEC"
elif ! command -v reconciler >/dev/null 2>&1; then
  echo "error: reconciler is not installed: set the CI variable RECONCILER_PIP_SPEC to what" \
    "pip should install, such as git+https://github.com/your-org/reconciler@v0.1.0" >&2
  exit 1
fi
reconciler --version
