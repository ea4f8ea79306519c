"""The shipped traversal corpora against an orchestrator with the other common path
policy: it decodes the path once, resolves it and checks it stays inside the workspace
(400 for an escape, 404 for a name inside that no file has). It has one real bug: it
trims a trailing line feed, so `app.py%0a` is served as app.py. Under
`--codex-traversal-policy=resolve` only that finding fails; under `strict` the names that
stay inside fail too, although nothing leaked."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.conftest import REPO
from tests.local_http import serving

PREFIX = "/api/v1/"


class ResolvingOrchestrator(BaseHTTPRequestHandler):
    """Projects and their files, paths resolved and checked (with a trailing-LF bug)."""

    workspaces: Path

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def answer(self, status: int, document: object) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != PREFIX + "projects":
            return self.answer(404, {"detail": "no such route"})
        project = uuid.uuid4().hex
        folder = self.workspaces / project
        folder.mkdir()
        (folder / "app.py").write_text("print('fibonacci')\n")
        return self.answer(200, {"id": project, "status": "completed"})

    def do_GET(self) -> None:
        if self.path == "/healthz":
            return self.answer(200, {"status": "ok"})
        if not self.path.startswith(PREFIX):
            return self.answer(404, {"detail": "no such route"})
        project, _, rest = self.path[len(PREFIX) :].partition("/")
        route, _, raw = rest.partition("/")
        project = unquote(project)
        if route != "files" or "/" in project or not re.fullmatch(r"[0-9a-f]{32}", project):
            return self.answer(404, {"detail": "no such project"})
        workspace = os.path.realpath(self.workspaces / project)
        name = unquote(raw).rstrip("\n")  # the bug: a trailing LF is trimmed
        if "\0" in name:
            return self.answer(400, {"detail": "NUL in path"})
        real = os.path.realpath(os.path.join(workspace, name))
        if real == workspace or os.path.commonpath([workspace, real]) != workspace:
            return self.answer(400, {"detail": "path leads outside the workspace"})
        if not os.path.isfile(real):
            return self.answer(404, {"detail": "no such file"})
        content = Path(real).read_text(errors="replace")
        return self.answer(200, {"path": name, "content": content})


@pytest.fixture
def resolving(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    workspaces = tmp_path / "workspaces"
    workspaces.mkdir()
    handler = type("Handler", (ResolvingOrchestrator,), {"workspaces": workspaces})
    with serving(handler) as url:
        yield url, workspaces


def run_corpora(pytester: pytest.Pytester, url: str, workspaces: Path, policy: str):  # type: ignore[no-untyped-def]
    for name in ("traversal.yaml", "traversal-corpus.yaml"):
        pytester.path.joinpath(name).write_text((REPO / "matrices" / name).read_text())
    return pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-base-url={url}",
        f"--codex-workspace-root={workspaces}",
        f"--codex-traversal-policy={policy}",
        "--codex-evidence-dir=evidence",
        "--codex-matrix=traversal.yaml",
        "--codex-matrix=traversal-corpus.yaml",
        "-p",
        "no:cacheprovider",
        "-rf",
    )


def test_under_resolve_only_the_real_finding_fails(
    pytester: pytest.Pytester, resolving: tuple[str, Path]
) -> None:
    result = run_corpora(pytester, *resolving, "resolve")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") == 1, result.stdout.str()[-4000:]
    assert outcomes.get("errors", 0) == 0
    assert outcomes["passed"] > 250
    result.stdout.fnmatch_lines(["FAILED traversal-corpus.yaml::control-byte*"])
    result.stdout.fnmatch_lines(
        ["  finding: odd name served:", "*actual   200: '/api/v1/*/files/app.py%0a' was served*"]
    )
    result.stdout.no_fnmatch_line("*outside content*")
    result.stdout.no_fnmatch_line("*escape served*")


def test_under_strict_names_inside_fail_although_nothing_leaked(
    pytester: pytest.Pytester, resolving: tuple[str, Path]
) -> None:
    result = run_corpora(pytester, *resolving, "strict")
    failed = result.parseoutcomes().get("failed", 0)
    assert failed > 100, result.stdout.str()[-2000:]
    print(f"strict: {failed} failed")  # the figure in docs/matrices.md, with -s
    result.stdout.no_fnmatch_line("*outside content*")
    result.stdout.no_fnmatch_line("*escape served*")
