"""The checks behind `codex-evidence verify`: a bundle's integrity and its run's verdict.

`verify_bundle(bundle, redactor, accept=..., public_key=...)` returns a `Report`: the
integrity problems (files, hashes, cross-checks of the manifest, its cases' evidence and
SUMMARY.md, result.json schemas, secrets, the signature) and the verdict's refusals
(failed cases, partial, empty or broken runs: `verdict.judge`, the one verdict) unless
the `Acceptance` accepts them. Every
problem is one line. No pytest import here.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from pytest_codex.bundle import reader, signing
from pytest_codex.bundle.reader import bundle_files
from pytest_codex.bundle.record import ENDS, OUTCOMES
from pytest_codex.bundle.writer import (
    MANIFEST,
    SUMMARY,
    scan_bundle,
    sha256_file,
)
from pytest_codex.review.result_schema import read_json, result_checker
from pytest_codex.review.verdict import Acceptance, Verdict, did_not_finish, judge
from pytest_codex.secrets.patterns import scan_patterns
from pytest_codex.secrets.redact import Redactor

NOTHING_MORE = Acceptance()  # a complete, all-passed run only
__all__ = ["Acceptance", "Report", "Verdict", "verify_bundle"]

ATTESTATION = signing.ATTESTATION
# Bounds on what verify reads into memory (files are hashed in blocks, whatever their size).
MAX_SUMMARY_BYTES = 16 * 1024 * 1024
MAX_HASH_BYTES = 1024**3  # a larger bundle file is refused, not hashed (a sparse 10 GB)
MAX_NAMES_SHOWN = 10  # failed cases named on a verdict line
TOTALS_LINE = re.compile(
    r"(\d+) cases: (\d+) passed, (\d+) failed,\s+(\d+) errors?, (\d+) skipped", re.ASCII
)
VERDICT_WORDS = frozenset({"PASSED", "FAILED", "PARTIAL", "NO CASES RAN"})
FIRST_LINE = re.compile(r"# pytest-codex \S+ run: ([A-Z][A-Z_ ]*[A-Z])\b(.*)", re.ASCII)
# `# pytest-codex mocked run: COMPLETED, 284 passed, 2 failed, 0 error, 0 skipped
# (286 run of 288 selected, 2 of 290 deselected)`; each part is checked when present.
FIRST_LINE_COUNTS = re.compile(
    r"(\d+) passed, (\d+) failed(?:, (\d+) errors?, (\d+) skipped)?", re.ASCII
)
FIRST_LINE_RUN = re.compile(r"(\d+) run of (\d+) selected", re.ASCII)
FIRST_LINE_SELECTED = re.compile(r"\((\d+) of (\d+) selected\)", re.ASCII)
FIRST_LINE_DESELECTED = re.compile(r"(\d+) of (\d+) deselected", re.ASCII)


@dataclass
class Report:
    """One bundle's checks: integrity problems, the verdict's refusals, what was accepted."""

    folder: Path
    problems: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    totals: str | None = None
    verdict: Verdict | None = None  # None when the manifest cannot be read
    signature: str = "unsigned"
    files: int = 0
    results: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems and not self.refusals

    def judge(self, verdict: Verdict, accept: Acceptance) -> None:
        self.verdict = verdict
        if not accept.integrity_only:
            self.refusals += verdict.refusals
            self.accepted += verdict.accepted


def verify_bundle(
    bundle: Path,
    redactor: Redactor,
    *,
    accept: Acceptance = NOTHING_MORE,
    public_key: Ed25519PublicKey | None = None,
) -> Report:
    """Check one mode folder; see the module docstring for what is checked."""
    report = Report(bundle)
    others: list[str] = []
    try:
        files = bundle_files(bundle, others=others)
    except (OSError, ValueError) as error:
        report.problems.append(f"{bundle}: cannot walk the bundle ({error})")
        return report
    report.files = len(files)
    report.problems += [_odd_entry(bundle, relative) for relative in sorted(others)]
    if MANIFEST not in files:  # the run was killed before it closed the bundle
        report.judge(
            did_not_finish(f"no {MANIFEST} in {bundle.name}/; the run never closed it"), accept
        )
        return report
    manifest = _load_manifest(bundle, report)
    if manifest is not None:
        verdict = judge(manifest, accept)
        report.problems += _file_problems(bundle, files, manifest)
        report.problems += _case_problems(bundle, files, manifest)
        report.problems += _summary_problems(bundle, files, manifest, verdict)
        report.problems += _session_problems(manifest, report)
        report.totals = _totals_line(manifest)
        report.judge(verdict, accept)
    report.problems += _result_problems(bundle, files, manifest, report)
    report.problems += [f"secret found: {hit}" for hit in scan_bundle(bundle, redactor)]
    report.problems += [f"secret pattern found: {hit}" for hit in scan_patterns(bundle)]
    signed = ATTESTATION in files
    if public_key is not None:
        valid, problems = signing.verify_attestation(bundle, public_key)
        report.problems += problems
        key = signing.key_id(public_key)[:16]
        if not signed:
            report.signature = "unsigned, but --key was given"
        elif not valid:
            report.signature = f"NOT valid for key {key}…"
        elif problems:
            report.signature = f"signed by key {key}…, but the bundle changed since"
        else:
            report.signature = f"good, by key {key}…"
    else:
        report.signature = "present, NOT checked (give --key)" if signed else "unsigned"
    return report


def _odd_entry(bundle: Path, relative: str) -> str:
    try:
        mode = os.lstat(bundle / relative).st_mode
    except OSError:
        mode = 0
    kind = "a symbolic link" if stat.S_ISLNK(mode) else "a special file (fifo, socket, device)"
    return f"{relative}: {kind}; a bundle holds regular files only"


def _load_manifest(bundle: Path, report: Report) -> dict[str, Any] | None:
    try:
        manifest = signing.read_manifest(bundle)
    except signing.SigningError as error:
        report.problems.append(str(error))
        return None
    shape = _shape_problems(manifest)
    if shape:
        report.problems += [f"{MANIFEST}: {line}; not a bundle manifest" for line in shape]
        return None
    return manifest


def _shape_problems(manifest: dict[str, Any]) -> list[str]:
    """What a manifest must hold for the cross-checks to be meaningful."""
    problems = []
    files, cases, totals = manifest.get("files"), manifest.get("cases"), manifest.get("totals")
    if not isinstance(files, list) or not all(
        isinstance(e, dict)
        and isinstance(e.get("path"), str)
        and isinstance(e.get("sha256"), str)
        and isinstance(e.get("size"), int)
        for e in files
    ):
        problems.append("files: not a list of {path, sha256, size}")
    if not isinstance(cases, list) or not all(
        isinstance(c, dict)
        and isinstance(c.get("name"), str)
        and isinstance(c.get("file"), str)
        and c.get("outcome") in OUTCOMES
        and (c.get("evidence") is None or isinstance(c.get("evidence"), str))
        for c in cases
    ):
        problems.append(f"cases: not a list of {{name, file, outcome in {OUTCOMES}, evidence}}")
    if not isinstance(totals, dict) or not all(isinstance(totals.get(o), int) for o in OUTCOMES):
        problems.append(f"totals: not a count for each of {OUTCOMES}")
    form = manifest.get("format", 1)
    if form not in (1, 2, 3):
        problems.append(f"format: {form!r}, expected 1, 2 or 3")
    session = manifest.get("session")
    if session is not None:  # without one (format 1), the run counts as partial
        counts = ("collected", "selected", "deselected", "run")
        if not isinstance(session, dict):
            problems.append("session: not an object")
        elif session.get("end") not in ENDS:
            problems.append(f"session.end: {session.get('end')!r}, expected one of {ENDS}")
        elif not all(isinstance(session.get(n), int) and session[n] >= 0 for n in counts):
            problems.append(f"session: {', '.join(counts)} must be counts")
    return problems


def _file_problems(bundle: Path, files: list[str], manifest: dict[str, Any]) -> list[str]:
    problems = []
    listed = {entry["path"]: entry for entry in manifest["files"]}
    present = set(files) - {MANIFEST, ATTESTATION}
    for relative in sorted(set(listed) - present):
        problems.append(f"{relative}: listed in the manifest but missing")
    for relative in sorted(present - set(listed)):
        problems.append(f"{relative}: not in the manifest (added after the run?)")
    for relative in sorted(present & set(listed)):
        entry = listed[relative]
        size = (bundle / relative).lstat().st_size
        if size != entry["size"]:  # no need to hash what differs already
            problems.append(f"{relative}: size {size}, the manifest says {entry['size']}")
            continue
        if size > MAX_HASH_BYTES:
            problems.append(f"{relative}: {size} bytes, over {MAX_HASH_BYTES}; not hashed")
            continue
        digest = sha256_file(bundle / relative)
        if digest != entry["sha256"]:
            problems.append(
                f"{relative}: sha256 {digest[:12]}…, the manifest says {entry['sha256'][:12]}…"
            )
    return problems


def _counts(cases: list[dict[str, Any]]) -> dict[str, int]:
    return {name: sum(c["outcome"] == name for c in cases) for name in OUTCOMES}


def _case_problems(bundle: Path, files: list[str], manifest: dict[str, Any]) -> list[str]:
    """Totals against cases; each case's evidence file present and of the same outcome."""
    problems = []
    cases: list[dict[str, Any]] = manifest["cases"]
    totals = {name: manifest["totals"][name] for name in OUTCOMES}
    # Totals count every case; those of a format-2 manifest may leave prerequisites out.
    selected = [c for c in cases if c.get("role") != "prerequisite"]
    if totals not in (_counts(cases), _counts(selected)):
        problems.append(
            f"{MANIFEST}: totals {_pairs(totals)} contradict its cases ({_pairs(_counts(cases))})"
        )
    present = set(files)
    for case in cases:
        label, evidence = f"{case['file']}::{case['name']}", case.get("evidence")
        if evidence is None:
            continue
        if evidence not in present:
            problems.append(f"case {label}: its evidence {evidence} is missing from the bundle")
            continue
        document, error = read_json(bundle, evidence)
        recorded: object = None
        if isinstance(document, dict):
            recorded = document.get("outcome")
            if recorded is None and isinstance(document.get("passed"), bool):
                recorded = "passed" if document["passed"] else "failed"  # a load run's figures
        if error is not None:
            problems.append(f"case {label}: its evidence {evidence} is {error}")
        elif recorded is None and case["outcome"] == "passed":
            problems.append(f"case {label}: passed, but {evidence} records no outcome")
        elif recorded is not None and recorded != case["outcome"]:
            problems.append(
                f"case {label}: {case['outcome']} in the manifest, {recorded} in {evidence}"
            )
    return problems


def _summary_problems(
    bundle: Path, files: list[str], manifest: dict[str, Any], verdict: Verdict
) -> list[str]:
    if SUMMARY not in files:
        return [f"{SUMMARY}: missing; a finalized bundle has one"]
    try:
        text = reader.read_bytes(bundle, SUMMARY, MAX_SUMMARY_BYTES).decode("utf-8", "replace")
    except reader.BundleReadError as error:
        return [str(error)]
    totals, count = manifest["totals"], len(manifest["cases"])
    found = TOTALS_LINE.search(text)
    if found is None:
        return [f"{SUMMARY}: no totals line ('N cases: N passed, N failed, N errors, …')"]
    said = [int(group) for group in found.groups()]
    counts = [totals[name] for name in OUTCOMES]
    selected = sum(c.get("role") != "prerequisite" for c in manifest["cases"])
    problems = []
    if said not in ([count, *counts], [selected, *counts]):
        problems.append(
            f"{SUMMARY}: says '{' '.join(found.group(0).split())}', the manifest has "
            f"{count} cases: {_pairs(totals)}"
        )
    first = FIRST_LINE.match(text.split("\n", 1)[0])
    session = manifest.get("session")
    if first is not None and isinstance(session, dict):
        word = first.group(1)
        end = word.lower().replace(" ", "_")
        if end in ENDS and end != session["end"]:  # a word it does not know: not checked
            problems.append(
                f"{SUMMARY}: its first line says {word}, "
                f"the manifest's session ended {session['end']}"
            )
        elif word in VERDICT_WORDS and word != verdict.word:
            problems.append(
                f"{SUMMARY}: its first line says {word}, the verdict on the manifest is "
                f"{verdict.word}"
            )
        problems += _first_line_problems(first.group(2), session, counts)
    return problems


def _first_line_problems(rest: str, session: dict[str, Any], counts: list[int]) -> list[str]:
    """The numbers SUMMARY.md's first line states, against the manifest's."""
    collected, selected, run = session["collected"], session["selected"], session["run"]
    checks = [
        (FIRST_LINE_COUNTS, counts, _pairs(dict(zip(OUTCOMES, counts, strict=True)))),
        (FIRST_LINE_RUN, [run, selected], f"{run} run of {selected} selected"),
        (FIRST_LINE_SELECTED, [selected, collected], f"{selected} of {collected} selected"),
        (
            FIRST_LINE_DESELECTED,
            [collected - selected, collected],
            f"{collected - selected} of {collected} deselected",
        ),
    ]
    problems = []
    for pattern, numbers, manifest_says in checks:
        found = pattern.search(rest)
        if found is None:
            continue
        said = [int(group) for group in found.groups() if group is not None]
        if said != numbers[: len(said)]:
            problems.append(
                f"{SUMMARY}: its first line says '{found.group(0)}', the manifest {manifest_says}"
            )
    return problems


def _session_problems(manifest: dict[str, Any], report: Report) -> list[str]:
    session = manifest.get("session")
    if not isinstance(session, dict):
        report.warnings.append(f"format {manifest.get('format', 1)}: no session record")
        return []
    collected, selected = session["collected"], session["selected"]
    deselected, run = session["deselected"], session["run"]
    problems = []
    if selected + deselected != collected:
        problems.append(
            f"{MANIFEST}: session: {selected} selected and {deselected} deselected "
            f"do not make the {collected} collected"
        )
    if run > selected:
        problems.append(f"{MANIFEST}: session: {run} run, more than the {selected} selected")
    ran = sum(c.get("role") != "prerequisite" for c in manifest["cases"])
    if ran != run:
        report.warnings.append(f"the session ran {run} tests; the manifest records {ran} cases")
    return problems


def _totals_line(manifest: dict[str, Any]) -> str:
    totals, count = manifest["totals"], len(manifest["cases"])
    line = f"{count} cases: " + ", ".join(f"{totals[name]} {name}" for name in OUTCOMES)
    session = manifest.get("session")
    if not isinstance(session, dict):
        return f"{line}; session not recorded (format {manifest.get('format', 1)})"
    reason = f" ({session['reason']})" if session.get("reason") else ""
    return (
        f"{line}; session {session['end']}{reason}; "
        f"selected {session['selected']} of {session['collected']}"
    )


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts[name]} {name}" for name in OUTCOMES)


def _result_problems(
    bundle: Path, files: list[str], manifest: dict[str, Any] | None, report: Report
) -> list[str]:
    """Every result.json against the bundle's result schema, else the shipped one."""
    results = [p for p in files if p.rsplit("/", 1)[-1] == "result.json"]
    report.results = len(results)
    check, problems = result_checker(bundle, files, manifest)
    for relative in results:
        document, error = read_json(bundle, relative)
        if error is not None:
            problems.append(f"{relative}: {error}")
        elif check is not None:
            problems += [f"{relative}: {line}" for line in check(document)]
    return problems
