"""`codex-evidence diff A B`: two bundles side by side (run vs run, mocked vs live).

Cases are matched by matrix file and name. For each, the outcome and the compared fields
(status, request line, response headers and body, mismatches) are set side by side after
the volatile parts are blanked by the rules of `review/volatile.py` (dates, ports, ids,
timings, tokens, Date/Server headers). Drift is what B ran differently: a matrix or
schema file whose sha256 differs (the manifest records them), one A ran and B did not,
cases A ran and B did not, a case whose expectations B weakened (a key dropped) or
changed. Exit 1 when an outcome got worse, a new case fails, a compared field changed,
or (unless `--allow-drift`) B drifted; 0 otherwise; 2 for a usage error. No pytest
import here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_codex.review import page as review
from pytest_codex.review.sections import esc, printable
from pytest_codex.review.volatile import VOLATILE_HEADERS, flatten

PROG = "codex-evidence"
FIELDS = ("status", "request", "headers", "body", "mismatches")
MAX_CHANGES_SHOWN = 12  # changed values listed per case
MAX_VALUE_CHARS = 160  # characters of one changed value shown
RANK = {"passed": 0, "skipped": 1, "failed": 2, "error": 2}


def _short(text: str | None) -> str:
    if text is None:
        return "(absent)"
    text = text.replace("\n", "\\n")
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"


def fields_of(row: Mapping[str, Any], evidence: Mapping[str, Any] | None) -> dict[str, object]:
    """The compared fields of one case, before blanking."""
    evidence = evidence or {}
    request = evidence.get("request") if isinstance(evidence.get("request"), Mapping) else {}
    response = evidence.get("response") if isinstance(evidence.get("response"), Mapping) else {}
    headers: dict[str, str] = {}
    raw_headers = response.get("headers") if response else None
    for pair in raw_headers if isinstance(raw_headers, list) else []:
        if (
            isinstance(pair, list)
            and len(pair) == 2
            and str(pair[0]).lower() not in (VOLATILE_HEADERS)
        ):
            headers[str(pair[0]).lower()] = str(pair[1])
    return {
        "status": row.get("status"),
        "request": request.get("line") if request else None,
        "headers": headers,
        "body": response.get("body") if response else None,
        "mismatches": evidence.get("mismatches") or [],
    }


@dataclass
class CaseDiff:
    """One case of either bundle: how it changed from A to B."""

    file: str
    name: str
    kind: str  # same | regressed | improved | changed | added | removed
    outcome_a: str | None
    outcome_b: str | None
    changes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.file}::{self.name}"


@dataclass
class DiffReport:
    """What `diff_bundles` found; `regressed` decides the exit code."""

    a: Path
    b: Path
    modes: tuple[str, str]
    totals: tuple[Mapping[str, int], Mapping[str, int]]
    cases: list[CaseDiff]
    fields: tuple[str, ...]
    # What B ran differently: matrices and schemas by hash, expectations (`drift_of`).
    drift: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(case.kind == kind for case in self.cases)

    @property
    def drifted(self) -> bool:
        """B ran other matrices or schemas, fewer cases, or weaker expectations."""
        return bool(self.drift) or self.count("removed") > 0

    @property
    def regressed(self) -> bool:
        return any(case.kind in ("regressed", "changed") for case in self.cases) or any(
            case.kind == "added" and RANK.get(case.outcome_b or "", 2) == 2 for case in self.cases
        )


def _cases(bundle: Path, manifest: Mapping[str, Any]) -> dict[tuple[str, str], review.CaseView]:
    rows = [row for row in manifest.get("cases") or [] if isinstance(row, Mapping)]
    found = {}
    for index, row in enumerate(rows[: review.MAX_CASES]):
        view = review.case_view(bundle, index, row)
        found[(str(row.get("file", "")), str(row.get("name", "")))] = view
    return found


def compare_case(
    a: review.CaseView, b: review.CaseView, fields: Sequence[str] = FIELDS
) -> list[str]:
    """`<field> <path>: <A> -> <B>` for every compared value that differs."""
    before, after = fields_of(a.row, a.evidence), fields_of(b.row, b.evidence)
    # An evidence file that cannot be read (a symlink, a FIFO, too large or too deep) is
    # a change: nothing of it can be compared.
    changes = [
        f"evidence {side}: {view.note}"
        for side, view in (("A", a), ("B", b))
        if view.note is not None and view.row.get("evidence") is not None
    ]
    for name in fields:
        left, right = flatten(before[name]), flatten(after[name])
        for path in sorted(set(left) | set(right)):
            if left.get(path) != right.get(path):
                where = "" if path == "$" else f" {path}"
                changes.append(
                    f"{name}{where}: {_short(left.get(path))} -> {_short(right.get(path))}"
                )
    return changes


def diff_bundles(a: Path, b: Path, fields: Sequence[str] = FIELDS) -> DiffReport:
    """Bundle A (before) against bundle B (after). Raises review.ReviewError for a folder
    that is not a bundle."""
    manifest_a, manifest_b = review.read_manifest(a), review.read_manifest(b)
    cases_a, cases_b = _cases(a, manifest_a), _cases(b, manifest_b)
    found = []
    drift = drift_of(manifest_a, manifest_b)
    for key, after in cases_b.items():
        before = cases_a.pop(key, None)
        if before is None:
            found.append(CaseDiff(*key, "added", None, after.outcome))
            continue
        rank_a, rank_b = RANK.get(before.outcome, 2), RANK.get(after.outcome, 2)
        changes = compare_case(before, after, fields)
        if rank_b > rank_a:
            kind = "regressed"
        elif rank_b < rank_a:
            kind = "improved"
        else:
            kind = "changed" if changes else "same"
        found.append(CaseDiff(*key, kind, before.outcome, after.outcome, changes))
        drift += _expectation_drift(CaseDiff(*key, kind, None, None).label, before, after)
    found += [CaseDiff(*key, "removed", view.outcome, None) for key, view in cases_a.items()]
    return DiffReport(
        a=a,
        b=b,
        modes=(str(manifest_a.get("mode", "?")), str(manifest_b.get("mode", "?"))),
        totals=(manifest_a.get("totals") or {}, manifest_b.get("totals") or {}),
        cases=found,
        fields=tuple(fields),
        drift=drift,
        notes=["matrices: not recorded by both runs (format 3 records them), not compared"]
        if "matrices" not in manifest_a or "matrices" not in manifest_b
        else [],
    )


def _hashes(manifest: Mapping[str, Any], key: str) -> dict[str, str]:
    """`{file: sha256}` of the manifest's `matrices` or `schemas` (format 3 records the
    matrices; older manifests none)."""
    entries = manifest.get(key)
    if not isinstance(entries, Mapping):
        return {}
    return {
        str(name): str(entry.get("source_sha256") or entry.get("sha256"))
        for name, entry in entries.items()
        if isinstance(entry, Mapping)
    }


def drift_of(manifest_a: Mapping[str, Any], manifest_b: Mapping[str, Any]) -> list[str]:
    """`matrix <file>: changed (sha256 …)`, `: not run by B`, `: new in B`, and the same
    for schemas: what B ran that A did not, by the hash of its bytes."""
    lines = []
    for key, noun in (("matrices", "matrix"), ("schemas", "schema")):
        before, after = _hashes(manifest_a, key), _hashes(manifest_b, key)
        for name in sorted(set(before) | set(after)):
            if name not in after:
                lines.append(f"{noun} {name}: not run by B")
            elif name not in before:
                lines.append(f"{noun} {name}: new in B")
            elif before[name] != after[name]:
                lines.append(
                    f"{noun} {name}: changed (sha256 {before[name][:12]}… -> {after[name][:12]}…)"
                )
    return lines


def _expectation_drift(label: str, a: review.CaseView, b: review.CaseView) -> list[str]:
    """A case whose expectations B checked less of (a key dropped: weakened) or checked
    otherwise (a value changed)."""
    expect_a = flatten((a.evidence or {}).get("expect") or {})
    expect_b = flatten((b.evidence or {}).get("expect") or {})
    dropped = sorted(set(expect_a) - set(expect_b))
    changed = sorted(p for p in set(expect_a) & set(expect_b) if expect_a[p] != expect_b[p])
    lines = []
    if dropped:
        lines.append(
            f"case {label}: expectations weakened, B no longer checks "
            + ", ".join(dropped[:MAX_CHANGES_SHOWN])
        )
    if changed:
        shown = ", ".join(
            f"{p} {_short(expect_a[p])} -> {_short(expect_b[p])}"
            for p in changed[:MAX_CHANGES_SHOWN]
        )
        lines.append(f"case {label}: expectations changed: {shown}")
    return lines


ORDER = ("regressed", "changed", "added", "removed", "improved", "same")


def _totals(totals: Mapping[str, int]) -> str:
    return ", ".join(f"{totals.get(k, 0)} {k}" for k in ("passed", "failed", "error", "skipped"))


def render_text(report: DiffReport) -> str:
    lines = [
        f"{PROG} diff: A {report.a} ({report.modes[0]}) vs B {report.b} ({report.modes[1]})",
        f"  A: {_totals(report.totals[0])}",
        f"  B: {_totals(report.totals[1])}",
        "  compared: outcome, " + ", ".join(report.fields) + " (volatile parts blanked)",
        "  " + ", ".join(f"{report.count(kind)} {kind}" for kind in ORDER),
    ]
    for kind in ORDER[:-1]:
        for case in (c for c in report.cases if c.kind == kind):
            lines.append(f"{kind.upper():9} {case.label}: {case.outcome_a} -> {case.outcome_b}")
            lines += [f"    {change}" for change in case.changes[:MAX_CHANGES_SHOWN]]
            if len(case.changes) > MAX_CHANGES_SHOWN:
                lines.append(f"    ... and {len(case.changes) - MAX_CHANGES_SHOWN} more")
    lines += [f"DRIFT     {line}" for line in report.drift]
    lines += [f"note: {line}" for line in report.notes]
    if report.count("removed"):
        lines.append(f"DRIFT     B ran {report.count('removed')} fewer cases than A (removed)")
    lines.append("REGRESSED" if report.regressed else "no regression")
    lines.append("DRIFTED" if report.drifted else "no drift")
    return "\n".join(printable(line, newlines=False) for line in lines) + "\n"


def render_html(report: DiffReport) -> str:
    """The diff as one self-contained page (no network), every value escaped."""
    rows = []
    for kind in ORDER:
        for case in (c for c in report.cases if c.kind == kind):
            shown = case.changes[:MAX_CHANGES_SHOWN]
            more = len(case.changes) - len(shown)
            changes = "\n".join(shown) + (f"\n... and {more} more" if more > 0 else "")
            rows.append(
                f'<tr class="{esc(kind)}"><td>{esc(kind)}</td><td>{esc(case.label)}</td>'
                f"<td>{esc(case.outcome_a or '-')}</td><td>{esc(case.outcome_b or '-')}</td>"
                f"<td><pre>{esc(changes)}</pre></td></tr>"
            )
    verdict = "REGRESSED" if report.regressed else "no regression"
    counts = ", ".join(f"{report.count(kind)} {kind}" for kind in ORDER)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\"><title>pytest-codex diff</title><style>"
        "body{font-family:system-ui,sans-serif;margin:1rem 2rem}"
        "table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:.2rem .5rem;"
        "vertical-align:top;text-align:left}pre{margin:0;white-space:pre-wrap;"
        "word-break:break-all;font-size:.8rem}tr.regressed,tr.changed{background:#ffebe9}"
        "tr.improved{background:#dafbe1}tr.added,tr.removed{background:#fff8c5}"
        f'</style></head><body><h1 id="verdict">{esc(verdict)}</h1>'
        f"<p>A: {esc(report.a)} ({esc(report.modes[0])}): {esc(_totals(report.totals[0]))}"
        f"<br>B: {esc(report.b)} ({esc(report.modes[1])}): {esc(_totals(report.totals[1]))}"
        f"<br>{esc(counts)}; compared: outcome, {esc(', '.join(report.fields))}</p>"
        "<table><tr><th>kind</th><th>case</th><th>A</th><th>B</th><th>changes</th></tr>"
        + "".join(rows)
        + "</table></body></html>\n"
    )


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `diff` to a `codex-evidence` parser; the handler is `args.handler(args)`."""
    parser = commands.add_parser(
        "diff", help="compare two bundles; exit 1 when an outcome or compared field regresses"
    )
    parser.add_argument("a", type=Path, help="the earlier bundle (…/<timestamp>/<mode>)")
    parser.add_argument("b", type=Path, help="the later bundle, or the live one")
    parser.add_argument(
        "--fields",
        default=",".join(FIELDS),
        help=f"comma-separated fields compared besides the outcome (default: {','.join(FIELDS)})",
    )
    parser.add_argument("--html", type=Path, metavar="OUT", help="also write the diff as HTML")
    parser.add_argument(
        "--allow-drift",
        action="store_true",
        help="exit 0 when B ran other matrices or schemas, fewer cases or other expectations "
        "(e.g. mocked vs live); regressions still exit 1",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    fields = tuple(name.strip() for name in str(args.fields).split(",") if name.strip())
    unknown = [name for name in fields if name not in FIELDS]
    if unknown:
        print(
            f"{PROG} diff: --fields: unknown {', '.join(unknown)}; choose from "
            f"{', '.join(FIELDS)}",
            file=sys.stderr,
        )
        return 2
    try:
        report = diff_bundles(args.a, args.b, fields)
    except review.ReviewError as error:
        print(f"{PROG} diff: {error}", file=sys.stderr)
        return 2
    sys.stdout.write(render_text(report))
    if args.html is not None:
        args.html.write_text(render_html(report), encoding="utf-8")
        print(f"html: {args.html}")
    return 1 if report.regressed or (report.drifted and not args.allow_drift) else 0
