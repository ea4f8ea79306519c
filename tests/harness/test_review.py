"""The review page as text: verdict, sections, escaping, bounds and bad bundles."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_codex.bundle.writer import EvidenceBundle
from pytest_codex.review import page as review
from pytest_codex.review.cli import main
from pytest_codex.review.sections import split_mismatch, verdict
from pytest_codex.secrets.redact import Redactor
from tests.harness.bundle_samples import HOSTILE, make_bundle, record_case


def manifest_of(bundle: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((bundle / "manifest.json").read_text())
    return document


def test_the_page_leads_with_the_verdict_and_lists_failures_first(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)
    page = review.render_review(bundle, manifest_of(bundle))
    assert page.index("FAILED, 10 passed, 1 failed, 1 error, 0 skipped") < page.index("Versions")
    assert page.index('id="failures"') < page.index('id="cases"')
    case_order = re.findall(r'<details class="case" id="case-\d+" data-outcome="(\w+)"', page)
    assert case_order[:2] == ["failed", "error"]
    assert set(case_order[2:]) == {"passed"}
    assert "<td class='expected mono'>418</td><td class='actual mono'>200</td>" in page
    assert "signature: not signed" in page


def test_every_section_is_there(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path, mode="live")
    page = review.render_review(bundle, manifest_of(bundle))
    for anchor in ("verdict", "run", "failures", "cases", "traversal", "load", "live", "files"):
        assert f'id="{anchor}"' in page, anchor
    assert '<svg id="latency-chart"' in page
    assert "p99 88.0 ms" in page
    assert "OPENAI_API_KEY" in page
    assert "/v1/responses" in page
    assert "Rollback to mocked mode" in page
    assert "<td>mocked.yaml</td><td>healthz</td><td>passed (200)</td>" in page


def test_case_content_is_escaped_and_nothing_loads_from_the_network(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)
    page = review.render_review(bundle, manifest_of(bundle))
    assert HOSTILE not in page
    assert "&lt;script&gt;document.title=&#x27;PWNED&#x27;" in page
    assert page.count("<script") == 1  # the page's own filter script only
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "default-src 'none'" in page


def test_hostile_names_cannot_break_out_of_attributes(tmp_path: Path) -> None:
    bundle = EvidenceBundle(tmp_path, "mocked", Redactor({}))
    name = 'x" onmouseover="alert(1)'
    record_case(
        bundle, name, '"><script>alert(2)</script>.yaml', "failed", 200, 1, None, "<b>bold</b>"
    )
    bundle.finalize({})
    page = review.render_review(bundle.path, manifest_of(bundle.path))
    assert 'onmouseover="alert(1)' not in page
    assert "<script>alert(2)" not in page
    assert "<b>bold" not in page


def test_an_evidence_path_outside_the_bundle_is_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "outside.json"
    secret.write_text('{"request": {"line": "OUTSIDE-SECRET"}}')
    bundle = EvidenceBundle(tmp_path / "evidence", "mocked", Redactor({}))
    record_case(bundle, "escape", "m.yaml", "failed", 200, 1, "../../../outside.json", None)
    record_case(bundle, "absolute", "m.yaml", "failed", 200, 1, str(secret), None)
    bundle.finalize({})
    page = review.render_review(bundle.path, manifest_of(bundle.path))
    assert "OUTSIDE-SECRET" not in page
    assert page.count("is not inside the bundle") == 2


def test_a_large_body_is_cut_and_the_file_named(tmp_path: Path) -> None:
    bundle = EvidenceBundle(tmp_path, "mocked", Redactor({}))
    document = {"request": {"line": "GET /big HTTP/1.1"}, "response": {"body": "A" * 100_000}}
    bundle.write_json("cases/m/big.json", document)
    record_case(bundle, "big", "m.yaml", "passed", 200, 1, "cases/m/big.json", None)
    bundle.finalize({})
    page = review.render_review(bundle.path, manifest_of(bundle.path))
    assert "(100000 characters; the evidence file holds all)" in page
    assert len(page) < 40_000


def test_a_300_case_bundle_gives_a_page_under_one_megabyte(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path, traversal_cases=300)
    path = review.write_review(bundle)
    size = path.stat().st_size
    assert size < 1_000_000, size
    assert path.read_text().count('<details class="case"') == 306


def test_write_review_redacts_what_it_writes(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)
    redactor = Redactor({"OPENAI_API_KEY": "3f2a9c1e4b7d4e0f9a8b7c6d5e4f3a2b"})
    path = review.write_review(bundle, redact=redactor.redact_bytes)
    text = path.read_text()
    assert "3f2a9c1e4b7d4e0f9a8b7c6d5e4f3a2b" not in text
    assert "[REDACTED:OPENAI_API_KEY]" in text


def test_signature_state_follows_the_attestation_file(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)
    manifest = manifest_of(bundle)
    assert "signature: not signed" in review.render_review(bundle, manifest)
    assert "not verified here" in review.render_review(bundle, manifest, signed=True)
    (bundle / review.SIGNATURE).write_text("{}")
    assert "signed (attestation.dsse.json" in review.render_review(bundle, manifest)


@pytest.mark.parametrize(
    ("session", "totals", "kind", "headline"),
    [
        ({"end": "completed", "selected": 3, "run": 3}, {"passed": 3}, "passed",
         "PASSED, 3 passed, 0 failed, 0 error, 0 skipped (3 run of 3 selected)"),
        ({"end": "interrupted", "reason": "SIGTERM", "selected": 286, "run": 91},
         {"passed": 91}, "other", "INTERRUPTED (SIGTERM), 91 passed"),
        ({"end": "stack_failure", "reason": "compose up failed"}, {}, "other",
         "STACK FAILURE (compose up failed)"),
        (None, {"passed": 2, "error": 1}, "failed", "FAILED, 2 passed, 0 failed, 1 error"),
        (None, {}, "other", "NO CASES RAN"),
        ({"end": "completed", "selected": 3, "run": 3,
          "target_outages": "the target stopped answering 1 time(s) mid-run; it restarted"},
         {"passed": 3}, "passed",
         "PASSED, 3 passed, 0 failed, 0 error, 0 skipped (3 run of 3 selected); the target "
         "stopped answering 1 time(s) mid-run; it restarted"),
    ],
)  # fmt: skip
def test_verdicts(
    session: dict[str, object] | None, totals: dict[str, int], kind: str, headline: str
) -> None:
    cases = [
        {"name": f"{o}-{i}", "file": "m.yaml", "outcome": o}
        for o, n in totals.items()
        for i in range(n)
    ]
    manifest: dict[str, object] = {"totals": totals, "cases": cases}
    if session is not None:
        manifest["session"] = session
    got_kind, got_headline = verdict(manifest)
    assert got_kind == kind
    assert got_headline.startswith(headline)


def test_mismatch_text_splits_into_expected_and_actual() -> None:
    assert split_mismatch("json $.status: expected 'a, b', got 'c'") == (
        "json $.status",
        "'a, b'",
        "'c'",
    )
    assert split_mismatch("outside content") == ("outside content", "", "")


def test_a_folder_without_a_manifest_is_one_readable_error(tmp_path: Path) -> None:
    with pytest.raises(review.ReviewError, match=r"manifest.json: cannot be read .*give a bundle"):
        review.write_review(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(review.ReviewError, match="not JSON"):
        review.write_review(tmp_path)


def test_the_markdown_summary_has_the_verdict_totals_and_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = make_bundle(tmp_path)
    assert main(["summary", "--markdown", str(bundle)]) == 0
    text = capsys.readouterr().out
    first, *rest = text.splitlines()
    assert first == (
        "### pytest-codex mocked run: FAILED, 10 passed, 1 failed, 1 error, 0 skipped "
        "(12 run of 12 selected)"
    )
    assert "| 10 | 1 | 1 | 0 |" in rest
    assert "#### failed: wrong.yaml::expects-teapot" in rest
    assert "| status | 418 | 200 |" in rest
    assert "#### error: wrong.yaml::needs-missing" in rest
    assert main(["summary", str(bundle)]) == 0
    assert capsys.readouterr().out.startswith("FAILED, 10 passed")


def test_the_markdown_summary_neutralises_pipes_html_and_fences(tmp_path: Path) -> None:
    bundle = EvidenceBundle(tmp_path, "mocked", Redactor({}))
    message = "a | b <img src=x onerror=alert(1)>\n```\nbreak out"
    record_case(bundle, "x|<i>y</i>", "m.yaml", "failed", 200, 1, None, message)
    bundle.finalize({})
    text = review.summary_markdown(bundle.path, manifest_of(bundle.path))
    assert "#### failed: m.yaml::x\\|&lt;i&gt;y&lt;/i&gt;" in text
    assert "````text\n" + message + "\n````" in text


def test_summary_of_a_folder_that_is_no_bundle_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["summary", "--markdown", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("codex-evidence summary: ")


def test_finalize_writes_the_page_before_the_manifest_hashes_it(tmp_path: Path) -> None:
    """finalize renders index.html first, then the manifest that lists (and hashes) it."""
    from pytest_codex.bundle.record import RunRecord  # noqa: PLC0415
    from pytest_codex.review import cli as verify  # noqa: PLC0415

    bundle = EvidenceBundle(tmp_path, "mocked", Redactor({}))
    bundle.write_json(
        "cases/m/a.case.json", {"request": {"line": "GET /a HTTP/1.1"}, "outcome": "passed"}
    )
    record_case(bundle, "a", "m.yaml", "passed", 200, 1, "cases/m/a.case.json", None)
    bundle.finalize({"session": RunRecord(collected=1, selected=1).session(run=1)})
    listed = {entry["path"] for entry in manifest_of(bundle.path)["files"]}
    assert "index.html" in listed
    assert "GET /a HTTP/1.1" in (bundle.path / "index.html").read_text()
    assert verify.main(["verify", str(bundle.path)]) == 0
