"""How a session ends and what it selected, as the bundle records it: real signals to a
real run, a target that never answers, selections that skip the cases saving values."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_codex.review import cli as verify
from tests.conftest import REPO, Orchestrator, free_port
from tests.local_http import serving, slow_handler

SLOW_CASES = 60


@pytest.fixture
def slow_server() -> Iterator[str]:
    with serving(slow_handler(0.2)) as url:
        yield url


def write_slow_matrix(folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    case = "  - name: slow-{0}\n    request: {{path: /slow/{0}}}\n    expect: {{status: 200}}\n"
    cases = "".join(case.format(index) for index in range(SLOW_CASES))
    (folder / "slow.yaml").write_text(f"name: slow\ncases:\n{cases}")


def manifest_of(evidence: Path) -> dict[str, Any]:
    [bundle] = sorted(evidence.glob("*/mocked"))
    loaded: dict[str, Any] = json.loads((bundle / "manifest.json").read_text())
    return loaded


def start_run(cwd: Path, url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "--codex-mode=mocked",
            f"--codex-base-url={url}",
            "--codex-matrix=matrices",
            "--codex-evidence-dir=evidence",
            "--junitxml=junit.xml",
            "-v",
            "-p",
            "no:cacheprovider",
        ],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_for_passes(process: subprocess.Popen[str], count: int) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if sum("PASSED" in seen for seen in lines) >= count:
            return lines
    raise AssertionError("the run did not pass cases in time:\n" + "".join(lines))


@pytest.mark.parametrize(
    ("signum", "reason"), [(signal.SIGINT, "KeyboardInterrupt"), (signal.SIGTERM, "SIGTERM")]
)
def test_an_interrupted_run_leaves_a_bundle_that_says_so(
    tmp_path: Path, slow_server: str, signum: int, reason: str
) -> None:
    write_slow_matrix(tmp_path / "matrices")
    process = start_run(tmp_path, slow_server)
    wait_for_passes(process, 3)
    process.send_signal(signum)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == pytest.ExitCode.INTERRUPTED
    manifest = manifest_of(tmp_path / "evidence")
    session = manifest["session"]
    assert isinstance(session, dict)
    assert session["end"] == "interrupted"
    assert session["reason"] == reason
    assert session["collected"] == SLOW_CASES
    assert 3 <= session["run"] < SLOW_CASES
    [bundle] = sorted((tmp_path / "evidence").glob("*/mocked"))
    first = (bundle / "SUMMARY.md").read_text().splitlines()[0]
    assert first.startswith(f"# pytest-codex mocked run: INTERRUPTED ({reason})")
    assert f"of {SLOW_CASES} selected" in first
    assert "Traceback" not in output
    # The JUnit report states the same verdict (pytest ends session fixtures after an
    # interruption only in its own sessionfinish, where junitxml writes the file).
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    verdicts = [p.get("value") for p in suite.iter("property") if p.get("name") == "codex_verdict"]
    assert verdicts == [first.removeprefix("# ")], verdicts


def test_a_target_that_never_answers_stops_the_session_once(
    pytester: pytest.Pytester,
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-base-url={url}",
        f"--codex-matrix={REPO / 'matrices' / 'mocked.yaml'}",
        "--codex-evidence-dir=evidence",
    )
    assert result.ret == 1
    text = result.stdout.str() + result.stderr.str()
    assert text.count("does not answer 2xx") == 2  # the exit line and the details, once each
    result.stdout.fnmatch_lines(["*SESSION STOPPED: codex stack: *healthz does not answer 2xx*"])
    result.stdout.no_fnmatch_line("*ERROR at setup*")
    assert "Traceback" not in text
    manifest = manifest_of(pytester.path / "evidence")
    session = manifest["session"]
    assert isinstance(session, dict)
    assert session["end"] == "stack_failure"
    assert session["run"] == 0


def test_a_single_case_runs_its_prerequisites_first(
    pytester: pytest.Pytester, orchestrator: Orchestrator
) -> None:
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-base-url={orchestrator.url}",
        f"--codex-matrix={REPO / 'matrices' / 'mocked.yaml'}",
        "--codex-evidence-dir=evidence",
        "-k",
        "get-edit-job",
    )
    result.assert_outcomes(passed=1)
    manifest = manifest_of(pytester.path / "evidence")
    cases = manifest["cases"]
    assert isinstance(cases, list)
    roles = [(case["name"], case["role"], case["outcome"]) for case in cases]
    assert roles == [
        ("create-project", "prerequisite", "passed"),
        ("edit-job", "prerequisite", "passed"),
        ("get-edit-job", "selected", "passed"),
    ]
    session = manifest["session"]
    assert isinstance(session, dict)
    assert session["selected"] == 1
    assert session["deselected"] == session["collected"] - 1
    assert session["selection"]["keyword"] == "get-edit-job"
    [bundle] = sorted((pytester.path / "evidence").glob("*/mocked"))
    assert [p.name for p in bundle.glob("cases/*/create-project.for-*")] == [
        "create-project.for-get-edit-job.case.json"
    ]


def test_a_failed_prerequisite_is_the_selected_cases_error(
    pytester: pytest.Pytester, orchestrator: Orchestrator
) -> None:
    pytester.mkdir("matrices")
    pytester.path.joinpath("matrices", "chain.yaml").write_text(
        "name: chain\ncases:\n"
        "  - name: make\n"
        "    request: {method: POST, path: /api/v1/projects, json: {instruction: x}}\n"
        "    expect: {status: 200}\n"
        "    save: {pid: no.such.key}\n"
        "  - name: use-one\n"
        '    request: {path: "/api/v1/projects/{pid}"}\n'
        "    expect: {status: 200}\n"
        "  - name: use-two\n"
        '    request: {path: "/api/v1/{pid}/files"}\n'
        "    expect: {status: 200}\n"
    )
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-base-url={orchestrator.url}",
        "--codex-evidence-dir=evidence",
        "-k",
        "use",
    )
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        ["*use-one: its prerequisite 'make' (it saves a value this case needs) failed:*"]
    )
    result.stdout.fnmatch_lines(["*use-two: its prerequisite 'make'*failed earlier in this run*"])
    manifest = manifest_of(pytester.path / "evidence")
    outcomes = [(c["name"], c["role"], c["outcome"]) for c in manifest["cases"]]
    assert outcomes == [
        ("make", "prerequisite", "failed"),
        ("use-one", "selected", "error"),
        ("use-two", "selected", "error"),
    ]


def test_an_unwritable_evidence_dir_is_one_usage_error(pytester: pytest.Pytester) -> None:
    blocker = pytester.path / "blocker"
    blocker.write_text("a file, not a folder")
    result = pytester.runpytest(
        "--codex-mode=mocked",
        "--codex-base-url=http://127.0.0.1:9",
        f"--codex-matrix={REPO / 'matrices' / 'mocked.yaml'}",
        f"--codex-evidence-dir={blocker / 'evidence'}",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --codex-evidence-dir: *cannot be written*"])
    result.stderr.no_fnmatch_line("*Traceback*")


def test_codex_mode_in_the_ini_file_runs_the_matrices(
    pytester: pytest.Pytester, orchestrator: Orchestrator
) -> None:
    pytester.makeini(f"""
        [pytest]
        codex_mode = mocked
        codex_base_url = {orchestrator.url}
        codex_matrix = {REPO / "matrices" / "mocked.yaml"}
        codex_evidence_dir = evidence
    """)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=17)


def test_a_space_form_value_taken_for_a_path_is_named(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    pytester.makeini(f"""
        [pytest]
        codex_matrix = {REPO / "matrices" / "mocked.yaml"}
    """)
    outside = tmp_path_factory.mktemp("outside-evidence")
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked", "--codex-evidence-dir", str(outside)
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: --codex-evidence-dir: pytest took '{outside}' for a test path and "
            f"ignored {pytester.path / 'tox.ini'}; write --codex-evidence-dir={outside}"
        ]
    )
    result.stderr.no_fnmatch_line("*Traceback*")


def test_a_base_url_run_with_workspace_root_checks_the_workspaces(
    pytester: pytest.Pytester, orchestrator: Orchestrator
) -> None:
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-base-url={orchestrator.url}",
        f"--codex-workspace-root={orchestrator.workspace_root}",
        f"--codex-matrix={REPO / 'matrices' / 'mocked.yaml'}",
        "--codex-evidence-dir=evidence",
    )
    result.assert_outcomes(passed=17)
    result.stdout.no_fnmatch_line("*not checked:*")
    [bundle] = sorted((pytester.path / "evidence").glob("*/mocked"))
    assert list((bundle / "workspaces").glob("*.json"))
    assert not (orchestrator.workspace_root / "OUTSIDE-CANARY.txt").exists()  # removed after
    [case_file] = bundle.glob("cases/*/result-json.case.json")
    case = json.loads(case_file.read_text())
    assert not case["notes"]  # on_disk was compared


def test_a_base_url_run_without_workspace_root_says_what_it_did_not_check(
    pytester: pytest.Pytester, orchestrator: Orchestrator
) -> None:
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-base-url={orchestrator.url}",
        f"--codex-matrix={REPO / 'matrices' / 'mocked.yaml'}",
        "--codex-evidence-dir=evidence",
    )
    result.assert_outcomes(passed=17)
    result.stdout.fnmatch_lines(["not checked: outside canary*--codex-workspace-root*"])
    [bundle] = sorted((pytester.path / "evidence").glob("*/mocked"))
    assert "## Checks not run" in (bundle / "SUMMARY.md").read_text()


def test_a_signed_run_verifies_with_its_key_and_not_after_an_edit(
    pytester: pytest.Pytester, orchestrator: Orchestrator
) -> None:
    keys = pytester.path / "keys"
    assert verify.main(["keygen", str(keys)]) == 0
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-base-url={orchestrator.url}",
        f"--codex-matrix={REPO / 'matrices' / 'mocked.yaml'}",
        "--codex-evidence-dir=evidence",
        f"--codex-signing-key={keys / 'codex-evidence.key'}",
    )
    result.assert_outcomes(passed=17)
    result.stdout.fnmatch_lines(["signed: attestation.dsse.json*"])
    [bundle] = sorted((pytester.path / "evidence").glob("*/mocked"))
    public = str(keys / "codex-evidence.pub")
    assert verify.main(["verify", str(bundle), "--key", public]) == 0
    # An edited case file, re-hashed into the manifest, passes the hashes but not the key.
    [case] = bundle.glob("cases/*/healthz.case.json")
    case.write_text(case.read_text().replace('"ok"', '"OK"'))
    manifest = json.loads((bundle / "manifest.json").read_text())
    for entry in manifest["files"]:
        if entry["path"] == case.relative_to(bundle).as_posix():
            entry["sha256"] = hashlib.sha256(case.read_bytes()).hexdigest()
            entry["size"] = case.stat().st_size
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    assert verify.main(["verify", str(bundle), "--key", public]) == 1


def test_a_bad_signing_key_is_one_usage_error(pytester: pytest.Pytester) -> None:
    bad = pytester.path / "bad.key"
    bad.write_text("not a key")
    result = pytester.runpytest(
        "--codex-mode=mocked",
        "--codex-base-url=http://127.0.0.1:9",
        f"--codex-matrix={REPO / 'matrices' / 'mocked.yaml'}",
        f"--codex-signing-key={bad}",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: codex signing key: *"])
    result.stderr.no_fnmatch_line("*Traceback*")


def test_archive_and_retention(pytester: pytest.Pytester, orchestrator: Orchestrator) -> None:
    """Retention removes this project's earlier runs only: a timestamp-named folder of
    notes (no manifest) stays, and a finished run named after this one (clock skew)
    counts as newer but never makes the run remove its own bundle (issue 18, finding 2)."""
    evidence = pytester.path / "evidence"
    past = time.time() - 3600
    for old in ("20200101T000000Z", "20200102T000000Z", "20200103T000000Z", "20991231T000000Z"):
        (evidence / old / "mocked").mkdir(parents=True)
        manifest = evidence / old / "mocked" / "manifest.json"
        manifest.write_text('{"harness": "pytest-codex", "cases": []}')
        os.utime(manifest, (past, past))
    (evidence / "20200104T000000Z").mkdir()
    (evidence / "20200104T000000Z" / "notes.txt").write_text("a user's notes\n")
    (evidence / "README.md").write_text("kept: not a run folder\n")
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-base-url={orchestrator.url}",
        f"--codex-matrix={REPO / 'matrices' / 'mocked.yaml'}",
        "--codex-evidence-dir=evidence",
        "--codex-evidence-archive",
        "--codex-evidence-keep=2",
    )
    result.assert_outcomes(passed=17)
    result.stdout.fnmatch_lines(
        [
            "archive: *mocked.tar.gz",
            "removed 3 older run(s) (--codex-evidence-keep): 20200101T000000Z, "
            "20200102T000000Z, 20200103T000000Z",
        ]
    )
    runs = sorted(p.name for p in evidence.iterdir() if p.is_dir())
    assert runs[0] == "20200104T000000Z"
    assert runs[-1] == "20991231T000000Z"
    assert len(runs) == 3
    assert (evidence / "README.md").is_file()
    [bundle] = [p for p in evidence.glob("*/mocked") if p.parent.name != "20991231T000000Z"]
    assert (bundle / "manifest.json").is_file()
    with tarfile.open(bundle.with_name("mocked.tar.gz")) as tar:
        names = tar.getnames()
    assert f"{bundle.parent.name}/mocked/manifest.json" in names
    assert f"{bundle.parent.name}/mocked/index.html" in names


def test_a_flag_before_a_test_path_is_not_taken_for_a_space_form_value(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    pytester.makeini("[pytest]\n")
    elsewhere = tmp_path_factory.mktemp("matrices-elsewhere")
    (elsewhere / "one.yaml").write_text(
        "name: one\ncases:\n  - name: health\n    request: {path: /healthz}\n"
        "    expect: {status: 200}\n"
    )
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-base-url=http://127.0.0.1:{free_port()}",
        "--codex-evidence-dir=evidence",
        f"--codex-matrix={elsewhere}",
        "--codex-keep-stack",
        str(elsewhere),
    )
    # Not a usage error naming --codex-keep-stack: the run goes on and stops at the target.
    assert result.ret == 1
    result.stderr.no_fnmatch_line("*--codex-keep-stack: pytest took*")


def test_a_space_form_value_into_a_folder_with_its_own_ini_is_refused(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    pytester.makeini("[pytest]\ncodex_mode = mocked\n")
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "pytest.ini").write_text("[pytest]\n")
    (elsewhere / "ev").mkdir()  # an evidence folder from an earlier run: pytest sees a path
    result = pytester.runpytest_subprocess("--codex-evidence-dir", str(elsewhere / "ev"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: --codex-evidence-dir: pytest took '{elsewhere / 'ev'}' for a test path*"]
    )


def test_a_reordered_run_uses_the_value_its_own_dependency_saved(
    pytester: pytest.Pytester, orchestrator: Orchestrator
) -> None:
    pytester.mkdir("matrices")
    pytester.path.joinpath("matrices", "order.yaml").write_text(
        "name: order\ncases:\n"
        "  - name: create-a\n"
        '    request: {method: POST, path: /api/v1/projects, json: {instruction: "project A"}}\n'
        "    expect: {status: 200}\n"
        "    save: {project_id: id}\n"
        "  - name: get-a\n"
        '    request: {path: "/api/v1/projects/{project_id}"}\n'
        '    expect: {status: 200, json: {instruction: "project A"}}\n'
        "  - name: create-x\n"
        '    request: {method: POST, path: /api/v1/projects, json: {instruction: "project X"}}\n'
        "    expect: {status: 200}\n"
        "    save: {project_id: id}\n"
    )
    # The order --ff gives after both creations failed once: the later creation replaces
    # {project_id} before get-a runs, so get-a's own creation must run again first.
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-base-url={orchestrator.url}",
        "--codex-evidence-dir=evidence",
        "matrices/order.yaml::create-a",
        "matrices/order.yaml::create-x",
        "matrices/order.yaml::get-a",
    )
    result.assert_outcomes(passed=3)
    manifest = manifest_of(pytester.path / "evidence")
    roles = [(c["name"], c["role"]) for c in manifest["cases"]]
    assert roles == [
        ("create-a", "selected"),
        ("create-x", "selected"),
        ("create-a", "prerequisite"),
        ("get-a", "selected"),
    ]
