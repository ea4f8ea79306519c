"""A case's `poll:`: send its request again and again until `until:` holds, its time-out
passes or MAX_POLL_ATTEMPTS requests were sent, keeping every attempt for the evidence.
No pytest import here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pytest_codex.cases import expectations, rawhttp
from pytest_codex.cases.case_evidence import excerpt
from pytest_codex.cases.expectations import Mismatch
from pytest_codex.matrix.files import Case

if TYPE_CHECKING:
    from pytest_codex.cases.runner import RunContext

MAX_POLL_ATTEMPTS = 1000  # requests one `poll:` sends at most, whatever its timeout
MAX_POLL_TIMEOUT = 3600.0  # seconds; the matrix schema refuses more
DEFAULT_POLL_INTERVAL = 1.0  # seconds between poll attempts
DEFAULT_POLL_TIMEOUT = 60.0  # seconds a poll waits for `until` by default


def poll(
    case: Case,
    context: RunContext,
    send: Callable[[float], rawhttp.Exchange],
    until: Mapping[str, Any],
    attempts: list[dict[str, Any]],
    leaked: set[str],
) -> tuple[rawhttp.Exchange, Mismatch | None]:
    """Send the request (`send(timeout)`) every `interval` s until `until` holds, `timeout`
    s pass or MAX_POLL_ATTEMPTS requests were sent; every attempt goes into `attempts`,
    outside content found in any answer into `leaked`. Returns the last answer and, when
    `until` never held, the mismatch saying so. RawHttpError when no attempt got an answer."""
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
            exchange = send(min(context.timeout, max(remaining, 1.0)))
        except rawhttp.RawHttpError as error:
            last_error = error
            attempts.append({"attempt": len(attempts) + 1, "at_ms": at_ms, "error": str(error)})
            held = False
        else:
            last_error = None
            last = exchange
            held = _attempt(case, context, exchange, until, at_ms, attempts, leaked)
        if held:
            return exchange, None
        elapsed = time.monotonic() - started
        if len(attempts) >= MAX_POLL_ATTEMPTS or elapsed + interval > timeout:
            break
        time.sleep(interval)
    if last is None:
        assert last_error is not None
        raise last_error
    return last, _never_held(context, last, last_error, timeout, elapsed, len(attempts))


def _attempt(
    case: Case,
    context: RunContext,
    exchange: rawhttp.Exchange,
    until: Mapping[str, Any],
    at_ms: float,
    attempts: list[dict[str, Any]],
    leaked: set[str],
) -> bool:
    """Whether `until` holds for an answered attempt, which goes into `attempts` (and its
    outside content into `leaked`)."""
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
            "body": excerpt(exchange),
            "until": "held" if held else [str(m) for m in found.mismatches],
        }
    )
    return held


def _never_held(
    context: RunContext,
    last: rawhttp.Exchange,
    last_error: rawhttp.RawHttpError | None,
    timeout: float,
    elapsed: float,
    count: int,
) -> Mismatch:
    """The mismatch of a poll whose `until` never held: what stopped it, the last answer."""
    why = (
        f"the time-out ({timeout:g} s)"
        if count < MAX_POLL_ATTEMPTS
        else (f"MAX_POLL_ATTEMPTS ({MAX_POLL_ATTEMPTS})")
    )
    tail = f"; the last attempt failed: {last_error}" if last_error else ""
    return Mismatch(
        "poll",
        f"`until` to hold within {timeout:g} s",
        f"it did not after {count} attempts in {elapsed:.1f} s (stopped by {why}); "
        f"last answer: {last.status} {last.reason}: "
        + context.evidence.redactor.redact(f"{excerpt(last)}{tail}"),
    )
