#!/usr/bin/env bash
# Fill the wheelhouse on the host, so image builds need no network (containers here
# reach no package index): service/wheelhouse/ for the orchestrator image, for builds
# straight from service/ (the plugin fills its own copy: pytest_codex/target/images.py). Reuses
# what is there: the folder is refilled only when its requirements file changes.
# With --worker, also service/worker/wheels/ for the live worker image (the real Codex
# CLI, a ~142 MB wheel; live runs and the test suite need it, the mocked run does not).
#   service/fill-wheelhouse.sh [--worker]
set -euo pipefail
cd "$(dirname "$0")/.."

fill() {  # fill <requirements file> <destination>
    local requirements=$1 dest=$2 stamp want
    mkdir -p "$dest"
    stamp="$dest/.requirements.sha256"
    want=$(sha256sum "$requirements" | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    echo "wheelhouse: downloading wheels for $requirements into $dest" >&2
    # The images run CPython 3.11 on glibc 2.36 (Debian bookworm): every manylinux tag
    # up to that (pip does not widen the newest to the older ones by itself).
    local arch platforms=() minor
    arch=$(uname -m)
    for minor in $(seq 36 -1 5); do platforms+=(--platform "manylinux_2_${minor}_$arch"); done
    platforms+=(--platform "manylinux2014_$arch" --platform "manylinux1_$arch")
    python3 -m pip download -q --only-binary=:all: "${platforms[@]}" \
        --python-version 3.11 --implementation cp --abi cp311 \
        --dest "$dest" -r "$requirements" \
        2> >(grep -v "is ignored: it is neither" >&2)
    echo "$want" > "$stamp"
}

fill service/requirements.txt service/wheelhouse
if [ "${1:-}" = "--worker" ]; then
    fill service/worker/requirements.txt service/worker/wheels
fi
