# shellcheck shell=bash
# Sourced by the other ci/ scripts: the few GitHub and GitLab API calls they make.
#
# Every call goes through $GH (GitHub's gh CLI, on every GitHub-hosted runner) or $CURL
# (GitLab's REST API), so a test can put a recorder in their place. FORGE is github or
# gitlab; left unset, the CI's own variables say which.
#   GitHub: GH_TOKEN, GITHUB_REPOSITORY, and PR_NUMBER for pull request comments.
#   GitLab: GITLAB_TOKEN (a project access token with the api scope: CI_JOB_TOKEN can't
#           write notes or issues), CI_API_V4_URL, CI_PROJECT_ID, CI_MERGE_REQUEST_IID.

# A failure inside $(...) fails the caller too: a comment list that can't be read must not
# look like an empty one (that would post a second comment).
shopt -s inherit_errexit

CI_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GH=${GH:-gh}
CURL=${CURL:-curl}
FORGE_JSON=(python3 "$CI_DIR/forge_json.py")
DRIFT_LABEL=${DRIFT_LABEL:-reconciler-drift}

die() {
  echo "error: $*" >&2
  exit 1
}

on_github() { # true on GitHub, false on GitLab (FORGE, else the CI's own variables)
  local forge=${FORGE:-}
  if [ -z "$forge" ] && [ "${GITHUB_ACTIONS:-}" = true ]; then
    forge=github
  elif [ -z "$forge" ] && [ "${GITLAB_CI:-}" = true ]; then
    forge=gitlab
  fi
  case $forge in
    github) return 0 ;;
    gitlab) return 1 ;;
    *) die "not on GitHub Actions or GitLab CI: set FORGE to github or gitlab" ;;
  esac
}

# Where a plan comment or drift issue links to: this commit and this CI run.
run_footer() {
  local commit=${RECONCILER_COMMIT:-${CI_COMMIT_SHA:-${GITHUB_SHA:-}}}
  local run_url=${CI_JOB_URL:-}
  if [ -n "${GITHUB_RUN_ID:-}" ]; then
    run_url="${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_REPOSITORY:-}/actions/runs/$GITHUB_RUN_ID"
  fi
  local footer=""
  [ -n "$commit" ] && footer="commit ${commit:0:12}"
  [ -n "$run_url" ] && footer="${footer:+$footer · }[CI run]($run_url)"
  if [ -n "$footer" ]; then
    printf '\n<sub>%s</sub>\n' "$footer"
  fi
}

# GitHub -------------------------------------------------------------------------------

github_find() { # PATH MARKER ID_FIELD: the id of the first item whose body starts with MARKER
  "$GH" api --paginate "$1" | "${FORGE_JSON[@]}" find "$2" body "$3"
}

github_send() { # METHOD PATH KEY=VALUE...: send a JSON body
  local method=$1 path=$2
  shift 2
  "${FORGE_JSON[@]}" object "$@" | "$GH" api --method "$method" "$path" --input - >/dev/null
}

# GitLab -------------------------------------------------------------------------------

gitlab_api() { # METHOD URL [KEY=VALUE...]: the response; the token goes in a header file
  local method=$1 url=$2
  shift 2
  if [ -z "${GITLAB_HEADERS:-}" ]; then
    [ -n "${GITLAB_TOKEN:-}" ] || die "GITLAB_TOKEN is not set: add a project access token with the api scope as a masked CI/CD variable"
    GITLAB_HEADERS=$(mktemp)
    # shellcheck disable=SC2064
    trap "rm -f '$GITLAB_HEADERS'" EXIT
    printf 'PRIVATE-TOKEN: %s\n' "$GITLAB_TOKEN" >"$GITLAB_HEADERS"
  fi
  local curl=("$CURL" --fail-with-body --silent --show-error --request "$method"
    --header "@$GITLAB_HEADERS")
  if [ $# -eq 0 ]; then
    "${curl[@]}" "$url"
  else
    "${FORGE_JSON[@]}" object "$@" |
      "${curl[@]}" --header "Content-Type: application/json" --data-binary @- "$url"
  fi
}

gitlab_project() {
  printf '%s/projects/%s' "${CI_API_V4_URL:?}" "${CI_PROJECT_ID:?}"
}

gitlab_find() { # URL MARKER TEXT_FIELD ID_FIELD: reads every page until it finds one
  local url=$1 marker=$2 text_field=$3 id_field=$4 page=1 response found count
  while [ "$page" -le 100 ]; do
    response=$(gitlab_api GET "$url&per_page=100&page=$page") || return 1
    found=$(printf '%s' "$response" | "${FORGE_JSON[@]}" find "$marker" "$text_field" "$id_field") ||
      return 1
    if [ -n "$found" ]; then
      printf '%s\n' "$found"
      return 0
    fi
    count=$(printf '%s' "$response" | "${FORGE_JSON[@]}" count) || return 1
    if [ "$count" -lt 100 ]; then
      return 0
    fi
    page=$((page + 1))
  done
}

# What the scripts call ------------------------------------------------------------------

# The pull or merge request's one comment that starts with MARKER: edited, else posted.
forge_upsert_review_comment() { # MARKER BODY_FILE
  local marker=$1 body=$2 id
  if on_github; then
    local repo=${GITHUB_REPOSITORY:?} pr=${PR_NUMBER:?PR_NUMBER is not set}
    id=$(github_find "repos/$repo/issues/$pr/comments?per_page=100" "$marker" id)
    if [ -n "$id" ]; then
      github_send PATCH "repos/$repo/issues/comments/$id" "body=@$body"
      echo "Updated the plan comment on pull request #$pr."
    else
      github_send POST "repos/$repo/issues/$pr/comments" "body=@$body"
      echo "Posted the plan on pull request #$pr."
    fi
  else
    local notes
    notes="$(gitlab_project)/merge_requests/${CI_MERGE_REQUEST_IID:?}/notes"
    id=$(gitlab_find "$notes?sort=asc&order_by=created_at" "$marker" body id)
    if [ -n "$id" ]; then
      gitlab_api PUT "$notes/$id" "body=@$body" >/dev/null
      echo "Updated the plan note on merge request !$CI_MERGE_REQUEST_IID."
    else
      gitlab_api POST "$notes" "body=@$body" >/dev/null
      echo "Posted the plan on merge request !$CI_MERGE_REQUEST_IID."
    fi
  fi
}

forge_find_issue() { # MARKER: the number (iid) of the open drift issue, if there is one
  if on_github; then
    github_find "repos/${GITHUB_REPOSITORY:?}/issues?labels=$DRIFT_LABEL&state=open&per_page=100" "$1" number
  else
    gitlab_find "$(gitlab_project)/issues?labels=$DRIFT_LABEL&state=opened" "$1" description iid
  fi
}

forge_open_issue() { # TITLE BODY_FILE
  if on_github; then
    # The label the drift issue is found by, created on first use ("already exists": fine).
    "$GH" api --method POST "repos/${GITHUB_REPOSITORY:?}/labels" -f "name=$DRIFT_LABEL" \
      -f color=d93f0b -f "description=reconciler: the help desk differs from the files" \
      >/dev/null 2>&1 || true
    github_send POST "repos/${GITHUB_REPOSITORY:?}/issues" "title=$1" "body=@$2" \
      "labels:=[\"$DRIFT_LABEL\"]"
  else
    gitlab_api POST "$(gitlab_project)/issues" "title=$1" "description=@$2" \
      "labels=$DRIFT_LABEL" >/dev/null
  fi
}

forge_update_issue() { # NUMBER TITLE BODY_FILE
  if on_github; then
    github_send PATCH "repos/${GITHUB_REPOSITORY:?}/issues/$1" "title=$2" "body=@$3"
  else
    gitlab_api PUT "$(gitlab_project)/issues/$1" "title=$2" "description=@$3" >/dev/null
  fi
}

forge_close_issue() { # NUMBER TEXT: comment TEXT, then close
  if on_github; then
    local repo=${GITHUB_REPOSITORY:?}
    github_send POST "repos/$repo/issues/$1/comments" "body=$2"
    github_send PATCH "repos/$repo/issues/$1" state=closed state_reason=completed
  else
    gitlab_api POST "$(gitlab_project)/issues/$1/notes" "body=$2" >/dev/null
    gitlab_api PUT "$(gitlab_project)/issues/$1" state_event=close >/dev/null
  fi
}
