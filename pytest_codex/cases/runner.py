"""Running one matrix case: fill in saved variables, send the request byte for byte
(again and again while a `poll:` waits for its `until:`), check the expectations and
outside-content markers, save values for later cases, and keep the exchange (and every
poll attempt) in the evidence, with a copy of each schema the run used. No pytest import
here.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from pytest_codex.bundle.writer import EvidenceBundle
from pytest_codex.cases import case_evidence, expectations, outages, rawhttp, traversal
from pytest_codex.cases.expectations import Mismatch
from pytest_codex.cases.poll import poll
from pytest_codex.cases.schema_copies import keep_schemas
from pytest_codex.matrix.files import VARIABLE, Case, safe_path
from pytest_codex.secrets.decoding import redact_split_headers

TRAVERSAL_LOG = "traversal/request-lines.txt"


class MissingVariableError(Exception):
    """A case needs a value that an earlier case of its file did not save."""


@dataclass(frozen=True)
class CaseOutcome:
    outcome: str  # passed | failed | error
    status: int | None
    elapsed_ms: float
    evidence: str | None  # bundle-relative file of the exchange
    message: str | None = None  # why it failed or errored


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
    timeout: float  # seconds for one whole exchange (connect to the last body byte)
    api_token: str | None = None
    max_body: int = rawhttp.DEFAULT_MAX_BODY  # a bigger answer is cut and fails its case
    outages: outages.Target | None = None  # wait through a target's restart (None: do not)
    traversal_policy: str = "strict"  # the statuses tagged traversal payloads must get


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


def run_outcome(
    case: Case, context: RunContext, *, evidence_name: str | None = None
) -> tuple[CaseOutcome, Exception | None]:
    """Run one case and turn whatever it raised into its outcome, always with its
    duration: passed, failed (an expectation, the failure text as message) or error
    (anything else, with its type and message). The exception comes back for the caller
    to raise; the caller records the outcome (`EvidenceBundle.record`)."""
    started = time.perf_counter()
    try:
        return run_case(case, context, evidence_name=evidence_name), None
    except CaseFailedError as failure:
        outcome = failure.outcome
        if not outcome.elapsed_ms:  # no exchange completed: the time it took
            outcome = replace(outcome, elapsed_ms=(time.perf_counter() - started) * 1000)
        return replace(outcome, message=str(failure)), failure
    except Exception as error:
        message = (
            str(error)
            if isinstance(error, MissingVariableError)
            else f"{case.file.name}::{case.name}: {type(error).__name__}: {error}"
        )
        elapsed = (time.perf_counter() - started) * 1000
        return CaseOutcome("error", None, elapsed, None, message), error


def run_case(case: Case, context: RunContext, *, evidence_name: str | None = None) -> CaseOutcome:
    """Run one case; raise CaseFailedError when an expectation is not met. `evidence_name`
    names its evidence file when not the case's name (a prerequisite run)."""
    label = f"{case.file.name}::{case.name}"
    request = substitute(dict(case.request), context.variables, label)
    expect = traversal.apply_policy(
        substitute(dict(case.expect), context.variables, label),
        case.traversal,
        context.traversal_policy,
    )
    until = substitute(dict(case.poll["until"]), context.variables, label) if case.poll else None
    evidence_file = _evidence_file(case, evidence_name)
    keep_schemas(context.evidence, case)
    attempts: list[dict[str, Any]] = []
    leaked: set[str] = set()  # outside content in any poll attempt
    poll_problem: Mismatch | None = None
    try:
        headers, body = _request_parts(request, context.api_token)
        if case.poll is None or until is None:
            exchange = _send(context, case.method, request["path"], headers, body, label=label)
        else:
            send = partial(
                _send, context, case.method, request["path"], headers, body, label=label
            )
            exchange, poll_problem = poll(case, context, send, until, attempts, leaked)
    except rawhttp.RawHttpError as error:
        raise _unanswered(
            error, label, f"{case.method} {request['path']}", attempts, context, evidence_file
        ) from None
    checked = _check(case, context, expect, exchange, request["path"], poll_problem, leaked)
    saved = _save_values(case, exchange, context, checked)
    record = case_evidence.record(label, case, exchange, expect, checked, saved)
    for part in ("request", "response"):  # a secret split across values of one name
        record[part]["headers"] = [
            list(pair)
            for pair in redact_split_headers(record[part]["headers"], context.evidence.redactor)
        ]
    if case.poll is not None:
        record["poll"] = {**case.poll, "until": until}
        record["attempts"] = attempts
    context.evidence.write_json(evidence_file, record)
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


def _evidence_file(case: Case, evidence_name: str | None) -> str:
    """The case's evidence file; a prerequisite run's (`evidence_name`) beside it."""
    if evidence_name is None:
        return case.evidence_file
    folder = case.evidence_file.rsplit("/", 1)[0]
    return f"{folder}/{safe_path([evidence_name], '.case.json')}"


def _check(
    case: Case,
    context: RunContext,
    expect: Mapping[str, Any],
    exchange: rawhttp.Exchange,
    path: str,
    poll_problem: Mismatch | None,
    leaked: set[str],
) -> expectations.Checked:
    """The expectations checked, with the poll's and traversal's mismatches first and
    outside content (in this answer or any poll attempt) last."""
    checked = expectations.check(
        expect, exchange, workspace_root=context.workspace_root, schema_refs=case.schemas
    )
    if poll_problem is not None:
        checked.mismatches.insert(0, poll_problem)
    served = traversal.served(case.traversal, exchange.status, path)
    if served is not None:
        checked.mismatches.insert(0, served)
    for marker in sorted(leaked | set(expectations.leaks(exchange, context.leak_markers))):
        checked.mismatches.append(
            Mismatch("outside content", "none", f"the response holds {marker[:24]!r}...")
        )
    return checked


def _save_values(
    case: Case, exchange: rawhttp.Exchange, context: RunContext, checked: expectations.Checked
) -> dict[str, str]:
    """Save the case's values for later cases (a missing one is a mismatch in `checked`);
    the values saved."""
    unsaved = _save(case, exchange, context.variables)
    checked.mismatches += unsaved
    return {
        name: context.variables[name]
        for name in case.save
        if name in context.variables and all(m.what != f"save {name}" for m in unsaved)
    }


def _unanswered(
    error: rawhttp.RawHttpError,
    label: str,
    request: str,
    attempts: list[dict[str, Any]],
    context: RunContext,
    evidence_file: str,
) -> CaseFailedError:
    """The failure of a case whose request got no answer, its record written."""
    record: dict[str, Any] = {"case": label, "error": str(error)}
    if error.unreachable:  # the target stopped answering (see cases/outages.py)
        record["target_unreachable"] = {"in_flight": error.sent}
    if attempts:
        record["attempts"] = attempts
    context.evidence.write_json(evidence_file, record)
    outcome = CaseOutcome("failed", None, 0.0, evidence_file)
    tried = f" (after {len(attempts)} poll attempts)" if attempts else ""
    message = f"{label} failed\n  request:  {request}\n  error:    {error}{tried}"
    return CaseFailedError(f"{message}\n  evidence: {_where(context, evidence_file)}", outcome)


def _send(
    context: RunContext,
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes,
    timeout: float | None = None,
    label: str = "",
) -> rawhttp.Exchange:
    def send() -> rawhttp.Exchange:
        return rawhttp.send(
            context.base_url,
            method,
            path,
            headers=headers,
            body=body,
            timeout=context.timeout if timeout is None else timeout,
            deadline=context.timeout if timeout is None else timeout,
            max_body=context.max_body,
        )

    if context.outages is None:
        return send()
    return outages.send_through_outages(send, context.outages, method, path, label)


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
    for name, value in headers:
        if any(c in value for c in "\r\n\0") or not _latin1(value):
            raise rawhttp.RawHttpError(
                f"header {name}: its value {value[:40]!r} holds CR, LF, NUL or text outside "
                "Latin-1 (after {variable} filling); it is not sent"
            )
    return headers, body


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


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


_lookup = expectations.lookup


def _failure(
    label: str,
    exchange: rawhttp.Exchange,
    checked: expectations.Checked,
    context: RunContext,
    evidence_file: str,
) -> str:
    excerpt = case_evidence.excerpt(exchange)
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
