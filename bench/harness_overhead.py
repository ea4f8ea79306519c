"""Harness overhead: a warm `pytest --codex-mode=mocked` run (compose up, health, the
matrices, evidence, teardown) against a bare script doing the same work: compose up,
wait for /healthz, the same requests with curl, compose down.

    .venv/bin/python bench/harness_overhead.py [--rounds 3]   (needs the images)
Goal: ratio <= 1.15 (issue 20). The split of the pytest run comes from its manifest.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from common import REPO, Row, alternate, median, paired_ratios, run_harness, save

from pytest_codex.cases.runner import substitute
from pytest_codex.matrix.files import Case, load_matrix
from pytest_codex.target import compose as stack

MATRICES = [REPO / "matrices" / "mocked.yaml", REPO / "matrices" / "traversal.yaml"]


def pytest_run(root: Path, splits: list[dict[str, float]]) -> float:
    evidence = Path(tempfile.mkdtemp(dir=root))
    seconds = run_harness(
        f"--codex-evidence-dir={evidence}",
        *(f"--codex-matrix={m}" for m in MATRICES),
        cwd=REPO,
        timeout=600,
    )
    [manifest] = evidence.glob("*/mocked/manifest.json")
    timings = json.loads(manifest.read_text())["timings_s"]
    splits.append(
        {
            **timings,
            "evidence_and_pytest": round(
                seconds - sum(timings.get(k, 0) for k in ("stack_start", "cases", "teardown")), 3
            ),
        }
    )
    return seconds


def curl(base_url: str, case: Case, variables: dict[str, str]) -> None:
    request: dict[str, Any] = substitute(dict(case.request), variables, case.name)
    argv = ["curl", "-s", "--path-as-is", "-X", case.method, "-o", "-", "-w", "\n%{http_code}"]
    if "json" in request:
        argv += [
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            json.dumps(request["json"]),
        ]
    elif "body" in request:
        argv += ["-H", "Content-Type: application/json", "--data-binary", request["body"]]
    done = subprocess.run(
        [*argv, base_url + request["path"]], capture_output=True, timeout=60, check=False
    )
    body = done.stdout.rsplit(b"\n", 1)[0]
    for name, key in case.save.items():
        variables[name] = str(json.loads(body)[key])


def bare_script(root: Path) -> float:
    started = time.perf_counter()
    env = {**os.environ, "CODEX_WORKSPACE_ROOT": str(Path(tempfile.mkdtemp(dir=root)))}
    compose = stack.Compose(
        stack.detect_compose_command(),
        (REPO / "service/compose.yaml",),
        f"bench-bare-{secrets.token_hex(3)}",
        env,
    )
    compose.run("up", "--build", "-d")
    try:
        port = compose.run("port", "orchestrator", "8000").strip().rsplit(":", 1)[1]
        base_url = f"http://127.0.0.1:{port}"
        while (
            subprocess.run(
                ["curl", "-sf", "-o", "/dev/null", f"{base_url}/healthz"], check=False, timeout=10
            ).returncode
            != 0
        ):
            time.sleep(0.1)
        for matrix in MATRICES:
            variables: dict[str, str] = {}
            for case in load_matrix(matrix).cases:
                if case.runs_in("mocked"):
                    curl(base_url, case, variables)
    finally:
        compose.run("down", "-v", "--remove-orphans", "-t", "5")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-harness-"))
    splits: list[dict[str, float]] = []
    pytest_run(root, [])  # warm-up: images and caches
    a, b = alternate(
        lambda: pytest_run(root, splits), lambda: bare_script(root), args.rounds, "harness"
    )
    split = {key: median([s[key] for s in splits]) for key in splits[0]}
    row = Row(
        bench="harness overhead",
        subject="pytest --codex-mode=mocked",
        baseline="compose + curl script",
        subject_s=median(a),
        baseline_s=median(b),
        goal="<= 1.15x",
        details={"split_s_median": split, **paired_ratios(a, b)},
    )
    save("harness_overhead", [row])
    print(f"split of the pytest run (medians, s): {split}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
