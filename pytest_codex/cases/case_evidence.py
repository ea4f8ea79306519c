"""What a case's evidence file holds: the exchange as sent and received (the
Authorization value replaced), the expectations, mismatches, notes and saved values; and
the short body excerpt failure texts and poll attempts quote. No pytest import here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_codex.cases import expectations, rawhttp
from pytest_codex.matrix.files import Case

BODY_EXCERPT = 400


def excerpt(exchange: rawhttp.Exchange) -> str:
    text = exchange.body.decode("utf-8", "backslashreplace")
    if len(text) > BODY_EXCERPT:
        text = text[:BODY_EXCERPT] + f"... ({len(exchange.body)} bytes)"
    return text


def _body_for_evidence(exchange: rawhttp.Exchange) -> object:
    try:
        return exchange.json()
    except (ValueError, UnicodeDecodeError):
        return exchange.body.decode("utf-8", "backslashreplace")


def record(
    label: str,
    case: Case,
    exchange: rawhttp.Exchange,
    expect: Mapping[str, Any],
    checked: expectations.Checked,
    saved: Mapping[str, str],
) -> dict[str, Any]:
    return {
        "case": label,
        "family": case.family,
        "request": {
            "line": exchange.request_line_text,
            "headers": [
                [k, "[REDACTED:Authorization]" if k.lower() == "authorization" else v]
                for k, v in exchange.request_headers
            ],
            "body": exchange.request_body.decode("utf-8", "backslashreplace"),
        },
        "response": {
            "status": exchange.status,
            "reason": exchange.reason,
            "headers": [list(pair) for pair in exchange.headers],
            "body": _body_for_evidence(exchange),
            **({"body_note": exchange.body_note} if exchange.body_note else {}),
            "elapsed_ms": exchange.elapsed_ms,
        },
        "expect": expect,
        "outcome": "failed" if checked.mismatches else "passed",
        "mismatches": [str(m) for m in checked.mismatches],
        "notes": checked.notes,
        "saved": dict(saved),
    }
