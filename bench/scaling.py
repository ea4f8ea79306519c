"""Scaling: traversal matrices of 100, 1,000 and 5,000 payloads, run by the harness
against the orchestrator as a plain process. Time should grow linearly with the cases;
the evidence size per case is reported.

    .venv/bin/python bench/scaling.py
The baseline of each size is the line through the 100 and 1,000 runs (ratio 1.0 = linear).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from common import REPO, Row, run_harness, save

from pytest_codex.matrix.files import load_matrix

SIZES = (100, 1000, 5000)


def payload_matrix(count: int, folder: Path) -> Path:
    """`count` traversal cases cycled from the bundled families, each a distinct path."""
    source = load_matrix(REPO / "matrices" / "traversal.yaml")
    create = source.cases[0]
    payloads = [case for case in source.cases if case.family]
    cases: list[dict[str, object]] = [
        {
            "name": create.name,
            "request": dict(create.request),
            "expect": dict(create.expect),
            "save": dict(create.save),
        }
    ]
    for index in range(count):
        case = payloads[index % len(payloads)]
        cases.append(
            {
                "name": f"p{index:05d}",
                "family": case.family,
                "request": dict(case.request),
                "expect": dict(case.expect),
            }
        )
    path = folder / f"traversal-{count}.yaml"
    path.write_text(yaml.safe_dump({"name": f"traversal-{count}", "cases": cases}))
    return path


def run(count: int, root: Path, url: str) -> tuple[float, float]:
    folder = root / str(count)
    folder.mkdir()
    matrix = payload_matrix(count, folder)
    evidence = folder / "evidence"
    seconds = run_harness(
        f"--codex-base-url={url}",
        f"--codex-matrix={matrix}",
        f"--codex-evidence-dir={evidence}",
        cwd=folder,
    )
    size = sum(p.stat().st_size for p in evidence.rglob("*") if p.is_file())
    return seconds, size / (count + 1)


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="bench-scaling-"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "WORKSPACE_ROOT": str(root / "ws"),
        "DATABASE_URL": f"sqlite:///{root / 'db.sqlite'}",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "pytest_codex_orchestrator", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.5)
    try:
        figures = {count: run(count, root, f"http://127.0.0.1:{port}") for count in SIZES}
    finally:
        server.terminate()
        server.wait(timeout=10)
    # Linear growth means a fixed start-up cost plus a constant cost per case: the
    # baseline extrapolates the 100 -> 1,000 line to each size (ratio 1.0 = linear).
    (t_small, _), (t_mid, _) = figures[SIZES[0]], figures[SIZES[1]]
    per_case = (t_mid - t_small) / (SIZES[1] - SIZES[0])
    rows = []
    for count, (seconds, bytes_per_case) in figures.items():
        rows.append(
            Row(
                bench=f"scaling, {count} payloads",
                subject="harness run",
                baseline="100 -> 1,000 line extrapolated",
                subject_s=seconds,
                baseline_s=t_small + per_case * (count - SIZES[0]),
                goal="linear (ratio ~ 1.0)",
                details={
                    "ms_per_case": round(seconds / count * 1000, 2),
                    "marginal_ms_per_case": round(per_case * 1000, 2),
                    "evidence_bytes_per_case": round(bytes_per_case),
                },
            )
        )
        print(
            f"{count:>5} payloads: {seconds:.2f} s, {seconds / count * 1000:.2f} ms/case, "
            f"{bytes_per_case / 1024:.1f} KiB evidence/case",
            flush=True,
        )
    save("scaling", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
