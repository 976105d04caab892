#!/usr/bin/env bash
# Validate and plan a pull or merge request: the plan, personal values redacted, as the
# body of the request's comment.
#
#   ci/plan.sh WORKDIR   writes WORKDIR/plan.json (redacted) and WORKDIR/comment.md, and
#                        changes=true or false to GITHUB_OUTPUT where there is one
#   VALIDATE_FORMAT      how validate reports problems in the log: text (default), or
#                        github for annotations on the pull request's lines
#   RECONCILER_CHANGED_SINCE  the pull request's base commit: plan only the contacts it
#                        changes (since.sh); empty: the whole tree
#
# When the files have problems or the plan fails, comment.md says so (reconciler's messages
# never repeat a contact's values), so that the failure is posted in place of an outdated
# plan; the script then exits 1.
set -euo pipefail
# shellcheck source=forge.sh
. "$(dirname "$0")/forge.sh"
# shellcheck source=since.sh
. "$(dirname "$0")/since.sh"

work=${1:?usage: ci/plan.sh WORKDIR}
contacts=${CONTACTS_PATH:-contacts}
marker='<!-- reconciler-plan -->'
mkdir -p "$work"
rm -f "$work/plan.json" "$work/comment.md"

failed=""
status=0
reconciler validate --format "${VALIDATE_FORMAT:-text}" "$contacts" || status=$?
if [ "$status" -ne 0 ]; then
  failed=validate
  reconciler validate "$contacts" >"$work/problems.txt" || true
else
  reconciler plan "$contacts" "${since_flags[@]}" --redact --detailed-exitcode \
    --out "$work/plan.json" 2>"$work/plan.err" || status=$?
  cat "$work/plan.err" >&2
  case $status in
    0) changes=false ;;
    2) changes=true status=0 ;;
    *) failed=plan ;;
  esac
  if [ -z "$failed" ] && [ -n "${GITHUB_OUTPUT:-}" ]; then
    echo "changes=$changes" >>"$GITHUB_OUTPUT"
  fi
fi

{
  printf '%s\n### reconciler plan\n\n' "$marker"
  case $failed in
    validate)
      printf '**The contact files have problems**, so nothing was planned:\n\n````text\n'
      tail -c 20000 "$work/problems.txt"
      printf '````\n'
      ;;
    plan)
      printf '**The plan failed** (exit %s): nothing can be applied until it passes.\n\n' "$status"
      printf '````text\n'
      tail -c 20000 "$work/plan.err"
      printf '````\n'
      ;;
    *)
      reconciler show "$work/plan.json" --format markdown
      ;;
  esac
  run_footer
} >"$work/comment.md"

if [ -n "$failed" ]; then
  exit 1
fi
