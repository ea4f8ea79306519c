"""Mocked against live: the same cases side by side, for the live bundle's summary.

The mocked side is the newest full mocked run in the same evidence folder (a rollback
bundle holds only smoke cases and is not used). Every pair is matched on outcome and
status; cases that go through a worker (a project or job created, a workspace listed, a
result.json read) are also matched on what the worker did (`worker_facts`: job status and
type, the file list, result.json's status, job_type, created/modified files, whether a
summary is present, the error type); cases that never touch a worker (traversal payloads,
health, errors) are counted apart. No pytest import here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_codex.bundle import reader

LIVE_ONLY = "live only: needs the real worker or the model stand-in's faults"
MOCKED_ONLY = "mocked only"
NO_WORKER = "no worker"
MAX_EVIDENCE_BYTES = 512 * 1024  # bytes read of one case's evidence file
MAX_EMBEDDED_RESULT = 256 * 1024  # characters of a result.json read through the API


def _error_type(error: object) -> object:
    if isinstance(error, Mapping):
        return error.get("type") or error.get("code") or "error"
    return error if error is None else str(error)[:80]


def _result_facts(content: str) -> dict[str, object] | None:
    if len(content) > MAX_EMBEDDED_RESULT:
        return None
    try:
        result = json.loads(content)
    except ValueError:
        return None
    if not isinstance(result, Mapping):
        return None
    return {
        "status": result.get("status"),
        "job_type": result.get("job_type"),
        "created_files": sorted(map(str, result.get("created_files") or [])),
        "modified_files": sorted(map(str, result.get("modified_files") or [])),
        "summary_present": bool(result.get("summary")),
        "error_type": _error_type(result.get("error")),
    }


def worker_facts(evidence: Mapping[str, Any] | None) -> dict[str, object] | None:
    """What one case's response shows of a worker's work, or None when it shows none."""
    if not evidence or evidence.get("family"):
        return None
    response = evidence.get("response")
    body = response.get("body") if isinstance(response, Mapping) else None
    if not isinstance(body, Mapping):
        return None
    facts: dict[str, object] = {}
    job = body.get("job") if isinstance(body.get("job"), Mapping) else None
    if job is None and "job_type" in body:
        job = body
    if job is not None:
        facts["job"] = {
            "status": job.get("status"),
            "job_type": job.get("job_type"),
            "error_type": _error_type(job.get("error")),
        }
    if isinstance(body.get("files"), list):
        facts["files"] = sorted(
            str(entry.get("path")) for entry in body["files"] if isinstance(entry, Mapping)
        )
    content, path = body.get("content"), str(body.get("path") or "")
    if isinstance(content, str) and path.endswith("result.json"):
        result = _result_facts(content)
        if result is not None:
            facts["result"] = result
    return facts or None


def read_evidence(bundle: Path | None, relative: object) -> dict[str, Any] | None:
    """A case's evidence file (a plain relative path inside `bundle`), or None."""
    if bundle is None or reader.plain_parts(relative) is None:
        return None
    try:
        document = reader.read_json(bundle, str(relative), MAX_EVIDENCE_BYTES)
    except reader.BundleReadError:
        return None
    return document if isinstance(document, dict) else None


def compare_worker(
    mocked: Mapping[str, Any] | None, live: Mapping[str, Any] | None
) -> tuple[str, str]:
    """(`worker` column, difference or '') for one pair of evidence files."""
    before, after = worker_facts(mocked), worker_facts(live)
    if before is None and after is None:
        return NO_WORKER, ""
    if before == after:
        return "same: " + ", ".join(sorted(before or {})), ""
    keys = sorted(set(before or {}) | set(after or {}))
    differ = [k for k in keys if (before or {}).get(k) != (after or {}).get(k)]
    detail = "; ".join(
        f"{k}: mocked {json.dumps((before or {}).get(k))}, live {json.dumps((after or {}).get(k))}"
        for k in differ
    )
    return "DIFFERENT: " + ", ".join(differ), detail


def latest_mocked_manifest(evidence_dir: Path) -> Path | None:
    """The manifest of the newest mocked bundle that is not a rollback's smoke run."""
    for manifest in sorted(evidence_dir.glob("*/mocked/manifest.json"), reverse=True):
        try:
            document = reader.read_manifest(manifest.parent)
        except reader.BundleReadError:
            continue
        if "rollback_of" not in document:
            return manifest
    return None


def side_by_side(
    mocked: Sequence[dict[str, Any]],
    live: Sequence[dict[str, Any]],
    *,
    mocked_bundle: Path | None = None,
    live_bundle: Path | None = None,
) -> list[dict[str, str]]:
    """One row per case of either run, in the live run's order, mocked-only cases last.

    With both bundle folders, each pair is also compared on what the worker did: the row's
    `worker` is `no worker`, `same: <facts>` or `DIFFERENT: <facts>`, and `detail` shows
    both sides of each difference; a worker difference makes the note DIFFERENT too."""
    before = {(c["file"], c["name"]): c for c in mocked}
    deeper = mocked_bundle is not None and live_bundle is not None
    rows = []
    for case in live:
        key = (case["file"], case["name"])
        other = before.pop(key, None)
        worker, detail = "-", ""
        if other is not None and deeper:
            worker, detail = compare_worker(
                read_evidence(mocked_bundle, other.get("evidence")),
                read_evidence(live_bundle, case.get("evidence")),
            )
        if other is None:
            note = LIVE_ONLY
        elif other["outcome"] != case["outcome"] or other.get("status") != case.get("status"):
            note = (
                f"DIFFERENT: mocked {other['outcome']} ({other.get('status')}), "
                f"live {case['outcome']} ({case.get('status')})"
            )
        elif worker.startswith("DIFFERENT"):
            note = f"DIFFERENT worker result: {detail}"
        else:
            note = "same"
        row = _row(key, other, case, note)
        if deeper:
            row |= {"worker": worker, "detail": detail}
        rows.append(row)
    rows += [_row(key, case, None, MOCKED_ONLY) for key, case in before.items()]
    return rows


def _row(
    key: tuple[str, str], mocked: dict[str, Any] | None, live: dict[str, Any] | None, note: str
) -> dict[str, str]:
    def show(case: dict[str, Any] | None) -> str:
        return "-" if case is None else f"{case['outcome']} ({case.get('status') or '-'})"

    return {
        "file": key[0],
        "case": key[1],
        "mocked": show(mocked),
        "live": show(live),
        "note": note,
    }


def comparison(
    evidence_dir: Path, live_cases: Sequence[dict[str, Any]], live_bundle: Path | None = None
) -> dict[str, Any]:
    """What the live bundle's manifest and summary show under `comparison_with_mocked`.

    Give `live_bundle` (the live bundle's folder) for the comparison of worker results."""
    manifest = latest_mocked_manifest(evidence_dir)
    if manifest is None:
        return {
            "against": None,
            "table": "No mocked run in this evidence folder to compare "
            "with; run `pytest --codex-mode=mocked` first.",
        }
    mocked = reader.read_manifest(manifest.parent)["cases"]
    rows = side_by_side(
        mocked,
        live_cases,
        mocked_bundle=manifest.parent if live_bundle is not None else None,
        live_bundle=live_bundle,
    )
    table = ["| file | case | mocked | live | note |", "|---|---|---|---|---|"]
    table += [
        f"| {r['file']} | {r['case']} | {r['mocked']} | {r['live']} | {_cell(r['note'])} |"
        for r in rows
    ]
    differ = sum(r["note"].startswith("DIFFERENT") for r in rows)
    found: dict[str, Any] = {
        "against": str(manifest.parent.relative_to(evidence_dir)),
        "same": sum(r["note"] == "same" for r in rows),
        "different": differ,
        "live_only": sum(r["note"] == LIVE_ONLY for r in rows),
        "mocked_only": sum(r["note"] == MOCKED_ONLY for r in rows),
    }
    if live_bundle is not None:
        worker_rows = [r for r in rows if r.get("worker", "-") not in ("-", NO_WORKER)]
        found |= {
            "worker_cases": len(worker_rows),
            "worker_same": sum(r["worker"].startswith("same") for r in worker_rows),
            "worker_different": sum(r["worker"].startswith("DIFFERENT") for r in worker_rows),
            "no_worker": sum(r.get("worker") == NO_WORKER for r in rows),
        }
        table += ["", "Cases that go through a worker (what the worker did):", ""]
        table += ["| file | case | worker | detail |", "|---|---|---|---|"]
        table += [
            f"| {r['file']} | {r['case']} | {r['worker']} | {_cell(r['detail']) or '-'} |"
            for r in worker_rows
        ]
        found["rows"] = rows
    found["table"] = "\n".join(table)
    return found


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
