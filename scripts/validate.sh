#!/usr/bin/env bash
# The main job: the mocked validation run. Brings the bundled orchestrator up in Docker
# (pytest-docker + compose), runs every matrix under matrices/, writes the evidence
# bundle under docs/evidence/<UTC timestamp>/mocked/ and verifies it. The plugin prepares
# the base image, the wheelhouse and the image itself (one line per step).
#   bash scripts/validate.sh [pytest args...]     e.g. -v, --codex-keep-stack
source "$(dirname "$0")/lib.sh"
cd "$REPO"
ensure_venv
ensure_engine
step "mocked validation run: pytest --codex-mode=mocked"
marker=$(mktemp)
status=0
pytest --codex-mode=mocked -p no:cacheprovider "$@" || status=$?
bundle=$(find docs/evidence -mindepth 2 -maxdepth 2 -name mocked -newer "$marker" | sort | tail -n 1)
rm -f "$marker"
if [ -n "$bundle" ]; then
    step "verifying the bundle"
    codex-evidence verify "$bundle" || status=$?
    printf '\nevidence bundle: %s\n' "$REPO/$bundle" >&2
    printf 'review page:     %s\n' "$REPO/$bundle/index.html" >&2
fi
exit "$status"
