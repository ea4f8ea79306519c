"""Cases run against a real HTTP server shaped like the validation plan's app: the
matrix language of docs/matrices.md end to end (no mocks: a socket, files, a bundle)."""

from __future__ import annotations

import hashlib
import json
import textwrap
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from pytest_codex import schemas
from pytest_codex.bundle.writer import EvidenceBundle
from pytest_codex.cases.runner import CaseFailedError, RunContext, run_case
from pytest_codex.matrix.files import Matrix, load_matrix
from pytest_codex.secrets.redact import Redactor
from tests.harness.shaped_api import ShapedApi, serve

PROJECT_SCHEMA = {
    "type": "object",
    "required": ["project_id", "status", "workspace"],
    "properties": {"project_id": {"type": "string"}, "status": {"type": "string"}},
}
RESULT_SCHEMA = {
    "type": "object",
    "required": ["status", "logs"],
    "properties": {"logs": {"type": "array", "items": {"type": "string"}}},
}
MATRIX = """\
name: shaped
cases:
  - name: create-project
    request: {method: POST, path: /api/v1/projects, json: {instruction: "Fibonacci CLI"}}
    expect:
      status: 200
      schema: schemas/project.json
      json:
        project_id: {$regex: "^[0-9a-f-]{36}$"}
        status: completed
        workspace: {$type: string}
    save: {project_id: project_id}
  - name: list-files
    request: {method: GET, path: "/api/v1/{project_id}/files"}
    expect:
      status: 200
      files:
        exact: [README.md, app.py, .codex/result.json, instruction.txt]
        key: path
  - name: list-contains
    request: {method: GET, path: "/api/v1/{project_id}/files"}
    expect: {status: 200, files: {contains: [app.py], at: null}}
  - name: read-readme
    request: {method: GET, path: "/api/v1/{project_id}/files/README.md"}
    expect:
      status: 200
      text: {contains: ["Fibonacci"], regex: "^# "}
  - name: result-json
    request: {method: GET, path: "/api/v1/{project_id}/files/.codex/result.json"}
    expect:
      status: 200
      result:
        schema: schemas/result.json
        json: {status: success, logs: {$type: array}}
        on_disk: true
        project: "{project_id}"
  - name: edit-job
    request:
      method: POST
      path: "/api/v1/{project_id}/jobs"
      json: {job_type: edit, instruction: "add a line"}
    expect: {status: 202, json: {status: queued}}
    save: {job_id: job_id}
  - name: edit-job-done
    request: {method: GET, path: "/api/v1/{project_id}/jobs/{job_id}"}
    poll:
      interval: 0.1
      timeout: 10
      until: {json: {status: completed}}
    expect: {status: 200, json: {status: completed}}
"""


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[str, ShapedApi]]:
    root = tmp_path / "workspaces"
    root.mkdir()
    shaped = ShapedApi(root)
    with serve(shaped) as url:
        yield url, shaped


def write_matrix(folder: Path, text: str, name: str = "shaped.yaml") -> Path:
    (folder / "schemas").mkdir(parents=True, exist_ok=True)
    (folder / "schemas" / "project.json").write_text(json.dumps(PROJECT_SCHEMA))
    (folder / "schemas" / "result.json").write_text(json.dumps(RESULT_SCHEMA))
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def bundle(tmp_path: Path) -> EvidenceBundle:
    return EvidenceBundle(tmp_path / "evidence", "mocked", Redactor({}))


def context(url: str, evidence: EvidenceBundle, root: Path | None) -> RunContext:
    return RunContext(
        base_url=url,
        evidence=evidence,
        variables={},
        workspace_root=root,
        leak_markers=("root:x:0:0:",),
        timeout=10,
    )


def run_all(matrix: Matrix, run: RunContext) -> list[str]:
    failures = []
    for case in matrix.cases:
        try:
            run_case(case, run)
        except CaseFailedError as failure:
            failures.append(str(failure))
    return failures


def test_the_shaped_app_passes_with_only_a_matrix_and_schema_files(
    tmp_path: Path, api: tuple[str, ShapedApi]
) -> None:
    url, shaped = api
    matrices = tmp_path / "matrices"
    matrix = load_matrix(write_matrix(matrices, MATRIX), root=matrices)
    evidence = bundle(tmp_path)
    run = context(url, evidence, shaped.workspace_root)
    assert run_all(matrix, run) == []
    # every schema the run used is in the bundle once, with its hash listed
    result, project = sorted(evidence.used_schemas)
    assert project == "schemas/schemas/project.json"
    # a schema file called result.json is kept under another name: the bundle reserves it
    assert result.startswith("schemas/schemas/_result-")
    assert result.endswith(".json")
    for entry in evidence.used_schemas.values():
        assert (evidence.path / entry["file"]).is_file()
        assert len(entry["sha256"]) == 64
        # and the hash of the source file's own bytes, which drift is told by
        source = hashlib.sha256(Path(entry["source"]).read_bytes()).hexdigest()
        assert entry["source_sha256"] == source
    assert json.loads((evidence.path / "schemas/schemas/project.json").read_text()) == (
        PROJECT_SCHEMA
    )
    record = json.loads((evidence.path / "cases/shaped/edit-job-done.case.json").read_text())
    assert record["outcome"] == "passed"
    assert record["attempts"][-1]["until"] == "held"
    assert {"status", "elapsed_ms", "body", "at_ms"} <= set(record["attempts"][0])
    assert shaped.job_polls == len(record["attempts"]) >= 2


def test_a_shipped_schema_is_copied_under_its_name(
    tmp_path: Path, api: tuple[str, ShapedApi]
) -> None:
    url, _ = api
    path = write_matrix(
        tmp_path,
        """\
        name: shipped
        cases:
          - name: missing
            request: {path: /api/v1/projects/nope}
            expect: {status: 404, schema: error}
        """,
    )
    evidence = bundle(tmp_path)
    assert run_all(load_matrix(path, root=tmp_path), context(url, evidence, None)) == []
    assert list(evidence.used_schemas) == ["schemas/error.schema.json"]
    assert (evidence.path / "schemas/error.schema.json").is_file()


def test_mismatches_of_each_expectation_read_like_a_diff(
    tmp_path: Path, api: tuple[str, ShapedApi]
) -> None:
    url, shaped = api
    path = write_matrix(
        tmp_path,
        """\
        name: wrong
        cases:
          - name: create
            request: {method: POST, path: /api/v1/projects, json: {instruction: x}}
            expect:
              status: 200
              json: {project_id: {$type: integer}, status: {$regex: "^queued$"}}
            save: {pid: project_id}
          - name: files
            request: {path: "/api/v1/{pid}/files"}
            expect: {status: 200, files: {exact: [app.py]}}
          - name: text
            request: {path: "/api/v1/{pid}/files/app.py"}
            expect: {status: 200, text: {contains: [Fibonacci], regex: "^import"}}
          - name: result
            request: {path: "/api/v1/{pid}/files/.codex/result.json"}
            expect: {status: 200, result: {json: {status: failed}}}
        """,
    )
    failures = run_all(load_matrix(path), context(url, bundle(tmp_path), shaped.workspace_root))
    create, files, text, result = failures
    assert "json $.project_id:\n      expected a JSON integer" in create
    assert "json $.status:\n      expected text matching '^queued$'" in create
    assert "files (exact)" in files
    assert "extra ['.codex/result.json'" in files
    assert "text (contains)" in text
    assert "text (regex)" in text
    # the shipped result schema wants fields the shaped app does not write
    assert "result.json schema" in result
    assert "result.json $.status" in result


def test_evidence_files_are_unique_per_matrix_path_and_never_reserved_names(
    tmp_path: Path, api: tuple[str, ShapedApi]
) -> None:
    url, _ = api
    root = tmp_path / "matrices"
    case = """\
        name: seed
        cases:
          - name: result
            request: {path: /api/v1/projects/nope}
            expect: {status: 404}
          - name: manifest.json
            request: {path: /api/v1/projects/nope}
            expect: {status: 404}
        """
    paths = [
        write_matrix(root / "a", case, "seed.yaml"),
        write_matrix(root / "b", case, "seed.yaml"),
        write_matrix(root, case, "..yaml"),
        write_matrix(root, case, "seed.yml"),
        write_matrix(root / "a b", case, "seed.yaml"),
        write_matrix(root / "a_b", case, "seed.yaml"),
    ]
    evidence = bundle(tmp_path)
    run = context(url, evidence, None)
    written = set()
    for path in paths:
        for matrix_case in load_matrix(path, root=root).cases:
            run_case(matrix_case, run)
            written.add(matrix_case.evidence_file)
    assert len(written) == 2 * len(paths)
    files = [p for p in (evidence.path / "cases").rglob("*") if p.is_file()]
    assert len(files) == 2 * len(paths)
    reserved = {"result.json", "manifest.json", "SUMMARY.md", "index.html"}
    assert not [p for p in files if p.name in reserved]
    assert all(p.resolve().is_relative_to(evidence.path / "cases") for p in files)
    assert "cases/a/seed/result.case.json" in written


def test_a_header_made_multi_line_by_a_saved_value_is_not_sent(
    tmp_path: Path, api: tuple[str, ShapedApi]
) -> None:
    url, _ = api
    path = write_matrix(
        tmp_path,
        """\
        name: inject
        cases:
          - name: send
            request: {path: /api/v1/projects/nope, headers: {X-Trace: "{value}"}}
            expect: {status: 404}
        """,
    )
    text = path.read_text().replace(
        "cases:\n",
        "cases:\n  - name: first\n    request: {path: /api/v1/projects/nope}\n"
        "    expect: {status: 404}\n    save: {value: detail}\n",
    )
    path.write_text(text)
    matrix = load_matrix(path)
    run = context(url, bundle(tmp_path), None)
    run_case(matrix.cases[0], run)
    run.variables["value"] = "a\r\nX-Injected: 1"
    with pytest.raises(CaseFailedError) as failed:
        run_case(matrix.cases[1], run)
    assert "holds CR, LF, NUL" in str(failed.value)


LOAD = """\
name: shaped-load
load:
  creations: 4
  reads: 8
  clients: 2
  files: [.codex/result.json, README.md, app.py, instruction.txt]
  id: project_id
  listing: {path: "/api/v1/{id}/files", key: path}
"""


def test_a_plugin_run_keeps_schemas_attempts_and_separate_evidence_per_matrix_path(
    pytester: pytest.Pytester, api: tuple[str, ShapedApi]
) -> None:
    url, _ = api
    write_matrix(pytester.path / "matrices", MATRIX)
    seed = "name: seed\ncases:\n  - name: result\n    request: {path: /healthz}\n"
    seed += "    expect: {status: 200}\n"
    for folder in ("a", "b"):
        (pytester.path / "matrices" / folder).mkdir()
        (pytester.path / "matrices" / folder / "seed.yaml").write_text(seed)
    (pytester.path / "matrices" / "load.yaml").write_text(LOAD)
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-base-url={url}",
        "--codex-evidence-dir=evidence",
        "-p",
        "no:cacheprovider",
        "matrices",
    )
    result.assert_outcomes(
        passed=len(load_matrix(pytester.path / "matrices/shaped.yaml").cases) + 3
    )
    [bundle_dir] = sorted((pytester.path / "evidence").glob("*/mocked"))
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    assert sorted(manifest["schemas"]) == sorted(
        path.relative_to(bundle_dir).as_posix()
        for path in (bundle_dir / "schemas").rglob("*")
        if path.is_file()
    )
    assert len(manifest["schemas"]) == 2
    assert (bundle_dir / "cases/a/seed/result.case.json").is_file()
    assert (bundle_dir / "cases/b/seed/result.case.json").is_file()
    record = json.loads((bundle_dir / "cases/shaped/edit-job-done.case.json").read_text())
    assert record["attempts"][-1]["until"] == "held"
    assert manifest["load"]["shaped-load"]["passed"]


def test_files_a_schema_refers_to_are_kept_beside_it(
    tmp_path: Path, api: tuple[str, ShapedApi]
) -> None:
    url, _ = api
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "error.json").write_text('{"$ref": "detail.json"}')
    (tmp_path / "schemas" / "detail.json").write_text('{"required": ["detail"]}')
    path = tmp_path / "refs.yaml"
    path.write_text(
        "name: refs\ncases:\n  - name: missing\n    request: {path: /api/v1/projects/nope}\n"
        "    expect: {status: 404, schema: schemas/error.json}\n"
    )
    evidence = bundle(tmp_path)
    assert run_all(load_matrix(path, root=tmp_path), context(url, evidence, None)) == []
    assert sorted(evidence.used_schemas) == [
        "schemas/schemas/error.json",
        "schemas/schemas/error.refs/detail.json",
    ]
    copy = evidence.path / "schemas/schemas/error.refs/detail.json"
    assert json.loads(copy.read_text()) == {"required": ["detail"]}


def test_schema_hashes_are_of_the_source_files_bytes(
    tmp_path: Path, api: tuple[str, ShapedApi]
) -> None:
    """The manifest's sha256 of a schema is the file's own (a reviewer can check it
    with sha256sum), not that of a re-serialised copy."""
    url, _ = api
    (tmp_path / "schemas").mkdir()
    error = tmp_path / "schemas" / "error.json"
    detail = tmp_path / "schemas" / "detail.json"
    error.write_text('{ "$ref" :  "detail.json" ,\n  "title": "Error"\n}\n')
    detail.write_text('{"required":[ "detail" ]}   \n')
    path = tmp_path / "refs.yaml"
    path.write_text(
        "name: refs\ncases:\n  - name: missing\n    request: {path: /api/v1/projects/nope}\n"
        "    expect: {status: 404, schema: schemas/error.json}\n"
        "  - name: shipped\n    request: {path: /api/v1/projects/nope}\n"
        "    expect: {status: 404, schema: error}\n"
    )
    evidence = bundle(tmp_path)
    assert run_all(load_matrix(path, root=tmp_path), context(url, evidence, None)) == []
    used = evidence.used_schemas
    shipped = resources.files(schemas) / "error.schema.json"
    for name, source in [
        ("schemas/schemas/error.json", error.read_bytes()),
        ("schemas/schemas/error.refs/detail.json", detail.read_bytes()),
        ("schemas/error.schema.json", shipped.read_bytes()),
    ]:
        assert used[name]["sha256"] == hashlib.sha256(source).hexdigest(), name
        assert (evidence.path / name).read_bytes() == source
