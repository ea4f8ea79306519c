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
from pathlib import Path
from typing import Any

from pytest_codex import schemas
from pytest_codex.bundle.writer import EvidenceBundle, sha256_file
from pytest_codex.cases import expectations, rawhttp
from pytest_codex.cases.expectations import Mismatch
from pytest_codex.matrix.files import VARIABLE, Case, safe_path

TRAVERSAL_LOG = "traversal/request-lines.txt"
BODY_EXCERPT = 400
MAX_POLL_ATTEMPTS = 1000  # requests one `poll:` sends at most, whatever its timeout
MAX_POLL_TIMEOUT = 3600.0  # seconds; the matrix schema refuses more
DEFAULT_POLL_INTERVAL = 1.0  # seconds between poll attempts
DEFAULT_POLL_TIMEOUT = 60.0  # seconds a poll waits for `until` by default


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
    expect = substitute(dict(case.expect), context.variables, label)
    until = substitute(dict(case.poll["until"]), context.variables, label) if case.poll else None
    evidence_file = case.evidence_file
    if evidence_name is not None:  # a prerequisite run: beside the case's own file
        folder = evidence_file.rsplit("/", 1)[0]
        evidence_file = f"{folder}/{safe_path([evidence_name], '.case.json')}"
    keep_schemas(context, case)
    attempts: list[dict[str, Any]] = []
    leaked: set[str] = set()  # outside content in any poll attempt
    poll_problem: Mismatch | None = None
    try:
        headers, body = _request_parts(request, context.api_token)
        if case.poll is None or until is None:
            exchange = _send(context, case.method, request["path"], headers, body)
        else:
            exchange, poll_problem = _poll(
                case, context, request["path"], headers, body, until, attempts, leaked
            )
    except rawhttp.RawHttpError as error:
        record: dict[str, Any] = {"case": label, "error": str(error)}
        if attempts:
            record["attempts"] = attempts
        context.evidence.write_json(evidence_file, record)
        outcome = CaseOutcome("failed", None, 0.0, evidence_file)
        tried = f" (after {len(attempts)} poll attempts)" if attempts else ""
        message = (
            f"{label} failed\n  request:  {case.method} {request['path']}\n"
            f"  error:    {error}{tried}"
        )
        raise CaseFailedError(
            f"{message}\n  evidence: {_where(context, evidence_file)}", outcome
        ) from None
    checked = expectations.check(
        expect, exchange, workspace_root=context.workspace_root, schema_refs=case.schemas
    )
    if poll_problem is not None:
        checked.mismatches.insert(0, poll_problem)
    for marker in sorted(leaked | set(expectations.leaks(exchange, context.leak_markers))):
        checked.mismatches.append(
            Mismatch("outside content", "none", f"the response holds {marker[:24]!r}...")
        )
    unsaved = _save(case, exchange, context.variables)
    checked.mismatches += unsaved
    saved = {
        name: context.variables[name]
        for name in case.save
        if name in context.variables and all(m.what != f"save {name}" for m in unsaved)
    }
    record = _record(label, case, exchange, expect, checked, saved)
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


def _send(
    context: RunContext,
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes,
    timeout: float | None = None,
) -> rawhttp.Exchange:
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


def _poll(
    case: Case,
    context: RunContext,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes,
    until: Mapping[str, Any],
    attempts: list[dict[str, Any]],
    leaked: set[str],
) -> tuple[rawhttp.Exchange, Mismatch | None]:
    """Send the request every `interval` s until `until` holds, `timeout` s pass or
    MAX_POLL_ATTEMPTS requests were sent; every attempt goes into `attempts`, outside
    content found in any answer into `leaked`. Returns the last answer and, when `until`
    never held, the mismatch saying so. RawHttpError when no attempt got an answer."""
    assert case.poll is not None
    interval = float(case.poll.get("interval", DEFAULT_POLL_INTERVAL))
    timeout = min(float(case.poll.get("timeout", DEFAULT_POLL_TIMEOUT)), MAX_POLL_TIMEOUT)
    started = time.monotonic()
    last: rawhttp.Exchange | None = None
    last_error: rawhttp.RawHttpError | None = None
    while True:
        remaining = timeout - (time.monotonic() - started)
        at_ms = round((time.monotonic() - started) * 1000, 1)
        try:
            exchange = _send(
                context,
                case.method,
                path,
                headers,
                body,
                min(context.timeout, max(remaining, 1.0)),
            )
        except rawhttp.RawHttpError as error:
            last_error = error
            attempts.append({"attempt": len(attempts) + 1, "at_ms": at_ms, "error": str(error)})
            held = False
        else:
            last_error = None
            last = exchange
            leaked.update(expectations.leaks(exchange, context.leak_markers))
            found = expectations.check(
                until, exchange, workspace_root=context.workspace_root, schema_refs=case.schemas
            )
            held = not found.mismatches
            attempts.append(
                {
                    "attempt": len(attempts) + 1,
                    "at_ms": at_ms,
                    "status": exchange.status,
                    "elapsed_ms": exchange.elapsed_ms,
                    "body": _excerpt(exchange),
                    "until": "held" if held else [str(m) for m in found.mismatches],
                }
            )
        if held:
            return exchange, None
        elapsed = time.monotonic() - started
        if len(attempts) >= MAX_POLL_ATTEMPTS or elapsed + interval > timeout:
            break
        time.sleep(interval)
    if last is None:
        assert last_error is not None
        raise last_error
    why = (
        f"the time-out ({timeout:g} s)"
        if len(attempts) < MAX_POLL_ATTEMPTS
        else (f"MAX_POLL_ATTEMPTS ({MAX_POLL_ATTEMPTS})")
    )
    tail = f"; the last attempt failed: {last_error}" if last_error else ""
    problem = Mismatch(
        "poll",
        f"`until` to hold within {timeout:g} s",
        f"it did not after {len(attempts)} attempts in {elapsed:.1f} s (stopped by {why}); "
        f"last answer: {last.status} {last.reason}: "
        + context.evidence.redactor.redact(f"{_excerpt(last)}{tail}"),
    )
    return last, problem


def _excerpt(exchange: rawhttp.Exchange) -> str:
    text = exchange.body.decode("utf-8", "backslashreplace")
    if len(text) > BODY_EXCERPT:
        text = text[:BODY_EXCERPT] + f"... ({len(exchange.body)} bytes)"
    return text


def keep_schemas(context: RunContext, case: Case) -> None:
    """A copy of every schema the case uses, written once per run to the bundle
    (`schemas/<name>.schema.json` for shipped ones, `schemas/<path>.json` for files) and
    listed in `context.evidence.used_schemas` for the manifest."""
    used = context.evidence.used_schemas
    result = case.expect.get("result")
    result_ref = result.get("schema", "result") if isinstance(result, Mapping) else None
    for key, ref in case.schemas.items():
        if ref.bundle_file in used:
            if key == result_ref:
                used[ref.bundle_file]["role"] = "result"
            continue
        written = context.evidence.write_json(ref.bundle_file, ref.document)
        used[ref.bundle_file] = {
            "schema": ref.ref,
            "source": ref.source,
            "file": ref.bundle_file,
            "sha256": sha256_file(written),
            "source_sha256": schemas.source_sha256(ref) or "",  # the source file's bytes
            # `result`: what result.json files of this run must satisfy (verify uses it)
            "role": "result" if key == result_ref else "response",
        }
        folder = ref.bundle_file.removesuffix(".json") + ".refs/"
        for uri, document in ref.references:
            name = folder + safe_path(uri.split("/"), "")
            written = context.evidence.write_json(name, document)
            used[name] = {
                "schema": f"{ref.ref} $ref {uri}",
                "source": f"{ref.source} $ref {uri}",
                "file": name,
                "sha256": sha256_file(written),
            }


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
            "elapsed_ms": exchange.elapsed_ms,
        },
        "expect": expect,
        "outcome": "failed" if checked.mismatches else "passed",
        "mismatches": [str(m) for m in checked.mismatches],
        "notes": checked.notes,
        "saved": dict(saved),
    }


def _failure(
    label: str,
    exchange: rawhttp.Exchange,
    checked: expectations.Checked,
    context: RunContext,
    evidence_file: str,
) -> str:
    excerpt = _excerpt(exchange)
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
