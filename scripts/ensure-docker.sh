#!/usr/bin/env bash
# Make sure a Docker engine answers; install Debian's docker.io and docker-compose and
# start dockerd when none does. Idempotent: does nothing when `docker info` succeeds.
set -euo pipefail

log() { printf 'ensure-docker: %s\n' "$*" >&2; }

if docker info >/dev/null 2>&1; then
    exit 0
fi

has_compose() { docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1; }

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1 || ! has_compose; then
    if [ "$(id -u)" != 0 ]; then
        log "no Docker engine and not root; install docker.io and docker-compose, then retry"
        exit 1
    fi
    log "installing Debian's docker.io and docker-compose"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io docker-compose >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
    log "starting dockerd (log: /var/log/pytest-codex-dockerd.log)"
    # setsid: the daemon must outlive this script and not share its process group.
    setsid dockerd >/var/log/pytest-codex-dockerd.log 2>&1 < /dev/null &
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 0.5
    done
fi

if ! docker info >/dev/null 2>&1; then
    log "dockerd did not answer within 30 s; last log lines:"
    tail -n 20 /var/log/pytest-codex-dockerd.log >&2 || true
    exit 1
fi
log "engine ready: $(docker version --format '{{.Server.Version}}')"
