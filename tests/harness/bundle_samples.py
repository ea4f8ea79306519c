"""Evidence bundles built by hand with `EvidenceBundle`, for the review page and diff tests:
passing and failing cases, traversal families, a hostile response body, load figures and,
for live bundles, env presence, the model stand-in's log, rollback and comparison."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from pytest_codex.bundle.record import CaseRecord
from pytest_codex.bundle.writer import EvidenceBundle
from pytest_codex.review import page as review
from pytest_codex.secrets.redact import Redactor
from tests.conftest import Orchestrator

HOSTILE = (
    "<script>document.title='PWNED';window.codexPwned=1;</script>"
    '<img src=x onerror="window.codexPwned=2">'
)
PAYLOAD = "/files/..%2f..%2fOUTSIDE-CANARY.txt"
RUN_TIMEOUT_S = 300


def exchange(
    line: str,
    status: int,
    body: object,
    *,
    expect: dict[str, Any],
    mismatches: tuple[str, ...] = (),
    family: str | None = None,
    port: int = 40123,
    date: str = "Wed, 25 Nov 2026 14:00:00 GMT",
    elapsed_ms: float = 3.2,
) -> dict[str, Any]:
    """A case evidence file as `case_evidence.record` writes it."""
    return {
        "case": line,
        "family": family,
        "request": {
            "line": line,
            "headers": [["Host", f"127.0.0.1:{port}"], ["User-Agent", "pytest-codex/0.1.0"]],
            "body": "",
        },
        "response": {
            "status": status,
            "reason": {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "Other"),
            "headers": [
                ["Content-Type", "application/json"],
                ["Date", date],
                ["Server", "codex-orchestrator/0.1.0 Python/3.11.2"],
            ],
            "body": body,
            "elapsed_ms": elapsed_ms,
        },
        "expect": expect,
        "outcome": "failed" if mismatches else "passed",
        "mismatches": list(mismatches),
        "notes": [],
    }


def make_bundle(
    root: Path,
    *,
    mode: str = "mocked",
    failures: bool = True,
    project_id: str = "3f2a9c1e4b7d4e0f9a8b7c6d5e4f3a2b",
    port: int = 40123,
    date: str = "Wed, 25 Nov 2026 14:00:00 GMT",
    timestamp: str | None = None,
    traversal_cases: int = 6,
) -> Path:
    """A finalised bundle (format 1 manifest plus `session`), without index.html."""
    bundle = EvidenceBundle(root, mode, Redactor({}), timestamp=timestamp)

    def case(name: str, file: str, document: dict[str, Any], message: str | None = None) -> None:
        relative = f"cases/{file.removesuffix('.yaml')}/{name}.json"
        bundle.write_json(relative, document)
        record_case(
            bundle,
            name,
            file,
            document["outcome"],
            document["response"]["status"],
            document["response"]["elapsed_ms"],
            relative,
            message,
        )

    case(
        "healthz",
        "mocked.yaml",
        exchange(
            "GET /healthz HTTP/1.1",
            200,
            {"status": "ok"},
            expect={"status": 200},
            port=port,
            date=date,
        ),
    )
    case(
        "create-project",
        "mocked.yaml",
        exchange(
            "POST /api/v1/projects HTTP/1.1",
            200,
            {"id": project_id, "status": "completed", "created_at": "2026-11-25T14:00:00Z"},
            expect={"status": 200, "json": {"status": "completed"}},
            port=port,
            date=date,
        ),
    )
    case(
        "read-hostile-file",
        "mocked.yaml",
        exchange(
            f"GET /api/v1/{project_id}/files/page.html HTTP/1.1",
            200,
            HOSTILE,
            expect={"status": 200},
            port=port,
            date=date,
        ),
    )
    if failures:
        mismatch = "status: expected 418, got 200"
        case(
            "expects-teapot",
            "wrong.yaml",
            exchange(
                "GET /healthz HTTP/1.1",
                200,
                {"status": "ok"},
                expect={"status": 418},
                mismatches=(mismatch,),
                port=port,
                date=date,
            ),
            "wrong.yaml::expects-teapot failed\n  request:  GET /healthz HTTP/1.1\n"
            "  status:\n      expected 418\n      actual   200",
        )
        record_case(
            bundle,
            "needs-missing",
            "wrong.yaml",
            "error",
            None,
            0.4,
            None,
            "wrong.yaml::needs-missing: needs {job_id}, which no earlier case saved",
        )
    families = ("dot-dot", "encoded")
    for index in range(traversal_cases):
        family = families[index % 2]
        target = (
            "../OUTSIDE-CANARY.txt" if family == "dot-dot" else PAYLOAD.removeprefix("/files/")
        )
        case(
            f"{family}-{index}",
            "traversal.yaml",
            exchange(
                f"GET /api/v1/{project_id}/files/{target}?n={index} HTTP/1.1",
                400,
                {"detail": "path escapes the workspace"},
                expect={"status": 400},
                family=family,
                port=port,
                date=date,
            ),
        )
        bundle.append_text(
            "traversal/request-lines.txt", f"{family}-{index}\t{family}\t400\tGET {target}\n"
        )
    load = {
        "clients": 8,
        "create": {"requests": 50, "errors": 0, "seconds": 2.1, "per_s": 23.8, "p50_ms": 31.5,
                   "p99_ms": 88.0},
        "read": {"requests": 200, "errors": 0, "seconds": 0.9, "per_s": 222.2, "p50_ms": 2.1,
                 "p99_ms": 9.7},
        "projects": 50,
        "passed": True,
    }  # fmt: skip
    bundle.write_json("load/load.json", load)
    record_case(bundle, "load", "load.yaml", "passed", None, 3000.0, "load/load.json", None)
    metadata: dict[str, Any] = {
        "versions": {"pytest_codex": "0.1.0", "python": "3.11.2", "target": "0.1.0"},
        "target": {"base_url": f"http://127.0.0.1:{port}"},
        "timings_s": {"cases": 4.2, "session": 5.0},
        "session": {
            "end": "completed",
            "reason": None,
            "exitstatus": 1 if failures else 0,
            "collected": len(bundle.cases),
            "selected": len(bundle.cases),
            "deselected": 0,
            "run": len(bundle.cases),
            "workers": 1,
        },
        "load": {"load": load},
    }
    if mode == "live":
        bundle.write_text(
            "model-stub/requests.jsonl",
            '{"n": 1, "path": "/v1/responses", "scenario": "create", "status": 200}\n'
            '{"n": 2, "path": "/v1/responses", "scenario": "edit", "status": 200}\n',
        )
        metadata["live"] = {
            "env_file": ".env.live",
            "env": {"OPENAI_API_KEY": "present", "OPENAI_ORG_ID": "absent"},
            "model": "stub",
        }
        metadata["rollback"] = {
            "passed": True,
            "restarted": True,
            "seconds": 4.1,
            "cases": [{"name": "healthz", "outcome": "passed", "status": 200}],
            "error": None,
            "bundle": "../mocked",
        }
        metadata["comparison_with_mocked"] = {
            "against": "20261125T130000Z/mocked",
            "same": 3,
            "different": 0,
            "table": "| file | case | mocked | live | note |\n|---|---|---|---|---|\n"
            "| mocked.yaml | healthz | passed (200) | passed (200) | same |",
        }
    bundle.finalize(metadata)
    return bundle.path


WRONG_MATRIX = (
    "name: wrong\ncases:\n"
    "  - name: expects-teapot\n"
    "    request: {path: /healthz}\n"
    "    expect: {status: 418, json: {status: broken}}\n"
)


def run_bundle(root: Path, *matrices: Path) -> Path:
    """A real mocked run (the reference orchestrator as a process, the plugin with
    --codex-base-url) over `matrices` plus one failing case; its bundle, with index.html."""
    (root / "orchestrator").mkdir(parents=True)
    (root / "matrices").mkdir()
    (root / "matrices" / "wrong.yaml").write_text(WRONG_MATRIX)
    server = Orchestrator(root / "orchestrator").start()
    try:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "--codex-mode=mocked",
                f"--codex-base-url={server.url}",
                "--codex-evidence-dir=evidence",
                *(f"--codex-matrix={path}" for path in matrices),
                "--codex-matrix=matrices",
                "-q",
            ],
            cwd=root,
            check=False,
            capture_output=True,
            timeout=RUN_TIMEOUT_S,
        )
    finally:
        server.stop()
    [bundle] = sorted((root / "evidence").glob("*/mocked"))
    if not (bundle / review.INDEX).exists():  # until finalize writes it
        review.write_review(bundle)
    return bundle


def record_case(
    bundle: EvidenceBundle,
    name: str,
    file: str,
    outcome: str,
    status: int | None,
    elapsed_ms: float,
    evidence: str | None,
    message: str | None,
    *,
    role: str = "selected",
    matrix: str | None = None,
) -> None:
    """A case record in the order the older tests wrote them (`EvidenceBundle.record`)."""
    bundle.record(
        CaseRecord(name, file, outcome, elapsed_ms, matrix, role, status, evidence, message)
    )
