"""`codex-evidence diff`: volatile parts blanked by rule, regressions and changes found,
exit codes, text and HTML output, on hand-made bundles and on two real runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_codex.bundle.writer import EvidenceBundle
from pytest_codex.review import diff, volatile
from pytest_codex.review.cli import main
from pytest_codex.secrets.redact import Redactor
from tests.conftest import REPO
from tests.harness.bundle_samples import exchange, make_bundle, record_case, run_bundle


def tiny(
    root: Path,
    outcome: str,
    body: object,
    *,
    port: int = 40000,
    name: str = "c",
    expect: dict[str, object] | None = None,
    facts: dict[str, object] | None = None,
) -> Path:
    """A bundle of one case, `m.yaml::<name>`, with this outcome and response body."""
    bundle = EvidenceBundle(root, "mocked", Redactor({}))
    mismatches = ("status: expected 201, got 200",) if outcome == "failed" else ()
    document = exchange(
        "GET /x HTTP/1.1",
        200,
        body,
        expect={"status": 200} if expect is None else expect,
        mismatches=mismatches,
        port=port,
    )
    bundle.write_json(f"cases/m/{name}.json", document)
    record_case(bundle, name, "m.yaml", outcome, 200, 1.0, f"cases/m/{name}.json", None)
    bundle.finalize(facts or {})
    return bundle.path


@pytest.mark.parametrize(
    ("text", "blanked"),
    [
        ("project 3f2a9c1e4b7d4e0f9a8b7c6d5e4f3a2b done", "project <hex-id> done"),
        ("id 123e4567-e89b-12d3-a456-426614174000", "id <uuid>"),
        ("at 2026-11-25T14:00:00.123+00:00", "at <date>"),
        ("Wed, 25 Nov 2026 14:00:00 GMT", "<date>"),
        ("docs/evidence/20261125T140000Z-2/mocked", "docs/evidence/<timestamp>/mocked"),
        ("http://127.0.0.1:40123/healthz", "http://127.0.0.1:<port>/healthz"),
        ("Host: localhost:8000", "Host: localhost:<port>"),
        ("Authorization: Bearer abc.def-123", "Authorization: Bearer <token>"),
        ("key sk-canary-0123456789", "key <token>"),
        ("took 12.5 ms, then 3 s", "took <duration>, then <duration>"),
        ("evidence: /tmp/pytest-of-root/x/case.json", "evidence: <tmp-path>"),
        ("status 404 for app.py", "status 404 for app.py"),
    ],
)
def test_volatile_parts_are_blanked_by_rule(text: str, blanked: str) -> None:
    assert volatile.blank(text) == blanked


def test_volatile_keys_and_embedded_json_are_handled() -> None:
    left = volatile.flatten({"elapsed_ms": 3, "a": '{"created_at": "x", "n": 1}', "b": [1, 2]})
    assert left == {"$.a(json).n": "1", "$.b[0]": "1", "$.b[1]": "2"}
    assert volatile.flatten(list(range(10)), limit=4)["$…"] == "6 more values not compared"


def test_the_size_of_a_file_that_records_timings_is_not_compared() -> None:
    listing = {
        "files": [{"path": ".codex/result.json", "size": 559}, {"path": "app.py", "size": 9}]
    }
    assert volatile.flatten(listing) == {
        "$.files[0].path": ".codex/result.json",
        "$.files[1].path": "app.py",
        "$.files[1].size": "9",
    }
    read = {"path": ".codex/result.json", "size": 560, "content": '{"duration_ms": 12}'}
    assert volatile.flatten(read) == {"$.path": ".codex/result.json"}


def test_two_runs_that_differ_only_in_volatile_parts_are_the_same(tmp_path: Path) -> None:
    a = make_bundle(tmp_path / "a", port=40001, date="Wed, 25 Nov 2026 14:00:00 GMT")
    b = make_bundle(
        tmp_path / "b",
        port=40002,
        date="Thu, 26 Nov 2026 09:30:12 GMT",
        project_id="0a1b2c3d4e5f60718293a4b5c6d7e8f9",
    )
    report = diff.diff_bundles(a, b)
    assert report.count("same") == len(report.cases) == 12
    assert not report.regressed


def test_a_case_that_now_fails_is_a_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = tiny(tmp_path / "a", "passed", {"ok": True})
    b = tiny(tmp_path / "b", "failed", {"ok": True})
    assert main(["diff", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "REGRESSED m.yaml::c: passed -> failed" in out
    assert "mismatches $[0]: (absent) -> status: expected 201, got 200" in out
    assert out.endswith("REGRESSED\nno drift\n")
    assert main(["diff", str(b), str(a)]) == 0
    assert "IMPROVED  m.yaml::c: failed -> passed" in capsys.readouterr().out


def test_a_changed_body_fails_unless_only_the_status_is_compared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = tiny(tmp_path / "a", "passed", {"files": ["app.py", "README.md"]})
    b = tiny(tmp_path / "b", "passed", {"files": ["app.py"]}, port=40999)
    assert main(["diff", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "CHANGED   m.yaml::c: passed -> passed" in out
    assert "body $.files[1]: README.md -> (absent)" in out
    assert "port" not in out
    assert main(["diff", "--fields", "status", str(a), str(b)]) == 0


def test_added_failing_cases_regress_and_removed_ones_are_listed(tmp_path: Path) -> None:
    a = make_bundle(tmp_path / "a", failures=False)
    b = make_bundle(tmp_path / "b", failures=True)
    report = diff.diff_bundles(a, b)
    assert {(c.name, c.kind) for c in report.cases if c.kind != "same"} == {
        ("expects-teapot", "added"),
        ("needs-missing", "added"),
    }
    assert report.regressed
    back = diff.diff_bundles(b, a)
    assert back.count("removed") == 2
    assert not back.regressed


def test_the_html_page_escapes_case_content(tmp_path: Path) -> None:
    a = tiny(tmp_path / "a", "passed", "<b>old</b>", name="x")
    b = tiny(tmp_path / "b", "failed", "<script>alert(1)</script>", name="x")
    out = tmp_path / "diff.html"
    assert main(["diff", str(a), str(b), "--html", str(out)]) == 1
    page = out.read_text()
    assert '<h1 id="verdict">REGRESSED</h1>' in page
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_usage_errors_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = tiny(tmp_path / "a", "passed", {})
    assert main(["diff", str(a), str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("codex-evidence diff: ")
    assert "give a bundle folder" in err
    assert len(err.splitlines()) == 1
    assert main(["diff", "--fields", "status,colour", str(a), str(a)]) == 2
    assert "unknown colour; choose from status, request" in capsys.readouterr().err


def test_two_real_runs_differ_in_nothing_but_volatile_parts(tmp_path: Path) -> None:
    matrices = (REPO / "matrices" / "mocked.yaml", REPO / "matrices" / "traversal.yaml")
    a = run_bundle(tmp_path / "a", *matrices)
    b = run_bundle(tmp_path / "b", *matrices)
    report = diff.diff_bundles(a, b)
    assert len(report.cases) >= 55
    assert [(c.label, c.kind, c.changes) for c in report.cases if c.kind != "same"] == []
    assert not report.regressed


def matrices(sha: str) -> dict[str, object]:
    return {"matrices": {"m.yaml": {"sha256": sha, "cases": 1}}}


def test_drift_in_matrices_cases_and_expectations_exits_1_unless_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strict = {"status": 200, "json": {"ok": True}}
    a = tiny(tmp_path / "a", "passed", {"ok": True}, expect=strict, facts=matrices("a" * 64))
    same = tiny(tmp_path / "same", "passed", {"ok": True}, expect=strict, facts=matrices("a" * 64))
    assert main(["diff", str(a), str(same)]) == 0
    assert capsys.readouterr().out.endswith("no regression\nno drift\n")

    weak = tiny(
        tmp_path / "weak", "passed", {"ok": True}, expect={"status": 200}, facts=matrices("b" * 64)
    )
    assert main(["diff", str(a), str(weak)]) == 1
    out = capsys.readouterr().out
    assert "DRIFT     matrix m.yaml: changed (sha256 aaaaaaaaaaaa… -> bbbbbbbbbbbb…)" in out
    assert "DRIFT     case m.yaml::c: expectations weakened, B no longer checks $.json.ok" in out
    assert out.endswith("no regression\nDRIFTED\n")
    assert main(["diff", "--allow-drift", str(a), str(weak)]) == 0
    capsys.readouterr()

    fewer = tiny(tmp_path / "fewer", "passed", {"ok": True}, name="other", facts={"matrices": {}})
    assert main(["diff", str(a), str(fewer)]) == 1
    out = capsys.readouterr().out
    assert "DRIFT     matrix m.yaml: not run by B" in out
    assert "DRIFT     B ran 1 fewer cases than A (removed)" in out
