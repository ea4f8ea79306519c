"""Load runs aimed by the load file: ids and paths of any API, the reference by default."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_codex.cases.load import LoadTarget, run_load
from pytest_codex.matrix.files import MatrixError, load_matrix
from tests.conftest import FIBONACCI, SEED_FILES, Orchestrator
from tests.harness.shaped_api import FILES, ShapedApi, serve

SHAPED_LOAD = """\
name: load
load:
  creations: 6
  reads: 12
  clients: 3
  files: [README.md, app.py, .codex/result.json, instruction.txt]
  create: {path: /api/v1/projects}
  id: project_id
  project: "/api/v1/projects/{id}"
  listing: {path: "/api/v1/{id}/files", at: null, key: path}
  read: "/api/v1/{id}/files/app.py"
"""


def test_a_load_file_aims_the_run_at_another_api_shape(tmp_path: Path) -> None:
    path = tmp_path / "load.yaml"
    path.write_text(SHAPED_LOAD)
    load = load_matrix(path).load
    assert load is not None
    target = LoadTarget.from_matrix(load)
    assert target.id_key == "project_id"
    root = tmp_path / "workspaces"
    root.mkdir()
    with serve(ShapedApi(root)) as url:
        report = run_load(
            url,
            creations=load["creations"],
            reads=load["reads"],
            clients=load["clients"],
            instruction="x",
            expected_files=list(load["files"]),
            timeout=10,
            target=target,
        )
        assert report.figures()["error_samples"] == []
        assert report.passed
        assert report.projects == 6
        assert report.read.requests == 12
        wrong = run_load(
            url,
            creations=2,
            reads=0,
            clients=1,
            instruction="x",
            expected_files=sorted(FILES),  # instruction.txt is missing from it
            timeout=10,
            target=target,
        )
    assert not wrong.passed
    assert len(wrong.incomplete) == 2


def test_the_reference_api_shape_is_the_default(orchestrator: Orchestrator) -> None:
    report = run_load(
        orchestrator.url,
        creations=3,
        reads=6,
        clients=2,
        instruction=FIBONACCI,
        expected_files=SEED_FILES,
        timeout=30,
    )
    assert report.figures()["error_samples"] == []
    assert report.passed
    # the reference API's ids are not at `project_id`: every creation is an error
    shaped = run_load(
        orchestrator.url,
        creations=1,
        reads=0,
        clients=1,
        instruction=FIBONACCI,
        expected_files=SEED_FILES,
        timeout=30,
        target=LoadTarget(id_key="project_id"),
    )
    assert shaped.create.errors == 1
    assert "no id at 'project_id'" in shaped.error_samples[0]


def test_a_project_path_without_an_id_is_refused_at_collection(tmp_path: Path) -> None:
    path = tmp_path / "load.yaml"
    path.write_text(SHAPED_LOAD.replace('"/api/v1/projects/{id}"', "/api/v1/projects"))
    with pytest.raises(MatrixError, match=r"\$\.load\.project: '/api/v1/projects' has no \{id\}"):
        load_matrix(path)
