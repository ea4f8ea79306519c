"""Running one matrix case: fill in saved variables, send the request byte for byte,
check the expectations and outside-content markers, save values for later cases, and
keep the exchange in the evidence. No pytest import here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_codex import expectations, rawhttp
from pytest_codex.evidence import EvidenceBundle
from pytest_codex.expectations import Mismatch
from pytest_codex.matrix import VARIABLE, Case

TRAVERSAL_LOG = "traversal/request-lines.txt"
BODY_EXCERPT = 400


class MissingVariableError(Exception):
    """A case needs a value that an earlier case of its file did not save."""


@dataclass(frozen=True)
class CaseOutcome:
    outcome: str  # passed | failed
    status: int | None
    elapsed_ms: float
    evidence: str  # bundle-relative file of the exchange


class CaseFailedError(AssertionError):
    """The response did not meet the case's expectations; the text reads like a diff."""

    def __init__(self, message: str, outcome: CaseOutcome) -> None:
        super().__init__(message)
        self.outcome = outcome


@dataclass
class RunContext:
    """What a case needs: where to send, where to write, what earlier cases saved."""

    base_url: str
    evidence: EvidenceBundle
    variables: MutableMapping[str, str]
    workspace_root: Path | None
    leak_markers: Sequence[str]
    timeout: float
    api_token: str | None = None


def substitute(value: Any, variables: Mapping[str, str], case: str) -> Any:
    """`{name}` replaced by a saved value in every string of `value`; `{{` is `{`."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            token = match.group(0)
            if token in ("{{", "}}"):
                return token[0]
            name = match.group(1)
            if name not in variables:
                raise MissingVariableError(
                    f"{case}: needs {{{name}}}, which no earlier case saved "
                    "(did the case that saves it fail?)"
                )
            return variables[name]

        return VARIABLE.sub(replace, value)
    if isinstance(value, Mapping):
        return {
            substitute(k, variables, case): substitute(v, variables, case)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [substitute(item, variables, case) for item in value]
    return value


def run_case(case: Case, context: RunContext, *, evidence_name: str | None = None) -> CaseOutcome:
    """Run one case; raise CaseFailedError when an expectation is not met. `evidence_name`
    names its evidence file when not the case's name (a prerequisite run)."""
    label = f"{case.file.name}::{case.name}"
    request = substitute(dict(case.request), context.variables, label)
    expect = substitute(dict(case.expect), context.variables, label)
    headers, body = _request_parts(request, context.api_token)
    evidence_file = f"cases/{case.file.stem}/{evidence_name or case.name}.json"
    try:
        exchange = rawhttp.send(
            context.base_url,
            case.method,
            request["path"],
            headers=headers,
            body=body,
            timeout=context.timeout,
        )
    except rawhttp.RawHttpError as error:
        context.evidence.write_json(evidence_file, {"case": label, "error": str(error)})
        outcome = CaseOutcome("failed", None, 0.0, evidence_file)
        message = (
            f"{label} failed\n  request:  {case.method} {request['path']}\n  error:    {error}"
        )
        raise CaseFailedError(
            f"{message}\n  evidence: {_where(context, evidence_file)}", outcome
        ) from None
    checked = expectations.check(expect, exchange, workspace_root=context.workspace_root)
    for marker in expectations.leaks(exchange, context.leak_markers):
        checked.mismatches.append(
            Mismatch("outside content", "none", f"the response holds {marker[:24]!r}...")
        )
    checked.mismatches += _save(case, exchange, context.variables)
    context.evidence.write_json(evidence_file, _record(label, case, exchange, expect, checked))
    if case.family is not None:
        context.evidence.append_text(
            TRAVERSAL_LOG,
            f"{case.name}\t{case.family}\t{exchange.status}\t{exchange.request_line_text}\n",
        )
    passed = not checked.mismatches
    outcome = CaseOutcome(
        "passed" if passed else "failed", exchange.status, exchange.elapsed_ms, evidence_file
    )
    if not passed:
        raise CaseFailedError(_failure(label, exchange, checked, context, evidence_file), outcome)
    return outcome


def _request_parts(
    request: Mapping[str, Any], api_token: str | None
) -> tuple[list[tuple[str, str]], bytes]:
    headers: list[tuple[str, str]] = []
    if api_token:
        headers.append(("Authorization", f"Bearer {api_token}"))
    body = b""
    if "json" in request:
        body = json.dumps(request["json"]).encode("utf-8")
        headers.append(("Content-Type", "application/json"))
    elif "body" in request:
        body = str(request["body"]).encode("utf-8")
    headers += list(request.get("headers", {}).items())
    return headers, body


def _save(
    case: Case, exchange: rawhttp.Exchange, variables: MutableMapping[str, str]
) -> list[Mismatch]:
    if not case.save:
        return []
    try:
        document = exchange.json()
    except (ValueError, UnicodeDecodeError):
        document = None
    missing = []
    for name, dotted in case.save.items():
        value = _lookup(document, dotted)
        if value is None or isinstance(value, dict | list):
            missing.append(Mismatch(f"save {name}", f"a value at {dotted!r}", "none"))
        else:
            variables[name] = str(value)
    return missing


def _lookup(document: object, dotted: str) -> object:
    for part in dotted.split("."):
        if isinstance(document, Mapping) and part in document:
            document = document[part]
        elif isinstance(document, list) and part.isdigit() and int(part) < len(document):
            document = document[int(part)]
        else:
            return None
    return document


def _body_for_evidence(exchange: rawhttp.Exchange) -> object:
    try:
        return exchange.json()
    except (ValueError, UnicodeDecodeError):
        return exchange.body.decode("utf-8", "backslashreplace")


def _record(
    label: str,
    case: Case,
    exchange: rawhttp.Exchange,
    expect: Mapping[str, Any],
    checked: expectations.Checked,
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
            "elapsed_ms": exchange.elapsed_ms,
        },
        "expect": expect,
        "outcome": "failed" if checked.mismatches else "passed",
        "mismatches": [str(m) for m in checked.mismatches],
        "notes": checked.notes,
    }


def _failure(
    label: str,
    exchange: rawhttp.Exchange,
    checked: expectations.Checked,
    context: RunContext,
    evidence_file: str,
) -> str:
    excerpt = exchange.body.decode("utf-8", "backslashreplace")
    if len(excerpt) > BODY_EXCERPT:
        excerpt = excerpt[:BODY_EXCERPT] + f"... ({len(exchange.body)} bytes)"
    lines = [f"{label} failed", f"  request:  {exchange.request_line_text}"]
    lines += [
        f"  {m.what}:\n      expected {m.expected}\n      actual   {m.actual}"
        for m in checked.mismatches
    ]
    lines += [
        f"  response: {exchange.status} {exchange.reason}: "
        + context.evidence.redactor.redact(excerpt),
        f"  evidence: {_where(context, evidence_file)}",
    ]
    return "\n".join(lines)


def _where(context: RunContext, relative: str) -> str:
    return str(context.evidence.path / relative)
