"""Start and stop, warm: compose up of the bundled mocked stack until /healthz answers,
and compose down; against the same for a do-nothing service on the same base image (what
compose and the engine cost by themselves).

    .venv/bin/python bench/start_stop.py [--rounds 5]    (needs the images: scripts/test.sh)
Goals: healthy <= 3 s, down <= 2 s.
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import time
from pathlib import Path

import httpx
from common import REPO, Row, alternate, median, save

from pytest_codex.target import compose as stack

BASELINE = """\
version: "3.8"
services:
  orchestrator:
    image: ${CODEX_BASE_IMAGE:-python:3.11-slim}
    command: ["python3", "-m", "http.server", "8000"]
    ports: ["127.0.0.1::8000"]
    stop_grace_period: 5s
"""


def cycle(files: tuple[Path, ...], health_path: str, env: dict[str, str]) -> tuple[float, float]:
    """Seconds from `up -d` to the first 200, and of `down -v`."""
    compose = stack.Compose(
        stack.detect_compose_command(), files, f"bench-start-{secrets.token_hex(3)}", env
    )
    started = time.perf_counter()
    compose.run("up", "-d")
    port = compose.run("port", "orchestrator", "8000").strip().rsplit(":", 1)[1]
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if httpx.get(url + health_path, timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.perf_counter() - started < 60, "never healthy"
        time.sleep(0.05)
    healthy = time.perf_counter() - started
    started = time.perf_counter()
    compose.run("down", "-v", "--remove-orphans")
    return healthy, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-start-"))
    baseline = root / "baseline.yaml"
    baseline.write_text(BASELINE)
    env = {**os.environ, "CODEX_WORKSPACE_ROOT": str(root / "ws")}
    ours: list[tuple[float, float]] = []
    base: list[tuple[float, float]] = []

    def subject() -> float:
        ours.append(cycle((REPO / "service" / "compose.yaml",), "/healthz", env))
        return ours[-1][0]

    def reference() -> float:
        base.append(cycle((baseline,), "/", env))
        return base[-1][0]

    alternate(subject, reference, args.rounds, "start/stop")
    rows = [
        Row(
            bench="start: up to healthy",
            subject="orchestrator stack",
            baseline="do-nothing service",
            subject_s=median([u for u, _ in ours]),
            baseline_s=median([u for u, _ in base]),
            goal="healthy <= 3 s",
        ),
        Row(
            bench="stop: down -v",
            subject="orchestrator stack",
            baseline="do-nothing service",
            subject_s=median([d for _, d in ours]),
            baseline_s=median([d for _, d in base]),
            goal="down <= 2 s",
        ),
    ]
    save("start_stop", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
