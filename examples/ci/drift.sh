#!/usr/bin/env bash
# Nightly drift check: does the help desk still match the contact files of the default branch?
#
#   ci/drift.sh WORKDIR   (writes WORKDIR/summary.md, and WORKDIR/drift.md: the issue body)
#
# plan --detailed-exitcode --redact, then:
#   exit 0  no drift: the open drift issue, if any, is closed with a comment;
#   exit 2  drift: the one open drift issue (found by its label and marker) is updated, or
#           opened when there is none;
#   else    the plan failed: so does this job.
set -euo pipefail
# shellcheck source=forge.sh
. "$(dirname "$0")/forge.sh"

work=${1:?usage: ci/drift.sh WORKDIR}
contacts=${CONTACTS_PATH:-contacts}
marker='<!-- reconciler-drift -->'
title='The help desk has drifted from the contact files'
mkdir -p "$work"
rm -f "$work/drift.md" "$work/summary.md"

status=0
reconciler plan "$contacts" --detailed-exitcode --redact --format markdown \
  >"$work/drift-plan.md" || status=$?

if [ -n "${GITHUB_OUTPUT:-}" ]; then
  case $status in
    0) echo "changes=false" >>"$GITHUB_OUTPUT" ;;
    2) echo "changes=true" >>"$GITHUB_OUTPUT" ;;
  esac
fi

case $status in
  0)
    cp "$work/drift-plan.md" "$work/summary.md"
    cat "$work/drift-plan.md"
    issue=$(forge_find_issue "$marker")
    if [ -n "$issue" ]; then
      forge_close_issue "$issue" "The help desk matches the contact files again (checked $(date -u '+%Y-%m-%d %H:%M UTC')): closing."
      echo "No drift; closed drift issue $issue."
    else
      echo "No drift."
    fi
    ;;
  2)
    {
      printf '%s\n' "$marker"
      printf 'The help desk no longer matches the contact files: a contact was changed there,\n'
      printf 'or a merge was not applied. Apply the files (re-run the apply job) or change the\n'
      printf 'files to match; the next drift check closes this issue once they agree.\n\n'
      cat "$work/drift-plan.md"
      printf '\n_Checked %s._\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
      run_footer
    } >"$work/drift.md"
    cp "$work/drift.md" "$work/summary.md"
    cat "$work/drift-plan.md"
    issue=$(forge_find_issue "$marker")
    if [ -n "$issue" ]; then
      forge_update_issue "$issue" "$title" "$work/drift.md"
      echo "Drift: updated issue $issue."
    else
      forge_open_issue "$title" "$work/drift.md"
      echo "Drift: opened an issue."
    fi
    ;;
  *)
    printf '**The drift check failed** (exit %s): see the job log.\n' "$status" >"$work/summary.md"
    echo "error: the drift check's plan failed (exit $status)" >&2
    exit 1
    ;;
esac
