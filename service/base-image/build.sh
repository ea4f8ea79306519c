#!/usr/bin/env bash
# Print the name of a local base image for the project's Dockerfiles, building one when
# needed. Order: $CODEX_BASE_IMAGE if present locally; the public default if present or
# pullable; the project's own Debian image if already built; else build that one from
# Debian packages (debootstrap + docker import), which needs no container registry.
#
# The plugin does the same lookup itself (pytest_codex/target/images.py) and runs this script
# with --debian to skip it and build the Debian image (needs root).
#
#   service/base-image/build.sh            # prints e.g. pytest-codex/base:bookworm
#   CODEX_BASE_IMAGE=my/base:1 service/base-image/build.sh
#   service/base-image/build.sh --debian   # build pytest-codex/base:bookworm now
set -euo pipefail

DEFAULT_IMAGE=python:3.11-slim
LOCAL_IMAGE=${CODEX_DEBIAN_IMAGE:-pytest-codex/base:bookworm}
SUITE=bookworm
MIRROR=${CODEX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES=python3,python3-venv,ca-certificates

log() { printf 'base-image: %s\n' "$*" >&2; }
have() { docker image inspect "$1" >/dev/null 2>&1; }

if [ "${1:-}" = "--debian" ]; then
    :  # straight to the build below
elif [ -n "${CODEX_BASE_IMAGE:-}" ]; then
    if have "$CODEX_BASE_IMAGE" || docker pull -q "$CODEX_BASE_IMAGE" >/dev/null 2>&1; then
        echo "$CODEX_BASE_IMAGE"; exit 0
    fi
    log "CODEX_BASE_IMAGE=$CODEX_BASE_IMAGE is neither local nor pullable; unset it to build one"
    exit 1
elif have "$DEFAULT_IMAGE"; then echo "$DEFAULT_IMAGE"; exit 0
elif have "$LOCAL_IMAGE"; then echo "$LOCAL_IMAGE"; exit 0
elif timeout 30 docker pull -q "$DEFAULT_IMAGE" >/dev/null 2>&1; then
    echo "$DEFAULT_IMAGE"; exit 0
fi

if [ "$(id -u)" != 0 ]; then
    log "$DEFAULT_IMAGE cannot be pulled and building $LOCAL_IMAGE needs root; run: sudo bash $0 --debian"
    exit 1
fi
log "building $LOCAL_IMAGE from Debian $SUITE packages (debootstrap)"
if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
fi
root=$(mktemp -d /var/tmp/pytest-codex-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
started=$(date +%s)
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$MIRROR" \
    > "$root.log" 2>&1 || { tail -n 20 "$root.log" >&2; exit 1; }
rm -f "$root.log"
# Trim what a container never reads: package caches, lists, docs and manuals.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    - "$LOCAL_IMAGE" >/dev/null
log "built $LOCAL_IMAGE in $(( $(date +%s) - started )) s"
echo "$LOCAL_IMAGE"
