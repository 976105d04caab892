#!/usr/bin/env bash
# Apply the merged contact files: plan against them, show the plan, apply it.
#
#   ci/apply.sh WORKDIR   (WORKDIR: kept for the workflows' calls; nothing is left there)
#   APPLY_BRANCH      when set, apply only if HEAD is still that branch's tip on origin: a
#                     newer merge's own job applies the newer files (GitLab's resource_group
#                     runs waiting jobs one at a time, but not newest last)
#   RECONCILER_FORCE  "true": apply even when the plan changes more than max_changes allows
#   RECONCILER_ALLOW_REMOVAL  "true": let apply remove the contacts the plan removes (a push
#                     never does: a person runs the job by hand for that)
#   RECONCILER_CHANGED_SINCE  the push's `before` commit: apply only the contacts the push
#                     changed (since.sh); empty: the whole tree
#
# The log shows the plan and the result lines with personal values redacted (--redact).
set -euo pipefail
# shellcheck source=since.sh
. "$(dirname "$0")/since.sh"

work=${1:?usage: ci/apply.sh WORKDIR}
contacts=${CONTACTS_PATH:-contacts}
mkdir -p "$work"

if [ -n "${APPLY_BRANCH:-}" ]; then
  tip=$(git ls-remote --exit-code origin "refs/heads/$APPLY_BRANCH" | cut -f1)
  if [ "$tip" != "$(git rev-parse HEAD)" ]; then
    echo "Skipped: $APPLY_BRANCH has moved on to ${tip:0:12}; the job of that commit applies it."
    exit 0
  fi
fi

flags=()
if [ "${RECONCILER_FORCE:-}" = true ]; then
  flags+=(--force)
fi
if [ "${RECONCILER_ALLOW_REMOVAL:-}" = true ]; then
  flags+=(--allow-removal)
fi
reconciler apply "$contacts" "${since_flags[@]}" --auto-approve --redact "${flags[@]}"
