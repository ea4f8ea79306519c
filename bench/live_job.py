"""Live job overhead: one live project creation through the orchestrator (HTTP, sibling
worker container via the docker SDK, result read back) against `docker run` of the same
worker image with the same request, limits, network and model stand-in.

    .venv/bin/python bench/live_job.py [--rounds 5]      (needs the images: scripts/test.sh)
Goal: ratio <= 1.15.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from common import REPO, Row, alternate, median, save

from pytest_codex.target import compose as stack

KEY = f"sk-canary-bench-{secrets.token_hex(8)}"
INSTRUCTION = "Create a Python CLI app that prints the first 10 Fibonacci numbers."
FILES = [
    REPO / "service" / name
    for name in ("compose.yaml", "compose.live.yaml", "compose.hermetic.yaml")
]


def docker_run(root: Path, network: str) -> float:
    """The worker as a plain `docker run`, as the orchestrator would start it."""
    workspace = Path(tempfile.mkdtemp(dir=root))
    (workspace / ".codex").mkdir()
    (workspace / ".codex" / "request.json").write_text(
        json.dumps(
            {
                "job_id": "bench",
                "project_id": "bench",
                "job_type": "create",
                "instruction": INSTRUCTION,
            }
        )
    )
    for path in (workspace, workspace / ".codex", workspace / ".codex" / "request.json"):
        os.chown(path, 1000, 1000)
    argv = [
        "docker",
        "run",
        "--rm",
        "--user",
        "1000:1000",
        "--read-only",
        "--tmpfs",
        "/home/worker:rw,size=512m,uid=1000,gid=1000",
        "--tmpfs",
        "/tmp:rw,size=256m,mode=1777",  # noqa: S108 - the container's own
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges:true",
        "--memory",
        "1g",
        "--cpus",
        "1",
        "--pids-limit",
        "256",
        "--network",
        network,
        "-e",
        "OPENAI_API_KEY",
        "-e",
        "OPENAI_BASE_URL=http://model-stub:8080/v1",
        "-e",
        "CODEX_WORKER_TIMEOUT=20",
        "-v",
        f"{workspace}:/workspace",
        "codex-worker:latest",
    ]
    started = time.perf_counter()
    done = subprocess.run(
        argv,
        capture_output=True,
        env={**os.environ, "OPENAI_API_KEY": KEY},
        timeout=120,
        check=False,
    )
    seconds = time.perf_counter() - started
    result = json.loads((workspace / ".codex" / "result.json").read_text())
    assert done.returncode == 0, done.stderr[-500:]
    assert result["status"] == "success", result["error"]
    assert result["status"] == "success", result["error"]
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-live-"))
    root.chmod(0o755)
    project = f"bench-live-{secrets.token_hex(3)}"
    env = {
        **os.environ,
        "CODEX_WORKSPACE_ROOT": str(root),
        "CODEX_RUN_ID": project,
        "USE_DUMMY_WORKER": "false",
        "OPENAI_API_KEY": KEY,
        "MODEL_STUB_EXPECTED_KEY": KEY,
    }
    compose = stack.Compose(stack.detect_compose_command(), tuple(FILES), project, env)
    try:
        compose.run("up", "--build", "-d")
        port = compose.run("port", "orchestrator", "8000").strip().rsplit(":", 1)[1]
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while not stack.probe(base_url):
            assert time.monotonic() < deadline, "the live stack did not become healthy"
            time.sleep(0.2)
        client = httpx.Client(base_url=base_url, timeout=120)

        def through_orchestrator() -> float:
            started = time.perf_counter()
            answer = client.post("/api/v1/projects", json={"instruction": INSTRUCTION})
            seconds = time.perf_counter() - started
            assert answer.json()["status"] == "completed", answer.text[:300]
            return seconds

        network = f"pytest-codex-workers-{project}"
        through_orchestrator()  # warm-up of both paths
        docker_run(root, network)
        a, b = alternate(
            through_orchestrator, lambda: docker_run(root, network), args.rounds, "live job"
        )
        split = phases(compose.logs(), root)
    finally:
        compose.run("down", "-v", "--remove-orphans", "-t", "3")
        shutil.rmtree(root, ignore_errors=True)
    row = Row(
        bench="live job",
        subject="POST /api/v1/projects (live)",
        baseline="docker run of the worker",
        subject_s=median(a),
        baseline_s=median(b),
        goal="<= 1.15x",
        details={"split_ms_median": split},
    )
    save("live_job", [row])
    print(f"split of a creation through the orchestrator (medians, ms): {split}")
    return 0


def phases(logs: str, root: Path) -> dict[str, float]:
    """Container start, the worker's run (CLI inside it) and cleanup, from the logs."""
    finished = [
        json.loads(line[line.index("{") :])
        for line in logs.splitlines()
        if '"event": "worker finished"' in line
    ]
    cli = [
        float(m.group(1)) * 1000
        for path in root.glob(".jobs/*/worker.log")
        for m in [re.search(r"the CLI ended with \S+ after ([0-9.]+) s", path.read_text())]
        if m
    ]
    return {
        "container_create_and_start": median([f["start_ms"] for f in finished]),
        "container_run": median([f["run_ms"] for f in finished]),
        "of_which_cli": round(median(cli), 1) if cli else -1.0,
        "logs_and_removal": median([f["cleanup_ms"] for f in finished]),
    }


if __name__ == "__main__":
    raise SystemExit(main())
