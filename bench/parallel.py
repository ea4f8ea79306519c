"""pytest-xdist: the 264 traversal payloads (traversal.yaml + traversal-corpus.yaml) with
`-n 4` against the same run with `-n 1`, both against one orchestrator process started
here (`--codex-base-url`), so the figure is the harness's own parallel cost or gain.

    .venv/bin/python bench/parallel.py [--rounds 3]
Goal: report the ratio; each case takes milliseconds, so four workers' start-up (about a
second each on 2 cores) is expected to outweigh the gain here: -n pays off when cases
wait on slow work (live jobs), not on fast traversal checks.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import REPO, Row, alternate, median, run_harness, save

MATRICES = [REPO / "matrices" / "traversal.yaml", REPO / "matrices" / "traversal-corpus.yaml"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_orchestrator(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "WORKSPACE_ROOT": str(root / "workspaces"),
        "DATABASE_URL": f"sqlite:///{root / 'orchestrator.db'}",
        "USE_DUMMY_WORKER": "true",
        "PYTHONPATH": str(REPO / "service"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "codex_orchestrator", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("the orchestrator did not start")


def run(url: str, root: Path, workers: int, cases: list[int]) -> float:
    evidence = Path(tempfile.mkdtemp(dir=root))
    seconds = run_harness(
        "-p",
        "xdist",
        "-n",
        str(workers),
        f"--codex-base-url={url}",
        f"--codex-evidence-dir={evidence}",
        *(f"--codex-matrix={m}" for m in MATRICES),
        cwd=root,
    )
    [manifest] = evidence.glob("*/mocked/manifest.json")
    cases.append(len(json.loads(manifest.read_text())["cases"]))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        process, url = start_orchestrator(root)
        try:
            four: list[int] = []
            one: list[int] = []
            a, b = alternate(
                lambda: run(url, root, 4, four),
                lambda: run(url, root, 1, one),
                args.rounds,
                "xdist",
            )
        finally:
            process.terminate()
            process.wait(timeout=10)
    save(
        "parallel",
        [
            Row(
                bench="parallel",
                subject="264 traversal payloads, -n 4",
                baseline="the same, -n 1",
                subject_s=median(a),
                baseline_s=median(b),
                goal="reported (fast cases: worker start-up dominates)",
                details={
                    "cases_recorded_n4": median([float(x) for x in four]),
                    "cases_recorded_n1": median([float(x) for x in one]),
                    "rounds": args.rounds,
                },
            )
        ],
    )


if __name__ == "__main__":
    main()
