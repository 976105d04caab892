# shellcheck shell=bash
# Sourced by plan.sh and apply.sh: RECONCILER_CHANGED_SINCE, a commit (the pull request's
# base, or the push's `before`), becomes reconciler's --changed-since in since_flags, so
# that only the contacts changed since it are planned. The commit is fetched when a
# shallow checkout lacks it. Empty, or the all-zero commit a new branch's first push has:
# no flags, the whole tree.
# shellcheck disable=SC2034 # read by the scripts that source this one
since_flags=()
since_base=${RECONCILER_CHANGED_SINCE:-}
if [ -n "$since_base" ] && [ -n "${since_base//0/}" ]; then
  if ! git cat-file -e "$since_base^{commit}" 2>/dev/null; then
    git fetch --quiet --no-tags --depth=1 origin "$since_base" ||
      echo "warning: can't fetch $since_base; check out with fetch-depth: 0" >&2
  fi
  # shellcheck disable=SC2034
  since_flags=(--changed-since "$since_base")
fi
