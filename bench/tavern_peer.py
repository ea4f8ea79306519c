"""The harness against its nearest peer, Tavern, on the same work in the same run: one
project creation and 264 GETs of files the project does not have (each expecting 404),
against one orchestrator process started here (mocked worker).

- pytest-codex: one matrix (the creation saves `project_id`; the 264 cases use it), run
  as a user has it (`--codex-base-url`, evidence bundle written and scanned);
- Tavern: 264 tests in one `.tavern.yaml` file, the project created once by a session
  fixture they all use (`usefixtures`), in its own venv (Tavern needs pytest < 9), made
  once under .cache/bench/ from the package index.

    .venv/bin/python bench/tavern_peer.py [--rounds 3]
Goal: pytest-codex <= 0.9x Tavern's wall time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, Row, alternate, median, paired_ratios, run_harness, save
from parallel import start_orchestrator

TAVERN = "tavern==3.7.1"
PYTEST = "pytest<9"
VENV = REPO / ".cache" / "bench" / "tavern-venv"
INSTALL_TIMEOUT_S = 900
RUN_TIMEOUT_S = 600
GETS = 264
CREATE = {"instruction": "Create a Python CLI app that prints the first 10 Fibonacci numbers."}


def tavern_python() -> Path:
    """Tavern's venv, made once (a stamp file names what was installed)."""
    python = VENV / "bin" / "python"
    stamp = VENV / "installed.txt"
    wanted = f"{TAVERN} {PYTEST}\n"
    if python.is_file() and stamp.is_file() and stamp.read_text() == wanted:
        return python
    print(f"  installing {TAVERN} and {PYTEST} into {VENV}", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=120)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", TAVERN, PYTEST],
        check=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    stamp.write_text(wanted)
    return python


def write_matrix(folder: Path) -> Path:
    cases = [
        "  - name: create\n"
        "    request: {method: POST, path: /api/v1/projects, json: "
        f"{json.dumps(CREATE)}}}\n"
        "    expect: {status: 200}\n"
        "    save: {project_id: id}\n"
    ] + [
        f"  - name: missing-{n}\n"
        f'    request: {{method: GET, path: "/api/v1/{{project_id}}/files/missing-{n}.txt"}}\n'
        "    expect: {status: 404}\n"
        for n in range(GETS)
    ]
    path = folder / "peer.yaml"
    path.write_text("name: peer\ncases:\n" + "".join(cases))
    return path


TAVERN_CONFTEST = """\
import json
import os
import urllib.request

import pytest


@pytest.fixture(scope="session")
def base_url():
    return os.environ["PEER_BASE_URL"]


@pytest.fixture(scope="session")
def project_id(base_url):
    request = urllib.request.Request(
        base_url + "/api/v1/projects",
        data=json.dumps(%s).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200
        return json.loads(answer.read())["id"]
"""


def write_tavern_tests(folder: Path) -> None:
    (folder / "conftest.py").write_text(TAVERN_CONFTEST % json.dumps(CREATE))
    documents = [
        f"test_name: missing-{n}\n"
        "marks:\n  - usefixtures: [base_url, project_id]\n"
        "stages:\n"
        f"  - name: get missing-{n}\n"
        f'    request: {{url: "{{base_url}}/api/v1/{{project_id}}/files/missing-{n}.txt", '
        "method: GET}\n"
        "    response: {status_code: 404}\n"
        for n in range(GETS)
    ]
    (folder / "test_peer.tavern.yaml").write_text("---\n".join(documents))


def ours(url: str, root: Path, matrix: Path, cases: list[int]) -> float:
    evidence = Path(tempfile.mkdtemp(dir=root))
    seconds = run_harness(
        f"--codex-base-url={url}",
        f"--codex-evidence-dir={evidence}",
        f"--codex-matrix={matrix}",
        cwd=root,
        timeout=RUN_TIMEOUT_S,
    )
    [manifest] = evidence.glob("*/mocked/manifest.json")
    cases.append(len(json.loads(manifest.read_text())["cases"]))
    return seconds


def tavern(python: Path, url: str, folder: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_peer.tavern.yaml"],
        cwd=folder,
        env={"PATH": "/usr/bin:/bin", "PEER_BASE_URL": url},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0 or f"{GETS} passed" not in done.stdout:
        raise RuntimeError(f"bench/tavern_peer.py: the Tavern run failed: {done.stdout[-2000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    python = tavern_python()
    with tempfile.TemporaryDirectory(prefix="bench-tavern-") as folder:
        root = Path(folder)
        matrix = write_matrix(root)
        peer = root / "tavern"
        peer.mkdir()
        write_tavern_tests(peer)
        process, url = start_orchestrator(root)
        cases: list[int] = []
        try:
            tavern(python, url, peer)  # warm-up: both sides' bytecode caches
            ours(url, root, matrix, [])
            a, b = alternate(
                lambda: ours(url, root, matrix, cases),
                lambda: tavern(python, url, peer),
                args.rounds,
                "tavern",
            )
        finally:
            process.terminate()
            process.wait(timeout=10)
    version = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('tavern'))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    row = Row(
        bench="peer (Tavern)",
        subject=f"pytest --codex-base-url, 1 create + {GETS} GET-404 cases",
        baseline=f"Tavern {version}, the same requests",
        subject_s=median(a),
        baseline_s=median(b),
        goal="<= 0.9x",
        details={
            "cases_recorded": median([float(c) for c in cases]),
            "rounds": args.rounds,
            **paired_ratios(a, b),
        },
    )
    save("tavern_peer", [row])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
