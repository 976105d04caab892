#!/usr/bin/env bash
# Post BODY_FILE as the pull or merge request's one reconciler comment: the comment that
# starts with the same marker (BODY_FILE's first line, an HTML comment) is edited in place,
# else a new one is posted. Exits non-zero when posting fails.
set -euo pipefail
# shellcheck source=forge.sh
. "$(dirname "$0")/forge.sh"

body=${1:?usage: ci/comment.sh BODY_FILE}
marker=$(head -n 1 "$body")
case $marker in
  '<!-- '*' -->') ;;
  *) die "$body must start with its marker, an HTML comment line such as <!-- reconciler-plan -->" ;;
esac
forge_upsert_review_comment "$marker" "$body"
