"""Whole runs against the reference orchestrator as a plain process (`--codex-base-url`):
passing and failing cases, failure text, the evidence bundle and redaction."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from pytest_codex.review import cli as verify
from tests.conftest import REPO, SEED_FILES, Orchestrator
from tests.local_http import serving

CANARY = "canary-value-3f9a1c7e5b2d"


def bundles(root: Path) -> list[Path]:
    return sorted(root.glob("*/mocked"))


def run_matrices(pytester: pytest.Pytester, url: str, *matrices: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-base-url={url}",
        "--codex-evidence-dir=evidence",
        "-v",
        *matrices,
    )


def test_full_seed_and_traversal_matrices_pass(
    pytester: pytest.Pytester, orchestrator: Orchestrator
) -> None:
    result = run_matrices(pytester, orchestrator.url, f"--codex-matrix={REPO / 'matrices'}")
    result.stdout.fnmatch_lines(
        [
            "*mocked.yaml::create-project PASSED*",
            "*traversal.yaml::dot-dot-1 PASSED*",
            "*codex evidence*",
            "pytest-codex mocked run: PASSED, * passed, 0 failed, 0 error, 0 skipped*",
            "bundle: *evidence/*/mocked",
        ]
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0
    assert outcomes.get("errors", 0) == 0
    assert outcomes["passed"] >= 55
    [bundle] = bundles(pytester.path / "evidence")
    assert verify.main(["verify", str(bundle)]) == 0
    lines = (bundle / "traversal" / "request-lines.txt").read_text().splitlines()
    assert len(lines) >= 30
    assert any(
        "GET /api/v1/" in line and "/files/../OUTSIDE-CANARY.txt HTTP/1.1" in line
        for line in lines
    )
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["mode"] == "mocked"
    assert manifest["totals"]["failed"] == 0
    assert {case["name"] for case in manifest["cases"]} >= {"create-project", "dot-dot-1"}


def test_a_failing_expectation_reads_like_a_diff(
    pytester: pytest.Pytester, orchestrator: Orchestrator
) -> None:
    pytester.mkdir("matrices")
    pytester.path.joinpath("matrices", "wrong.yaml").write_text(
        "name: wrong\ncases:\n"
        "  - name: expects-teapot\n"
        "    request: {path: /healthz}\n"
        "    expect: {status: 418, json: {status: broken}}\n"
    )
    result = run_matrices(pytester, orchestrator.url, "matrices")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*GET /healthz HTTP/1.1*",
            "*expected*418*",
            "*actual*200*",
            "*evidence: *cases/*wrong*/expects-teapot.case.json*",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    [bundle] = bundles(pytester.path / "evidence")
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["totals"]["failed"] == 1


def test_a_canary_secret_appears_nowhere_in_the_bundle(
    pytester: pytest.Pytester, orchestrator: Orchestrator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    pytester.mkdir("matrices")
    # The instruction carries the secret: the API echoes it back in its responses.
    pytester.path.joinpath("matrices", "echo.yaml").write_text(
        "name: echo\ncases:\n"
        "  - name: create-with-secret\n"
        "    request:\n"
        "      method: POST\n      path: /api/v1/projects\n"
        f"      json: {{instruction: 'build it with {CANARY}'}}\n"
        "    expect: {status: 200}\n"
    )
    result = run_matrices(pytester, orchestrator.url, "matrices")
    result.assert_outcomes(passed=1)
    assert CANARY not in result.stdout.str() + result.stderr.str()
    [bundle] = bundles(pytester.path / "evidence")
    files = [p for p in bundle.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert CANARY.encode() not in path.read_bytes(), path
    exchanges = "".join(p.read_text() for p in (bundle / "cases").rglob("*.json"))
    assert "[REDACTED:OPENAI_API_KEY]" in exchanges


class LeakyHandler(BaseHTTPRequestHandler):
    """A broken orchestrator: serves any path, `../` included, from its own folder."""

    root = Path("/tmp")

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._answer(b'{"status": "ok"}')
            return
        prefix = "/api/v1/0123456789abcdef0123456789abcdef/files/"
        if not self.path.startswith(prefix):
            self.send_error(404)
            return
        try:
            data = (self.root / self.path[len(prefix) :]).read_bytes()
        except OSError:
            self.send_error(404)
            return
        self._answer(data)

    def _answer(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def leaky_server(tmp_path: Path) -> Iterator[str]:
    LeakyHandler.root = tmp_path / "a" / "b"
    LeakyHandler.root.mkdir(parents=True)
    with serving(LeakyHandler) as url:
        yield url


# Enough `../` to climb from any tmp_path to `/` (an xdist worker's tmp_path is one deeper).
UP = "../" * 16


def test_an_orchestrator_that_serves_dot_dot_fails_the_run(
    pytester: pytest.Pytester, leaky_server: str
) -> None:
    pytester.mkdir("matrices")
    pytester.path.joinpath("matrices", "leak.yaml").write_text(
        "name: leak\ncases:\n"
        "  - name: dot-dot-passwd\n    family: dot-dot\n"
        "    request: {path: /api/v1/0123456789abcdef0123456789abcdef/files/"
        f"{UP}etc/passwd}}\n"
        "    expect: {status: 400}\n"
    )
    result = run_matrices(pytester, leaky_server, "matrices")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [f"*GET /api/v1/*/files/{UP}etc/passwd HTTP/1.1*", "*root:x:0:0:*"]
    )
    result.stdout.no_fnmatch_line("*Traceback*")


def test_codex_client_serves_a_users_own_python_tests(
    pytester: pytest.Pytester, orchestrator: Orchestrator
) -> None:
    pytester.makepyfile(
        test_mine="""
        def test_create(codex_client, codex_base_url):
            answer = codex_client.post("/api/v1/projects", json={"instruction": "hello"})
            assert answer.status_code == 200
            assert answer.json()["status"] == "completed"
            assert str(codex_client.base_url).rstrip("/") == codex_base_url
        """
    )
    result = pytester.runpytest_subprocess(
        f"--codex-base-url={orchestrator.url}", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1)


LOAD = """\
name: small-load
modes: [mocked]
load:
  creations: 24
  reads: 60
  clients: 6
  files: {files}
"""


def test_a_load_file_runs_and_its_figures_reach_the_evidence(
    pytester: pytest.Pytester, orchestrator: Orchestrator
) -> None:
    pytester.mkdir("matrices")
    pytester.path.joinpath("matrices", "load.yaml").write_text(LOAD.format(files=SEED_FILES))
    result = run_matrices(pytester, orchestrator.url, "matrices")
    result.assert_outcomes(passed=1)
    [bundle] = bundles(pytester.path / "evidence")
    figures = json.loads((bundle / "load" / "small-load.json").read_text())
    assert figures["create"]["requests"] == 24
    assert figures["create"]["errors"] == 0
    assert figures["read"]["requests"] == 60
    assert figures["projects"] == 24
    assert figures["incomplete"] == 0
    assert figures["create"]["p99_ms"] >= figures["create"]["p50_ms"] > 0
    assert json.loads((bundle / "manifest.json").read_text())["load"]["small-load"]["passed"]


def test_a_load_run_with_incomplete_projects_fails_readably(
    pytester: pytest.Pytester, orchestrator: Orchestrator
) -> None:
    pytester.mkdir("matrices")
    pytester.path.joinpath("matrices", "load.yaml").write_text(
        LOAD.format(files=["app.py", "not-there.txt"])
    )
    result = run_matrices(pytester, orchestrator.url, "matrices")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*load small-load failed: 0 creation errors, 0 read errors, 24 incomplete projects*",
            "*evidence: *load/small-load.json*",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")


def test_an_overridden_codex_base_url_aims_the_matrices_without_a_stack(
    pytester: pytest.Pytester, orchestrator: Orchestrator
) -> None:
    pytester.makeconftest(
        f"""
        import pytest

        @pytest.fixture(scope="session")
        def codex_base_url():
            return "{orchestrator.url}"
        """
    )
    pytester.mkdir("matrices")
    pytester.path.joinpath("matrices", "one.yaml").write_text(
        "name: one\ncases:\n  - name: health\n    request: {path: /healthz}\n"
        "    expect: {status: 200, schema: health}\n"
    )
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked", "--codex-evidence-dir=evidence", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1)
    [bundle] = bundles(pytester.path / "evidence")
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["target"] == {"base_url": orchestrator.url, "from": "codex_base_url fixture"}
    assert manifest["versions"]["docker"] == "not used"
