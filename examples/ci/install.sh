#!/usr/bin/env bash
# Install reconciler on the CI runner.
#
#   RECONCILER_PIP_SPEC  what pip installs: a CI variable such as contacts-reconciler==0.1.0
#                        or git+https://github.com/reconciler-dev/reconciler@v0.1.0 (see
#                        README.md). A runner whose image already has reconciler may leave
#                        it empty.
#   RECONCILER_SOURCE    a reconciler source tree (the GitHub Action's own checkout): it is
#                        installed with the hash-pinned dependencies of its
#                        requirements/action.lock, when RECONCILER_PIP_SPEC is empty. uv
#                        (itself hash-pinned by requirements/uv.lock) reads the lock: pip
#                        takes seconds more, most of them its own CPU and compiling bytecode
#                        the run never uses. Where uv can't be had, pip does it all.
set -euo pipefail

pip=(python3 -m pip install --disable-pip-version-check --quiet --no-compile)
if [ -n "${RECONCILER_PIP_SPEC:-}" ]; then
  "${pip[@]}" "$RECONCILER_PIP_SPEC"
elif [ -n "${RECONCILER_SOURCE:-}" ]; then
  lock="$RECONCILER_SOURCE/requirements/action.lock"
  if command -v uv >/dev/null 2>&1 \
    || "${pip[@]}" --require-hashes -r "$RECONCILER_SOURCE/requirements/uv.lock" 2>/dev/null; then
    # Into the python3 pip would install into (a virtual environment's, or the runner's).
    python=$(python3 -c 'import sys; print(sys.executable)')
    uv=(python3 -m uv pip install --quiet --python "$python")
    command -v uv >/dev/null 2>&1 && uv=(uv pip install --quiet --python "$python")
    "${uv[@]}" --require-hashes -r "$lock"
    "${uv[@]}" --no-deps --no-build-isolation "$RECONCILER_SOURCE"
  else
    "${pip[@]}" --require-hashes -r "$lock"
    "${pip[@]}" --no-deps --no-build-isolation "$RECONCILER_SOURCE"
  fi
elif ! command -v reconciler >/dev/null 2>&1; then
  echo "error: reconciler is not installed: set the CI variable RECONCILER_PIP_SPEC to what" \
    "pip should install, such as contacts-reconciler==0.1.0" >&2
  exit 1
fi
reconciler --version
