"""What every benchmark shares: alternate A and B, take medians, print a row.

A benchmark measures its subject (A) and its baseline (B) in the same run, A B A B ...,
so that a slow moment of the machine hits both. Figures go to stdout as one table row
each and, as JSON, to bench/results/<name>.json for bench/report.py.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
sys.path[:0] = [str(REPO), str(REPO / "service")]
# pytest as a user of the harness has it: pytest-codex only, not the pytest plugins of
# this project's dev tools (schemathesis and hypothesis add ~1.8 s to every start).
HARNESS_ENV = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
HARNESS_ONLY = ("-p", "pytest_codex.adapter.plugin")


def run_harness(
    *args: str, cwd: Path, timeout: float = 900, output: list[str] | None = None
) -> float:
    """Seconds of one `pytest --codex-mode=mocked -q <args>` run as a user has it; it must
    pass. Its terminal output is appended to `output` when given."""
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *HARNESS_ONLY,
            "--codex-mode=mocked",
            "-q",
            "-p",
            "no:cacheprovider",
            *args,
        ],
        cwd=cwd,
        env=HARNESS_ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    seconds = time.perf_counter() - started
    assert done.returncode == 0, done.stdout[-2000:]
    if output is not None:
        output.append(done.stdout)
    return seconds


@dataclass
class Row:
    """One measured comparison: subject against baseline, lower is better."""

    bench: str
    subject: str
    baseline: str
    subject_s: float
    baseline_s: float
    goal: str
    unit: str = "s"
    details: dict[str, object] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.subject_s / self.baseline_s if self.baseline_s else float("inf")

    def line(self) -> str:
        return (
            f"{self.bench}: {self.subject} {self.subject_s:.3f} {self.unit} vs "
            f"{self.baseline} {self.baseline_s:.3f} {self.unit} = {self.ratio:.2f}x "
            f"(goal {self.goal})"
        )


def alternate(
    subject: Callable[[], float], baseline: Callable[[], float], rounds: int, label: str = ""
) -> tuple[list[float], list[float]]:
    """Run subject and baseline alternately; each returns the seconds it measured."""
    a: list[float] = []
    b: list[float] = []
    for index in range(rounds):
        a.append(subject())
        b.append(baseline())
        print(
            f"  {label} round {index + 1}/{rounds}: A {a[-1]:.3f} s, B {b[-1]:.3f} s",
            file=sys.stderr,
            flush=True,
        )
    return a, b


def median(values: list[float]) -> float:
    return statistics.median(values)


def paired_ratios(a: list[float], b: list[float]) -> dict[str, object]:
    """A/B round by round (each pair ran back to back, so a slow moment of a shared
    machine hits both) and their median: steadier than the ratio of the medians."""
    ratios = [round(x / y, 3) for x, y in zip(a, b, strict=True) if y]
    return {"paired_ratios": ratios, "paired_ratio_median": median(ratios) if ratios else None}


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def save(name: str, rows: list[Row], extra: dict[str, object] | None = None) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    document = {
        "bench": name,
        "machine": machine(),
        "rows": [{**asdict(row), "ratio": round(row.ratio, 3)} for row in rows],
        **(extra or {}),
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(document, indent=2) + "\n")
    for row in rows:
        print(row.line(), flush=True)


def machine() -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    }
