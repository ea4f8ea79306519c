"""A target that stops answering mid-run (an orchestrator restart): the request that met
the outage waits, bounded by `--codex-outage-wait`, until the target answers again on its
health path; then an idempotent request (or one that never reached the target) is sent
again, and a non-idempotent one that was in flight is not: its effect is unknown, so its
case fails saying so. Every outage is kept in an `OutageLog` for the bundle (how long the
target was down, which request met it, what was done). No pytest import here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pytest_codex.bundle.record import OutageLog
from pytest_codex.cases import rawhttp

# RFC 9110 9.2.2: a second identical request has the effect of one.
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
WAIT_STEP = 0.25  # seconds between checks whether the target answers again
PROBE_TIMEOUT = 2.0  # seconds one check may take
MAX_OUTAGES_PER_REQUEST = 3  # a request meets at most this many outages before it fails


def answers(base_url: str, health_path: str) -> bool:
    """Whether the target gives any HTTP answer on its health path now."""
    try:
        rawhttp.send(base_url, "GET", health_path, timeout=PROBE_TIMEOUT, deadline=PROBE_TIMEOUT)
    except rawhttp.RawHttpError:
        return False
    return True


def wait_for_answer(base_url: str, health_path: str, wait_s: float) -> float | None:
    """Seconds until the target answered again, or None when `wait_s` passed first."""
    started = time.monotonic()
    while True:  # bounded: by wait_s (each check by PROBE_TIMEOUT)
        if answers(base_url, health_path):
            return time.monotonic() - started
        if time.monotonic() - started + WAIT_STEP > wait_s:
            return None
        time.sleep(WAIT_STEP)


@dataclass(frozen=True)
class Target:
    """Where to check that the target answers again, and how long to wait for it."""

    base_url: str
    health_path: str
    wait_s: float
    log: OutageLog


def send_through_outages(
    send: Callable[[], rawhttp.Exchange], target: Target, method: str, path: str, label: str
) -> rawhttp.Exchange:
    """`send()`, waiting through outages of the target; RawHttpError as `send` raises it
    when the error is not an outage or no wait is set, else saying what the outage was."""
    for _ in range(MAX_OUTAGES_PER_REQUEST):
        try:
            return send()
        except rawhttp.RawHttpError as error:
            if not error.unreachable or target.wait_s <= 0:
                raise
            _wait_or_raise(error, target, method, f"{method} {path}", label)
    return send()  # the last try: a further outage fails the case


def _wait_or_raise(
    error: rawhttp.RawHttpError, target: Target, method: str, request: str, label: str
) -> None:
    """Wait for the target after `error`; return when the request may be sent again."""
    log = target.log
    if log.gone and not answers(target.base_url, target.health_path):
        raise rawhttp.RawHttpError(
            f"{error}; the target has not answered since an earlier outage outlasted "
            f"--codex-outage-wait ({target.wait_s:g} s); check its logs and restart it",
            unreachable=True,
            sent=error.sent,
        )
    started_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    down = wait_for_answer(target.base_url, target.health_path, target.wait_s)
    retry = down is not None and (not error.sent or method.upper() in IDEMPOTENT)
    log.add(
        {
            "case": label,
            "request": request,
            "started_at": started_at,
            "down_s": round(target.wait_s if down is None else down, 2),
            "came_back": down is not None,
            "in_flight": error.sent,
            "retried": retry,
        }
    )
    log.gone = down is None
    if down is None:
        raise rawhttp.RawHttpError(
            f"{error}; the target did not answer again within --codex-outage-wait "
            f"({target.wait_s:g} s); check its logs, or raise the wait",
            unreachable=True,
            sent=error.sent,
        )
    if not retry:
        raise rawhttp.RawHttpError(
            f"{error}; the target stopped answering while this {method} was in flight and "
            f"answered again after {down:.1f} s (a restart); {method} is not idempotent, so "
            "it is not sent again: its effect is unknown (re-run this case)",
            unreachable=True,
            sent=True,
        )
