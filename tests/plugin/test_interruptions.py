"""Runs that do not end on their own: SIGTERM to an xdist controller mid-run, SIGKILL to a
run. Real processes, real signals, a real HTTP target on a loopback port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_codex.bundle.reader import bundle_files
from tests.local_http import serving, slow_handler

CASES = 80
CONSOLE = Path(sys.executable).parent / "codex-evidence"
WAIT_S = 90  # bound on each wait for the run's output or exit


@pytest.fixture
def slow_server() -> Iterator[str]:
    with serving(slow_handler(0.15)) as url:
        yield url


def start_run(folder: Path, url: str, *flags: str) -> subprocess.Popen[str]:
    matrices = folder / "matrices"
    matrices.mkdir()
    case = "  - name: slow-{0}\n    request: {{path: /slow/{0}}}\n    expect: {{status: 200}}\n"
    cases = "".join(case.format(index) for index in range(CASES))
    (matrices / "slow.yaml").write_text(f"name: slow\ncases:\n{cases}")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "--codex-mode=mocked",
            f"--codex-base-url={url}",
            "--codex-matrix=matrices",
            "--codex-evidence-dir=evidence",
            "-v",
            "-p",
            "no:cacheprovider",
            *flags,
        ],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_for_passes(process: subprocess.Popen[str], count: int) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if sum("PASSED" in seen for seen in lines) >= count:
            return lines
    raise AssertionError("the run did not pass cases in time:\n" + "".join(lines))


def test_sigterm_to_an_xdist_run_keeps_every_record_handed_back(
    tmp_path: Path, slow_server: str
) -> None:
    process = start_run(tmp_path, slow_server, "-n", "2")
    wait_for_passes(process, 10)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=WAIT_S)
    [bundle] = sorted((tmp_path / "evidence").glob("*/mocked"))
    manifest: dict[str, Any] = json.loads((bundle / "manifest.json").read_text())
    session = manifest["session"]
    assert session["end"] == "interrupted"
    assert session["reason"] == "SIGTERM"
    assert (session["collected"], session["selected"]) == (CASES, CASES)
    selected = [case for case in manifest["cases"] if case["role"] == "selected"]
    assert 10 <= session["run"] == len(selected) < CASES
    # Every case record's evidence is on disk; every file on disk is in the manifest, as
    # it was when the manifest closed (no worker wrote after it).
    files = {entry["path"]: entry for entry in manifest["files"]}
    on_disk = set(bundle_files(bundle)) - {"manifest.json"}
    assert on_disk == set(files)
    assert all(case["evidence"] in on_disk for case in selected)
    checked = subprocess.run(
        [str(CONSOLE), "verify", "--allow-partial", str(bundle)],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout
    line = f"INTERRUPTED (SIGTERM), {session['run']} passed, 0 failed, 0 error, 0 skipped"
    assert f"pytest-codex mocked run: {line} ({session['run']} run of {CASES} selected)" in (
        output
    )
    first = (bundle / "SUMMARY.md").read_text().splitlines()[0]
    assert first.startswith(f"# pytest-codex mocked run: {line}")


def test_a_killed_run_did_not_finish(tmp_path: Path, slow_server: str) -> None:
    process = start_run(tmp_path, slow_server)
    wait_for_passes(process, 3)
    process.kill()
    process.communicate(timeout=WAIT_S)
    [timestamp] = sorted((tmp_path / "evidence").glob("*"))
    assert not (timestamp / "mocked" / "manifest.json").exists()
    for folder in (timestamp, timestamp / "mocked"):
        checked = subprocess.run(
            [str(CONSOLE), "verify", str(folder)],
            capture_output=True,
            text=True,
            timeout=WAIT_S,
            check=False,
        )
        assert checked.returncode == 1, checked.stdout + checked.stderr
        assert "run: DID NOT FINISH (no manifest.json in mocked/" in checked.stdout
        assert "verdict: did not finish" in checked.stdout
