# Shared setup for scripts/*.sh: each step reuses what is already there.
# shellcheck shell=bash
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${CODEX_VENV:-$REPO/.venv}
export PATH="$VENV/bin:$PATH"

step() { printf '\n==> %s\n' "$*" >&2; }

# A virtual environment with the project (editable), its dev tools and the benchmarks'
# baseline (fastapi, uvicorn: mypy checks bench/ too); reinstalled only when
# pyproject.toml or this file changes.
ensure_venv() {
    local stamp="$VENV/.pyproject.sha256" want
    want=$(cat "$REPO/pyproject.toml" "$REPO/scripts/lib.sh" | sha256sum | cut -d' ' -f1)
    if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    step "setting up $VENV"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q -e "$REPO[dev,bench]" 2> >(grep -v "is ignored: it is neither" >&2)
    echo "$want" > "$stamp"
}

# A Docker engine (Debian's docker.io and docker-compose, started when none answers).
ensure_engine() {
    step "ensuring a Docker engine"
    bash "$REPO/scripts/ensure-docker.sh"
}

# The engine, a base image that needs no registry, and the wheel folders of builds made
# straight from service/ (the project's own Docker tests; with --worker also the live
# worker's wheels: the real Codex CLI). Exports CODEX_BASE_IMAGE. A `pytest --codex-mode`
# run needs none of this but the engine: the plugin prepares its own (pytest_codex/target/images.py).
ensure_images() {
    ensure_engine
    step "ensuring a base image"
    CODEX_BASE_IMAGE=$(bash "$REPO/service/base-image/build.sh")
    export CODEX_BASE_IMAGE
    printf 'base image: %s\n' "$CODEX_BASE_IMAGE" >&2
    bash "$REPO/service/fill-wheelhouse.sh" "$@"
}
