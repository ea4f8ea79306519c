"""`chains.Chains`: what a case depends on, for selections and xdist shares."""

from __future__ import annotations

import time
from pathlib import Path

from pytest_codex.matrix.chains import Chains
from pytest_codex.matrix.files import load_matrix
from tests.conftest import REPO


def names(chains: Chains, case: str) -> list[str]:
    by_name = {c.name: c for c in chains.cases}
    return [c.name for c in chains.dependencies(by_name[case])]


def test_the_seed_plans_dependencies() -> None:
    chains = Chains(load_matrix(REPO / "matrices" / "mocked.yaml").cases)
    assert names(chains, "healthz") == []
    assert names(chains, "get-project") == ["create-project"]
    # result.json after the edit needs the edit job on the same project, not only the id.
    assert names(chains, "result-json-after-edit") == ["create-project", "edit-job"]
    assert names(chains, "get-edit-job") == ["create-project", "edit-job"]
    assert names(chains, "unknown-project") == []


def test_a_case_after_a_polled_job_depends_on_the_poll() -> None:
    """The adopter's asynchronous edit: POST answered 202 `queued`, a case polling the job
    until `completed`, then cases reading what the job changed. Reading result.json
    without the poll reads it before the job ran (modified_files [] instead of [app.py])."""
    byo = REPO / "tests" / "byo"
    # Its schemas sit beside matrices/ (the byo pytest.ini names that folder for the run).
    chains = Chains(
        load_matrix(byo / "matrices" / "byo.yaml", schema_folders=(byo / "schemas",)).cases
    )
    assert names(chains, "edit-job-completed") == ["create-project", "edit-job"]
    for reader in ("result-json-after-edit", "app-py-after-edit", "list-files-after-edit"):
        assert names(chains, reader) == ["create-project", "edit-job", "edit-job-completed"]
    # Cases before the job do not wait for it.
    assert names(chains, "result-json") == ["create-project"]


def test_traversal_payloads_need_only_their_target_project() -> None:
    chains = Chains(load_matrix(REPO / "matrices" / "traversal-corpus.yaml").cases)
    payloads = [c for c in chains.cases if c.family is not None]
    assert payloads
    for case in payloads:
        assert {c.name for c in chains.dependencies(case)} <= {
            "create-target-project",
            "create-other-project",
        }


def test_dependencies_are_found_in_linear_time(tmp_path: Path) -> None:
    cases = [
        "  - name: make\n    request: {method: POST, path: /p}\n"
        "    expect: {status: 200}\n    save: {pid: id}\n"
    ]
    cases += [
        f'  - name: edit-{n}\n    request: {{method: POST, path: "/p/{{pid}}"}}\n'
        "    expect: {status: 200}\n"
        for n in range(20000)
    ]
    path = tmp_path / "big.yaml"
    path.write_text("name: big\ncases:\n" + "".join(cases))
    matrix = load_matrix(path)
    started = time.perf_counter()
    chains = Chains(matrix.cases)
    built = time.perf_counter() - started
    last = chains.cases[-1]
    # Every earlier edit changed the same project's state: all of them, in order.
    dependencies = chains.dependencies(last)
    assert len(dependencies) == 20000
    assert dependencies[0].name == "make"
    assert built < 5  # a generous bound against a quadratic build (about 0.1 s here)
