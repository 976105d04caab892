#!/usr/bin/env bash
# Apply the merged contact files: plan against them, then apply exactly that plan.
#
#   ci/apply.sh WORKDIR
#   APPLY_BRANCH      when set, apply only if HEAD is still that branch's tip on origin: a
#                     newer merge's own job applies the newer files (GitLab's resource_group
#                     runs waiting jobs one at a time, but not newest last)
#   RECONCILER_FORCE  "true": apply even when the plan changes more than max_changes allows
#
# The log shows the plan with personal values redacted; the full plan that apply needs
# stays in WORKDIR on the runner and is deleted at the end.
set -euo pipefail

work=${1:?usage: ci/apply.sh WORKDIR}
contacts=${CONTACTS_PATH:-contacts}
mkdir -p "$work"
trap 'rm -f "$work/apply-plan.json"' EXIT

if [ -n "${APPLY_BRANCH:-}" ]; then
  tip=$(git ls-remote --exit-code origin "refs/heads/$APPLY_BRANCH" | cut -f1)
  if [ "$tip" != "$(git rev-parse HEAD)" ]; then
    echo "Skipped: $APPLY_BRANCH has moved on to ${tip:0:12}; the job of that commit applies it."
    exit 0
  fi
fi

force=()
if [ "${RECONCILER_FORCE:-}" = true ]; then
  force=(--force)
fi
reconciler plan "$contacts" --out "$work/apply-plan.json" --format json >/dev/null
reconciler plan "$contacts" --redact
reconciler apply --plan "$work/apply-plan.json" --auto-approve "${force[@]}"
