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
SECRETS = {"OPENAI_API_KEY": KEY, "MODEL_STUB_EXPECTED_KEY": KEY}
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

    def one(_: int) -> dict[str, object]:
        answer = client.post("/api/v1/projects", json={"instruction": INSTRUCTION})
        project: dict[str, object] = answer.json()
        return project

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=count) as pool:
        projects = list(pool.map(one, range(count)))
    seconds = time.perf_counter() - started
    failed = [p.get("job") for p in projects if p.get("status") != "completed"]
    assert not failed, f"{client.base_url}: {len(failed)} creation(s) failed: {failed[0]}"
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


def stacks(root: Path, name: str, swarm_port: int) -> tuple[stack.Compose, swarm.SwarmStack]:
    """The hermetic live stack twice: with compose (sibling containers) and on the swarm."""
    env = {
        **os.environ,
        "CODEX_WORKSPACE_ROOT": str(root),
        "CODEX_RUN_ID": name,
        "USE_DUMMY_WORKER": "false",
        "CODEX_API_TOKEN": "",
    }
    compose = stack.Compose(
        stack.detect_compose_command(),
        COMPOSE_FILES,
        f"{name}-c",
        # Compose builds the worker under the run's tag (others may rebuild :latest).
        {
            **env,
            **SECRETS,
            "CODEX_RUN_ID": f"{name}-c",
            "CODEX_WORKER_IMAGE": f"codex-worker:{name}",
        },
    )
    on_swarm = swarm.SwarmStack(SWARM_FILES, name, {**env, "CODEX_HOST_PORT": str(swarm_port)})
    return compose, on_swarm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-swarm-"))
    root.chmod(0o755)
    name = f"bench-swarm-{secrets.token_hex(3)}"
    swarm_port = free_port()
    compose, on_swarm = stacks(root, name, swarm_port)
    with swarm.single_node_swarm():
        try:
            compose.run("up", "--build", "-d")
            port = compose.run("port", "orchestrator", "8000").strip().rsplit(":", 1)[1]
            # What compose just built, under tags of this run (others may rebuild :latest).
            built = {"CODEX_ORCHESTRATOR_IMAGE": "pytest-codex/orchestrator:latest"}
            pinned = {
                **swarm.pin_images(built, name),
                "CODEX_WORKER_IMAGE": f"codex-worker:{name}",
            }
            on_swarm.env = {**on_swarm.env, **pinned}
            on_swarm.deploy(SECRETS)
            batch_a, batch_b, one_a, one_b = measure(
                f"http://127.0.0.1:{swarm_port}", f"http://127.0.0.1:{port}", args
            )
        finally:
            try:
                compose.run("down", "-v", "--remove-orphans", "-t", "3")
            finally:  # last: the run's image tags go once no container uses them
                on_swarm.remove()
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
