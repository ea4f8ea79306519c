"""Live jobs on Docker Swarm against plain containers: the same hermetic live stack
deployed twice in one run, once with `docker stack deploy` (each job a swarm
`replicated-job` service, its key a Docker secret) and once with compose (each job a
sibling container), N project creations at once on each, alternately; then one creation
at a time, for the extra cost a job pays on the swarm.

    .venv/bin/python bench/swarm.py [--jobs 8] [--rounds 3]   (needs the images)
Creates a single-node swarm when the engine is in none, and leaves it again at the end.
Goal: reported (the swarm adds scheduling, secrets and task polling to every job).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from common import REPO, Row, alternate, median, save

from pytest_codex.target import compose as stack
from pytest_codex.target import swarm

KEY = f"sk-canary-bench-{secrets.token_hex(8)}"
INSTRUCTION = "Create a Python CLI app that prints the first 10 Fibonacci numbers."
SERVICE = REPO / "service"
COMPOSE_FILES = tuple(SERVICE / f"compose{part}.yaml" for part in ("", ".live", ".hermetic"))
SWARM_FILES = tuple(SERVICE / f"swarm{part}.yaml" for part in ("", ".live", ".hermetic"))
HEALTHY_WITHIN_S = 90


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(base_url: str) -> None:
    deadline = time.monotonic() + HEALTHY_WITHIN_S
    while not stack.probe(base_url):
        assert time.monotonic() < deadline, f"{base_url} did not become healthy"
        time.sleep(0.2)


def creations(client: httpx.Client, count: int) -> float:
    """Seconds for `count` project creations at once, every one completed."""

    def one(_: int) -> str:
        answer = client.post("/api/v1/projects", json={"instruction": INSTRUCTION})
        return str(answer.json().get("status"))

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=count) as pool:
        statuses = list(pool.map(one, range(count)))
    seconds = time.perf_counter() - started
    assert statuses == ["completed"] * count, statuses
    return seconds


def measure(
    swarm_url: str, containers_url: str, args: argparse.Namespace
) -> tuple[list[float], list[float], list[float], list[float]]:
    """Batches of `args.jobs` creations, swarm (A) and containers (B) alternately, then
    single creations the same way."""
    jobs = httpx.Client(base_url=swarm_url, timeout=300)
    containers = httpx.Client(base_url=containers_url, timeout=300)
    for client in (containers, jobs):
        wait_healthy(str(client.base_url))
        creations(client, 1)  # warm-up
    batch_a, batch_b = alternate(
        lambda: creations(jobs, args.jobs),
        lambda: creations(containers, args.jobs),
        args.rounds,
        f"{args.jobs} jobs",
    )
    one_a, one_b = alternate(
        lambda: creations(jobs, 1), lambda: creations(containers, 1), 5, "1 job"
    )
    return batch_a, batch_b, one_a, one_b


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-swarm-"))
    root.chmod(0o755)
    name = f"bench-swarm-{secrets.token_hex(3)}"
    env = {
        **os.environ,
        "CODEX_WORKSPACE_ROOT": str(root),
        "CODEX_RUN_ID": name,
        "USE_DUMMY_WORKER": "false",
        "CODEX_API_TOKEN": "",
    }
    secret_env = {"OPENAI_API_KEY": KEY, "MODEL_STUB_EXPECTED_KEY": KEY}
    compose = stack.Compose(
        stack.detect_compose_command(),
        COMPOSE_FILES,
        f"{name}-c",
        {**env, **secret_env, "CODEX_RUN_ID": f"{name}-c"},
    )
    swarm_port = free_port()
    on_swarm = swarm.SwarmStack(SWARM_FILES, name, {**env, "CODEX_HOST_PORT": str(swarm_port)})
    with swarm.single_node_swarm():
        try:
            compose.run("up", "--build", "-d")
            port = compose.run("port", "orchestrator", "8000").strip().rsplit(":", 1)[1]
            on_swarm.deploy(secret_env)
            batch_a, batch_b, one_a, one_b = measure(
                f"http://127.0.0.1:{swarm_port}", f"http://127.0.0.1:{port}", args
            )
        finally:
            on_swarm.remove()
            compose.run("down", "-v", "--remove-orphans", "-t", "3")
            shutil.rmtree(root, ignore_errors=True)
    extra_ms = (median(one_a) - median(one_b)) * 1000
    rows = [
        Row(
            bench="swarm workers",
            subject=f"{args.jobs} live jobs at once, swarm job services",
            baseline="the same on sibling containers",
            subject_s=median(batch_a),
            baseline_s=median(batch_b),
            goal="reported",
            details={"rounds": args.rounds, "jobs": args.jobs},
        ),
        Row(
            bench="swarm workers",
            subject="1 live job, swarm job service",
            baseline="1 live job, sibling container",
            subject_s=median(one_a),
            baseline_s=median(one_b),
            goal="reported",
            details={"extra_ms_per_job": round(extra_ms, 1)},
        ),
    ]
    save("swarm", rows)
    print(f"extra cost of a job on the swarm: {extra_ms:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
