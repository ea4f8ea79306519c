"""The review page's verdict and case sections, as HTML strings; every value passes
`esc()`. The run's other facts (load, live, files) are in `review_facts.py`.

Built from a `review.Review`; nothing here reads files. No pytest import here.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from pytest_codex.review.page import CaseView, Review

OUTCOME_ORDER = ("failed", "error", "skipped", "passed")
MAX_BODY_CHARS = 6000  # characters of one body shown; the evidence file holds the rest
MAX_PAYLOADS_SHOWN = 40  # payloads listed per traversal family


def esc(value: object) -> str:
    """Text as HTML, quotes included; None is shown as an empty string."""
    return "" if value is None else html.escape(str(value), quote=True)


def href(relative: str) -> str:
    """A link to a file of the bundle, relative to the page."""
    return esc(quote(relative, safe="/._-"))


def inline(value: object) -> str:
    """A value on one line: strings as they are, anything else as compact JSON."""
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v) for v in value) or "none"
    if isinstance(value, Mapping) and all(
        isinstance(v, str | int | float) for v in value.values()
    ):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "none"
    return json.dumps(value, ensure_ascii=False, default=str)


def clip(text: str) -> str:
    if len(text) <= MAX_BODY_CHARS:
        return text
    return text[:MAX_BODY_CHARS] + f"\n... ({len(text)} characters; the evidence file holds all)"


def title(manifest: Mapping[str, Any]) -> str:
    return f"pytest-codex {manifest.get('mode', '?')} run {manifest.get('timestamp', '')}"


def verdict(manifest: Mapping[str, Any]) -> tuple[str, str]:
    """(kind, headline): kind is passed, failed or other (interrupted, no cases...)."""
    totals = manifest.get("totals") or {}
    counts = {name: int(totals.get(name, 0) or 0) for name in OUTCOME_ORDER}
    session = manifest.get("session") if isinstance(manifest.get("session"), Mapping) else None
    end = str(session.get("end") or "") if session else ""
    ran = sum(counts.values())
    if end and end != "completed":
        reason = session.get("reason") if session else None
        kind, word = "other", end.upper().replace("_", " ") + (f" ({reason})" if reason else "")
    elif counts["failed"] or counts["error"]:
        kind, word = "failed", "FAILED"
    elif ran == 0:
        kind, word = "other", "NO CASES RAN"
    else:
        kind, word = "passed", "PASSED"
    line = (
        f"{word}: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['error']} errors, {counts['skipped']} skipped"
    )
    if session and session.get("selected") is not None:
        line += f" ({session.get('run', ran)} run of {session['selected']} selected)"
    if session and session.get("target_outages"):  # as the summary's verdict line says
        line += f"; {session['target_outages']}"
    return kind, line


def header(review: Review) -> str:
    manifest = review.manifest
    kind, line = verdict(manifest)
    session = manifest.get("session") if isinstance(manifest.get("session"), Mapping) else {}
    signature = (
        "signed (attestation.dsse.json beside this page), not verified here: run "
        "<code>codex-evidence verify</code> on this folder"
        if review.signed
        else "not signed"
    )
    end = esc(session.get("end")) if session else "not recorded (format 1 manifest)"
    return (
        f'<h1>{esc(title(manifest))}</h1>\n<div class="verdict {kind}" id="verdict">'
        f'<div class="big">{esc(line)}</div>'
        f"<div>session end: <b>{end}</b>"
        + (f" ({esc(session.get('reason'))})" if session and session.get("reason") else "")
        + f" &middot; signature: {signature}</div>"
        f'<div class="muted">run {esc(manifest.get("run_id"))} &middot; written '
        f"{esc(manifest.get('created_at'))} &middot; manifest format "
        f"{esc(manifest.get('format', 1))} &middot; "
        '<a href="SUMMARY.md">SUMMARY.md</a> &middot; <a href="manifest.json">manifest.json</a>'
        "</div></div>"
    )


def pairs(value: object, unit: str = "") -> str:
    """A two-column table of a mapping; nested values inline."""
    if not isinstance(value, Mapping) or not value:
        return '<p class="muted">n/a</p>'
    rows = "".join(
        f"<tr><th>{esc(key)}</th><td>{esc(inline(item))}{esc(unit)}</td></tr>"
        for key, item in value.items()
    )
    return f"<table>{rows}</table>"


def overview(manifest: Mapping[str, Any]) -> str:
    session = manifest.get("session")
    blocks = [
        ("Versions", pairs(manifest.get("versions"))),
        ("Target", pairs(manifest.get("target"))),
        ("Timings", pairs(manifest.get("timings_s"), " s")),
    ]
    if isinstance(session, Mapping):
        blocks.append(("Session", pairs(session)))
    inner = "".join(f"<div><h3>{name}</h3>{table}</div>" for name, table in blocks)
    return f'<h2 id="run">Run</h2><div class="grid">{inner}</div>'


MISMATCH = re.compile(r"^(?P<what>.*?): expected (?P<expected>.*), got (?P<actual>.*)$", re.S)


def split_mismatch(text: str) -> tuple[str, str, str]:
    """`what: expected X, got Y` as (what, X, Y); other text as (text, '', '')."""
    match = MISMATCH.match(text)
    if match is None:
        return text, "", ""
    return match["what"], match["expected"], match["actual"]


def mismatch_table(mismatches: Iterable[object]) -> str:
    rows = []
    for item in mismatches:
        what, expected, actual = split_mismatch(str(item))
        rows.append(
            f"<tr><td>{esc(what)}</td><td class='expected mono'>{esc(expected)}</td>"
            f"<td class='actual mono'>{esc(actual)}</td></tr>"
        )
    if not rows:
        return ""
    return (
        '<table class="diff"><tr><th>check</th><th>expected</th><th>actual</th></tr>'
        + "".join(rows)
        + "</table>"
    )


def failures(cases: Sequence[CaseView]) -> str:
    failing = [case for case in cases if case.outcome in ("failed", "error")]
    if not failing:
        return '<h2 id="failures">Failures</h2><p>None.</p>'
    items = []
    for case in failing:
        evidence = case.evidence or {}
        request = evidence.get("request") if isinstance(evidence.get("request"), Mapping) else {}
        line = request.get("line") if request else None
        mismatches = evidence.get("mismatches") or []
        items.append(
            f'<div class="failure"><h3><span class="badge {esc(case.outcome)}">'
            f'{esc(case.outcome)}</span> <a href="#{case.anchor}">'
            f"{esc(case.matrix)}::{esc(case.row.get('name'))}</a></h3>"
            + (f"<div class='mono'>{esc(line)}</div>" if line else "")
            + mismatch_table(mismatches if isinstance(mismatches, list) else [mismatches])
            + (f"<pre>{esc(case.row.get('message'))}</pre>" if case.row.get("message") else "")
            + "</div>"
        )
    return f'<h2 id="failures">Failures ({len(failing)})</h2>' + "".join(items)


def _options(name: str, values: Iterable[str], first: Sequence[tuple[str, str]]) -> str:
    options = "".join(f'<option value="{esc(v)}">{esc(label)}</option>' for v, label in first)
    options += "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in values)
    return f'<select id="filter-{name}">{options}</select>'


def cases(review: Review) -> str:
    cases = sorted(review.cases, key=lambda c: (c.outcome not in ("failed", "error"), c.index))
    matrices = sorted({case.matrix for case in cases})
    families = sorted({case.family for case in cases if case.family})
    counts = Counter(case.outcome for case in cases)
    outcome_choices = [("all", "all outcomes"), ("failures", "failures (failed + error)")]
    outcome_choices += [(o, f"{o} ({counts[o]})") for o in OUTCOME_ORDER if counts[o]]
    filters = (
        '<div class="filters">'
        f"<label>outcome {_options('outcome', [], outcome_choices)}</label>"
        f"<label>matrix {_options('matrix', matrices, [('all', 'all files')])}</label>"
        f"<label>family {_options('family', families, [('all', 'all families')])}</label>"
        '<label>search <input id="filter-search" type="search" size="30" '
        'placeholder="name, payload, status, body..."></label>'
        f'<span id="filter-count" class="muted">{len(cases)} cases</span></div>'
    )
    more = (
        f'<p class="muted">{review.hidden_cases} more cases are in manifest.json only.</p>'
        if review.hidden_cases
        else ""
    )
    return (
        f'<h2 id="cases">Cases ({len(cases)})</h2>{filters}<div id="case-list">'
        + "".join(case_block(case) for case in cases)
        + f"</div>{more}"
    )


def _headers(headers: object) -> str:
    if not isinstance(headers, list):
        return esc(inline(headers))
    lines = []
    for pair in headers:
        if isinstance(pair, list | tuple) and len(pair) == 2:
            lines.append(f"{pair[0]}: {pair[1]}")
        else:
            lines.append(inline(pair))
    return esc("\n".join(lines))


def _body_text(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def case_block(case: CaseView) -> str:
    row, evidence = case.row, case.evidence or {}
    request = evidence.get("request") if isinstance(evidence.get("request"), Mapping) else None
    response = evidence.get("response") if isinstance(evidence.get("response"), Mapping) else None
    parts = []
    if case.note:
        parts.append(f'<p class="muted">{esc(case.note)}</p>')
    if request is not None:
        parts.append(
            "<h3>Request</h3>"
            f'<pre class="request-line">{esc(request.get("line"))}</pre>'
            f"<pre>{_headers(request.get('headers'))}</pre>"
            + (
                f"<pre>{esc(clip(_body_text(request['body'])))}</pre>"
                if request.get("body")
                else ""
            )
        )
    if response is not None:
        parts.append(
            f"<h3>Response: {esc(response.get('status'))} {esc(response.get('reason'))}"
            f" <span class='muted'>({esc(response.get('elapsed_ms'))} ms)</span></h3>"
            f"<pre>{_headers(response.get('headers'))}</pre>"
            f'<pre class="response-body">{esc(clip(_body_text(response.get("body"))))}</pre>'
        )
    if evidence.get("error"):
        parts.append(f"<h3>Error</h3><pre>{esc(evidence['error'])}</pre>")
    if evidence.get("expect") is not None:
        parts.append(f"<h3>Expected</h3><pre>{esc(_body_text(evidence['expect']))}</pre>")
    if isinstance(evidence.get("mismatches"), list) and evidence["mismatches"]:
        parts.append("<h3>Mismatches</h3>" + mismatch_table(evidence["mismatches"]))
    if evidence.get("saved"):
        parts.append(f"<h3>Saved values</h3>{pairs(evidence['saved'])}")
    if evidence.get("notes"):
        notes = evidence["notes"] if isinstance(evidence["notes"], list) else [evidence["notes"]]
        parts.append("<h3>Notes</h3><ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    if request is None and response is None and evidence and not evidence.get("error"):
        parts.append(f"<pre>{esc(clip(_body_text(dict(evidence))))}</pre>")
    if row.get("message") and case.outcome in ("failed", "error"):
        parts.append(f"<h3>Failure text</h3><pre>{esc(row['message'])}</pre>")
    link = row.get("evidence")
    if isinstance(link, str):
        parts.append(f'<p><a href="{href(link)}">{esc(link)}</a></p>')
    status = row.get("status")
    elapsed = row.get("elapsed_ms")
    return (
        f'<details class="case" id="{case.anchor}" data-outcome="{esc(case.outcome)}" '
        f'data-matrix="{esc(case.matrix)}" data-family="{esc(case.family)}">'
        f'<summary><span class="badge {esc(case.outcome)}">{esc(case.outcome)}</span>'
        f'<span class="name">{esc(row.get("name"))}</span>'
        f'<span class="where">{esc(case.matrix)}'
        + (f" &middot; {esc(case.family)}" if case.family else "")
        + f'</span><span class="right">{esc(status if status is not None else "-")}'
        f" &middot; {esc(elapsed)} ms</span></summary>"
        f'<div class="body">{"".join(parts)}</div></details>'
    )


def families(cases: Sequence[CaseView]) -> str:
    by_family: dict[str, list[CaseView]] = {}
    for case in cases:
        if case.family:
            by_family.setdefault(case.family, []).append(case)
    if not by_family:
        return ""
    rows = []
    for family, members in sorted(by_family.items()):
        statuses = Counter(str(c.row.get("status") or "-") for c in members)
        leaks = [
            c
            for c in members
            if any("outside content" in str(m) for m in (c.evidence or {}).get("mismatches") or [])
        ]
        payloads = [
            str(((c.evidence or {}).get("request") or {}).get("line") or c.row.get("name"))
            for c in members
        ]
        shown = payloads[:MAX_PAYLOADS_SHOWN]
        extra = len(payloads) - len(shown)
        failed = sum(c.outcome in ("failed", "error") for c in members)
        rows.append(
            f'<tr><th><a href="#cases" data-family-filter="{esc(family)}">{esc(family)}</a></th>'
            f"<td class='num'>{len(members)}</td>"
            f"<td class='num'>{failed}</td>"
            f"<td>{esc(', '.join(f'{s}: {n}' for s, n in sorted(statuses.items())))}</td>"
            f"<td class='num'>{len(leaks)}</td><td><details><summary>{len(payloads)} "
            f"payloads</summary><pre>{esc(chr(10).join(shown))}"
            + (f"\n... and {extra} more" if extra else "")
            + "</pre></details></td></tr>"
        )
    return (
        '<h2 id="traversal">Traversal families</h2><table><tr><th>family</th>'
        "<th class='num'>cases</th><th class='num'>failed</th><th>statuses</th>"
        "<th class='num'>leaks</th><th>payloads (raw request lines)</th></tr>"
        + "".join(rows)
        + "</table>"
    )
