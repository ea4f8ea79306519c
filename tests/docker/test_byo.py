"""The plugin against an orchestrator that is not the bundled one: the FastAPI app of
tests/byo/ (service `backend`, readiness on /openapi.json, uuids, bare lists, text/plain
files, 202 + polled jobs), described to pytest-codex only by tests/byo/pytest.ini, a
matrix and schema files. Every run is a separate `python -m pytest` in a temporary
folder with `--noconftest` and `--strict-config`: no conftest.py code can help, and every
ini key must be a real option."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_codex.review import cli as verify
from tests.byo_app.server import BYO, byo_server
from tests.conftest import REPO
from tests.docker.conftest import build

RUN_TIMEOUT_S = 600
HEALTHY_TIMEOUT_S = 60.0
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
SCHEMAS = ("project", "files", "job", "result")
CANARY = re.compile(rb"pytest-codex-outside-canary-[0-9a-f]{16}")  # stack.plant_outside_canary


def case_count(matrix: Path) -> int:
    document: dict[str, Any] = yaml.safe_load(matrix.read_text())
    return len(document["cases"])


BYO_CASES = case_count(BYO / "matrices" / "byo.yaml")


@pytest.fixture(scope="module")
def byo_wheelhouse(base_image: str) -> Path:
    """tests/byo/wheelhouse/, filled on the host: the image builds with no index."""
    subprocess.run(["bash", str(BYO / "fill-wheelhouse.sh")], check=True, timeout=600)
    return BYO / "wheelhouse"


def docker(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *argv], capture_output=True, text=True, timeout=120, check=True
    )


def run_pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`pytest --codex-mode=mocked -c tests/byo/pytest.ini ...` in `folder`, evidence in
    `folder/evidence`."""
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        str(BYO / "pytest.ini"),
        "--codex-mode=mocked",
        f"--codex-evidence-dir={folder / 'evidence'}",
        # Its own temporary folder: the shared /tmp/pytest-of-<user> is pruned by every
        # other pytest run on the machine.
        f"--basetemp={folder / 'basetemp'}",
        "--noconftest",
        "--strict-config",
        "-p",
        "no:cacheprovider",
        *args,
    ]
    return subprocess.run(
        argv, cwd=folder, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )


def output(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}"


def passed(done: subprocess.CompletedProcess[str]) -> int:
    """The number of passed items in pytest's last line; no failure or error allowed."""
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert not re.search(r"\d+ (failed|errors?)\b", last), output(done)
    found = re.search(r"(\d+) passed", last)
    assert found is not None, output(done)
    return int(found.group(1))


def the_bundle(folder: Path) -> Path:
    [bundle] = sorted((folder / "evidence").glob("*/mocked"))
    assert verify.main(["verify", str(bundle)]) == 0
    return bundle


def check_bundle(bundle: Path) -> None:
    """The bundle holds the workspaces (uuid ids) and the schemas the run used."""
    copied = [p for p in (bundle / "workspaces").rglob("*") if p.is_file()]
    assert any(
        UUID4.search(p.name) or UUID4.search(p.read_bytes().decode("utf-8", "replace"))
        for p in copied
    ), f"no snapshot of a uuid-named workspace under {bundle / 'workspaces'}: {copied}"
    kept = [json.loads(p.read_bytes()) for p in (bundle / "schemas").rglob("*.json")]
    for name in SCHEMAS:
        mine = json.loads((BYO / "schemas" / f"{name}.json").read_bytes())
        assert mine in kept, f"schemas/{name}.json is not kept under {bundle / 'schemas'}"


def test_byo_image_builds_offline_and_turns_healthy(byo_wheelhouse: Path, base_image: str) -> None:
    """The image builds with no network at all (`--network none`: wheels only) on the
    project's base image, and its health check on /openapi.json turns it healthy."""
    tag = "pytest-codex/byo-backend:offline-check"
    build(
        "--no-cache",
        "--network",
        "none",
        "-t",
        tag,
        "--build-arg",
        f"BASE_IMAGE={base_image}",
        str(BYO),
    )
    started = docker("run", "-d", "-p", "127.0.0.1::8000", tag)
    container = started.stdout.strip()
    try:
        deadline = time.monotonic() + HEALTHY_TIMEOUT_S
        health = ""
        while time.monotonic() < deadline and health != "healthy":
            time.sleep(0.5)
            health = docker("inspect", "-f", "{{.State.Health.Status}}", container).stdout.strip()
        assert health == "healthy", docker("logs", container).stdout[-2000:]
        port = docker("port", container, "8000").stdout.split()[0].rsplit(":", 1)[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.json", timeout=5) as spec:
            assert "/api/v1/projects" in json.loads(spec.read())["paths"]
    finally:
        docker("rm", "-f", container)
        docker("rmi", tag)


def test_byo_through_compose(tmp_path: Path, byo_wheelhouse: Path) -> None:
    done = run_pytest(tmp_path, f"--codex-compose-file={BYO / 'compose.yaml'}")
    assert done.returncode == 0, output(done)
    assert passed(done) == BYO_CASES
    bundle = the_bundle(tmp_path)
    check_bundle(bundle)
    manifest = json.loads((bundle / "manifest.json").read_bytes())
    assert manifest["totals"]["passed"] == BYO_CASES
    leftover = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "label=com.docker.compose.service=backend"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert leftover.stdout.strip() == ""


def test_byo_through_base_url(tmp_path: Path) -> None:
    with byo_server(tmp_path / "byo") as server:
        done = run_pytest(
            tmp_path,
            f"--codex-base-url={server.url}",
            f"--codex-workspace-root={server.workspace_root}",
        )
        assert done.returncode == 0, output(done) + server.tail()
    assert passed(done) == BYO_CASES
    bundle = the_bundle(tmp_path)
    check_bundle(bundle)
    manifest = json.loads((bundle / "manifest.json").read_bytes())
    assert manifest["target"]["workspace_root"] == str(server.workspace_root)
    assert manifest["target"]["health_path"] == "/openapi.json"
    assert not manifest.get("checks_not_run"), manifest.get("checks_not_run")
    # The outside canary was planted for the run and removed after it.
    assert not (server.workspace_root / "OUTSIDE-CANARY.txt").exists()


def test_byo_load_with_its_own_ids_and_paths(tmp_path: Path) -> None:
    """tests/byo/load/load.yaml: this API's id key, project, listing and read paths."""
    with byo_server(tmp_path / "byo") as server:
        done = run_pytest(
            tmp_path,
            f"--codex-base-url={server.url}",
            f"--codex-workspace-root={server.workspace_root}",
            f"--codex-matrix={BYO / 'load'}",
        )
    assert done.returncode == 0, output(done)
    assert passed(done) == 1
    [figures] = (the_bundle(tmp_path) / "load").glob("*.json")
    load = json.loads(figures.read_bytes())
    assert (load["create"]["errors"], load["read"]["errors"], load["incomplete"]) == (0, 0, 0)
    assert (load["projects"], load["read"]["requests"]) == (100, 400)


def corpus_for_byo(folder: Path) -> Path:
    """The shipped traversal corpus with one change: the id key of this API's answer
    (`project_id`, not `id`)."""
    shipped = (REPO / "matrices" / "traversal-corpus.yaml").read_text()
    assert shipped.count("\n    project_id: id\n") == 1
    assert shipped.count("\n    other_id: id\n") == 1
    corpus = folder / "corpus" / "traversal-corpus.yaml"
    corpus.parent.mkdir()
    corpus.write_text(
        shipped.replace("\n    project_id: id\n", "\n    project_id: project_id\n").replace(
            "\n    other_id: id\n", "\n    other_id: project_id\n"
        )
    )
    return corpus


def run_corpus(
    folder: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    corpus = corpus_for_byo(folder)
    with byo_server(folder / "byo", env) as server:
        return run_pytest(
            folder,
            f"--codex-base-url={server.url}",
            f"--codex-workspace-root={server.workspace_root}",
            f"--codex-matrix={corpus.parent}",
        )


def served_outside_content(bundle: Path) -> list[str]:
    """Case records holding the outside canary's content or an /etc/passwd line."""
    return sorted(
        p.name
        for p in (bundle / "cases").rglob("*")
        if p.is_file() and (CANARY.search(p.read_bytes()) or b"root:x:0:0:" in p.read_bytes())
    )


def test_shipped_traversal_corpus_finds_no_leak(tmp_path: Path) -> None:
    done = run_corpus(tmp_path)
    cases = case_count(tmp_path / "corpus" / "traversal-corpus.yaml")
    assert "outside content" not in done.stdout, output(done)
    bundle = the_bundle(tmp_path)
    assert len([p for p in (bundle / "cases").rglob("*") if p.is_file()]) >= cases
    assert served_outside_content(bundle) == []
    # This app refuses every payload as the corpus expects, so nothing fails at all.
    assert done.returncode == 0, output(done)
    assert passed(done) == cases


def test_traversal_corpus_catches_a_leaky_byo(tmp_path: Path) -> None:
    """The same run against the app with its path checks off: the leaks are found, so
    the clean result above means something."""
    done = run_corpus(tmp_path, {"BYO_INSECURE_PATHS": "1"})
    assert done.returncode == 1, output(done)
    assert "outside content" in done.stdout
    failed = re.search(r"(\d+) failed", done.stdout.strip().splitlines()[-1])
    assert failed is not None, output(done)
    assert int(failed.group(1)) > 0
    [bundle] = sorted((tmp_path / "evidence").glob("*/mocked"))
    leaked = served_outside_content(bundle)
    assert any(name.startswith("plain-slash-1.") for name in leaked), leaked
