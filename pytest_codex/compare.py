"""Mocked against live: the same cases side by side, for the live bundle's summary.

The mocked side is the newest full mocked run in the same evidence folder (a rollback
bundle holds only smoke cases and is not used). No pytest import here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

LIVE_ONLY = "live only: needs the real worker or the model stand-in's faults"
MOCKED_ONLY = "mocked only"


def latest_mocked_manifest(evidence_dir: Path) -> Path | None:
    """The manifest of the newest mocked bundle that is not a rollback's smoke run."""
    for manifest in sorted(evidence_dir.glob("*/mocked/manifest.json"), reverse=True):
        try:
            document = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if "rollback_of" not in document:
            return manifest
    return None


def side_by_side(
    mocked: Sequence[dict[str, Any]], live: Sequence[dict[str, Any]]
) -> list[dict[str, str]]:
    """One row per case of either run, in the live run's order, mocked-only cases last."""
    before = {(c["file"], c["name"]): c for c in mocked}
    rows = []
    for case in live:
        key = (case["file"], case["name"])
        other = before.pop(key, None)
        if other is None:
            note = LIVE_ONLY
        elif other["outcome"] == case["outcome"] and other.get("status") == case.get("status"):
            note = "same"
        else:
            note = (
                f"DIFFERENT: mocked {other['outcome']} ({other.get('status')}), "
                f"live {case['outcome']} ({case.get('status')})"
            )
        rows.append(_row(key, other, case, note))
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


def comparison(evidence_dir: Path, live_cases: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What the live bundle's manifest and summary show under `comparison_with_mocked`."""
    manifest = latest_mocked_manifest(evidence_dir)
    if manifest is None:
        return {
            "against": None,
            "table": "No mocked run in this evidence folder to compare "
            "with; run `pytest --codex-mode=mocked` first.",
        }
    mocked = json.loads(manifest.read_text(encoding="utf-8"))["cases"]
    rows = side_by_side(mocked, live_cases)
    table = ["| file | case | mocked | live | note |", "|---|---|---|---|---|"]
    table += [
        f"| {r['file']} | {r['case']} | {r['mocked']} | {r['live']} | {r['note']} |" for r in rows
    ]
    differ = sum(r["note"].startswith("DIFFERENT") for r in rows)
    return {
        "against": str(manifest.parent.relative_to(evidence_dir)),
        "same": sum(r["note"] == "same" for r in rows),
        "different": differ,
        "live_only": sum(r["note"] == LIVE_ONLY for r in rows),
        "mocked_only": sum(r["note"] == MOCKED_ONLY for r in rows),
        "table": "\n".join(table),
    }
