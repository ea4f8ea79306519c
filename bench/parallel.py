"""pytest-xdist, -n 4 against -n 1 in the same run:

1. the 264 traversal payloads (traversal.yaml + traversal-corpus.yaml) against one
   orchestrator process started here (`--codex-base-url`): fast cases, so the figure is
   the harness's own parallel cost;
2. a live run (hermetic: worker containers running the real Codex CLI against the model
   stand-in, here told to take 3 s per turn) of 8 project creations, stack start, rollback
   and teardown included: slow cases, where -n pays off.

    .venv/bin/python bench/parallel.py [--rounds 3] [--live-rounds 1]   (needs the images)
Goal: report both ratios.
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
from common import (
    HARNESS_ENV,
    HARNESS_ONLY,
    REPO,
    Row,
    alternate,
    median,
    paired_ratios,
    run_harness,
    save,
)

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
        [sys.executable, "-m", "pytest_codex_orchestrator", "serve", "--port", str(port)],
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


def run(url: str, root: Path, workers: int, cases: list[int], notes: list[bool]) -> float:
    evidence = Path(tempfile.mkdtemp(dir=root))
    output: list[str] = []
    seconds = run_harness(
        "-p",
        "xdist",
        "-n",
        str(workers),
        f"--codex-base-url={url}",
        f"--codex-evidence-dir={evidence}",
        *(f"--codex-matrix={m}" for m in MATRICES),
        cwd=root,
        output=output,
    )
    [manifest] = evidence.glob("*/mocked/manifest.json")
    cases.append(len(json.loads(manifest.read_text())["cases"]))
    # The plugin's summary line when the workers cost more than they saved.
    notes.append("the workers cost more than they save (run without -n)" in output[0])
    return seconds


LIVE_CASES = 8
TURN_DELAY_S = 3


def live_matrix(root: Path) -> Path:
    case = (
        "  - name: create-{0}\n"
        "    request: {{method: POST, path: /api/v1/projects, json: {{instruction: "
        '"Create a Python CLI app that prints the first 10 Fibonacci numbers ({0})"}}}}\n'
        "    expect: {{status: 200, json: {{status: completed}}}}\n"
    )
    path = root / "live-matrices" / "slow-live.yaml"
    path.parent.mkdir(exist_ok=True)
    body = "".join(case.format(n) for n in range(LIVE_CASES))
    path.write_text(f"name: slow-live\nmodes: [live]\ncases:\n{body}")
    return path


def live_run(root: Path, workers: int, matrix: Path) -> float:
    env_file = root / "bench.env.live"
    env_file.write_text("OPENAI_API_KEY=sk-canary-bench-0000000000000000\n")
    evidence = Path(tempfile.mkdtemp(dir=root))
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *HARNESS_ONLY,
            "-p",
            "xdist",
            "-n",
            str(workers),
            "--codex-mode=live",
            f"--codex-env-file={env_file}",
            f"--codex-matrix={matrix}",
            f"--codex-evidence-dir={evidence}",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=root,
        env={**HARNESS_ENV, "MODEL_STUB_TURN_DELAY_S": str(TURN_DELAY_S)},
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    seconds = time.perf_counter() - started
    assert done.returncode == 0, done.stdout[-3000:]
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--live-rounds", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        process, url = start_orchestrator(root)
        try:
            four: list[int] = []
            one: list[int] = []
            notes: list[bool] = []
            a, b = alternate(
                lambda: run(url, root, 4, four, notes),
                lambda: run(url, root, 1, one, []),
                args.rounds,
                "xdist",
            )
        finally:
            process.terminate()
            process.wait(timeout=10)
        matrix = live_matrix(root)
        live_a, live_b = alternate(
            lambda: live_run(root, 4, matrix),
            lambda: live_run(root, 1, matrix),
            args.live_rounds,
            "live",
        )
    save(
        "parallel",
        [
            Row(
                bench="parallel",
                subject="264 traversal payloads, -n 4",
                baseline="the same, -n 1",
                subject_s=median(a),
                baseline_s=median(b),
                goal="<= 1.0x, or the summary says the workers cost more than they save",
                details={
                    "cases_recorded_n4": median([float(x) for x in four]),
                    "cases_recorded_n1": median([float(x) for x in one]),
                    "rounds": args.rounds,
                    "summary_note_n4": f"{sum(notes)}/{len(notes)} runs",
                    **paired_ratios(a, b),
                },
            ),
            Row(
                bench="parallel",
                subject=f"live, {LIVE_CASES} creations, stand-in {TURN_DELAY_S} s a turn, -n 4",
                baseline="the same, -n 1",
                subject_s=median(live_a),
                baseline_s=median(live_b),
                goal="<= 0.33x",
                details={"rounds": args.live_rounds, "turn_delay_s": TURN_DELAY_S},
            ),
        ],
    )


if __name__ == "__main__":
    main()
