#!/usr/bin/env bash
# Install reconciler on the CI runner.
#
#   RECONCILER_PIP_SPEC  what pip installs: a CI variable such as contacts-reconciler==0.1.0
#                        or git+https://github.com/reconciler-dev/reconciler@v0.1.0 (see
#                        README.md). A runner whose image already has reconciler may leave
#                        it empty.
#   RECONCILER_SOURCE    a reconciler source tree (the GitHub Action's own checkout), used
#                        when RECONCILER_PIP_SPEC is empty: its requirements/action.lock is
#                        installed (hash-checked; no sandbox server stack: CI never serves
#                        one) by uv, itself hash-pinned by requirements/uv.lock, or by pip
#                        where uv can't be had; reconciler runs from the tree, unbuilt.
set -euo pipefail

pip=(python3 -m pip install --disable-pip-version-check --quiet --no-compile)
if [ -n "${RECONCILER_PIP_SPEC:-}" ]; then
  "${pip[@]}" "$RECONCILER_PIP_SPEC"
elif [ -n "${RECONCILER_SOURCE:-}" ]; then
  source_tree=$(cd "$RECONCILER_SOURCE" && pwd -P)
  lock="$source_tree/requirements/action.lock"
  # Into the python3 pip would install into (a virtual environment's, or the runner's).
  python=$(python3 -c 'import sys; print(sys.executable)')
  # reconciler's own bytecode, compiled while the install waits on the network: a plan
  # would compile the modules it imports first (0.1 s of its time). Best effort.
  "$python" -m compileall -q -x '/sandbox/' "$source_tree/reconciler" >/dev/null 2>&1 &
  compiling=$!
  if command -v uv >/dev/null 2>&1; then
    uv pip install --quiet --python "$python" --require-hashes -r "$lock"
  elif "${pip[@]}" --require-hashes -r "$source_tree/requirements/uv.lock" 2>/dev/null; then
    "$python" -m uv pip install --quiet --python "$python" --require-hashes -r "$lock"
  else
    "${pip[@]}" --require-hashes -r "$lock"
  fi
  wait "$compiling" || true
  # The package is linked, not built (a build takes a second and a build backend): it finds
  # its schemas beside it in the tree, and `reconciler` runs it as `python -m reconciler`.
  site=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  ln -sfn "$source_tree/reconciler" "$site/reconciler"
  launcher="$(dirname "$python")/reconciler"
  printf '#!/bin/sh\nexec "%s" -m reconciler "$@"\n' "$python" >"$launcher"
  chmod +x "$launcher"
elif ! command -v reconciler >/dev/null 2>&1; then
  echo "error: reconciler is not installed: set the CI variable RECONCILER_PIP_SPEC to what" \
    "pip should install, such as contacts-reconciler==0.1.0" >&2
  exit 1
fi
reconciler --version
