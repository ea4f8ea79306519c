"""The review page: `index.html` of a bundle, one self-contained file (inline CSS and JS,
no network) that opens from `file://` and from a CI artifact.

`render_review()` turns a bundle folder and its manifest into the page; every piece of
case content is HTML-escaped on the way in (a response body may hold `<script>`), and
the filters and search are a few lines of inline JavaScript over server-rendered HTML.
The sections are built in `review_html.py` and `review_facts.py`. No pytest import here.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

import pytest_codex
from pytest_codex.bundle import reader
from pytest_codex.bundle.templates import read_template
from pytest_codex.review import facts as review_facts
from pytest_codex.review import sections as parts

INDEX = "index.html"
MANIFEST = "manifest.json"
SIGNATURE = "attestation.dsse.json"
MODEL_STUB_LOG = "model-stub/requests.jsonl"
MAX_CASES = 5000  # cases shown on the page; the rest are counted
MAX_CASE_FILE = 512 * 1024  # bytes read of one case's evidence file
MAX_STUB_LINES = 200  # lines of the model stand-in's request log shown
MAX_STUB_LOG_BYTES = 16 * 1024 * 1024  # bytes of that log read
FAILING = ("failed", "error")


@dataclass
class CaseView:
    """One case as the page shows it: the manifest row and its evidence file, if any."""

    index: int
    row: Mapping[str, Any]
    evidence: Mapping[str, Any] | None
    note: str | None = None  # why the evidence file is not shown, when it is not
    family: str = ""

    @property
    def outcome(self) -> str:
        return str(self.row.get("outcome", "unknown"))

    @property
    def matrix(self) -> str:
        return str(self.row.get("matrix") or self.row.get("file") or "")

    @property
    def anchor(self) -> str:
        return f"case-{self.index}"


@dataclass
class Review:
    """What the page is made of, gathered from the bundle folder."""

    bundle: Path
    manifest: Mapping[str, Any]
    cases: list[CaseView]
    hidden_cases: int
    signed: bool
    stub_requests: list[Mapping[str, Any]] = field(default_factory=list)
    stub_note: str | None = None
    files: list[tuple[str, int]] = field(default_factory=list)


def render_review(bundle: Path, manifest: Mapping[str, Any], *, signed: bool | None = None) -> str:
    """The page for `bundle`, described by `manifest` (format 1 or 2).

    `signed`: whether `attestation.dsse.json` accompanies the bundle; by default, whether
    it is there now (it is written after the page, so pass True when the run signs)."""
    review = gather(bundle, manifest, signed=signed)
    template = Template(read_template("review.html.tmpl"))
    return template.substitute(
        version=parts.esc(pytest_codex.__version__),
        title=parts.esc(parts.title(manifest)),
        body=review_facts.body(review),
    )


def write_review(
    bundle: Path,
    manifest: Mapping[str, Any] | None = None,
    *,
    signed: bool | None = None,
    redact: Callable[[bytes], bytes] | None = None,
) -> Path:
    """Write `<bundle>/index.html`; `manifest` defaults to the bundle's manifest.json.

    Inside `EvidenceBundle.finalize`, call it before hashing with the manifest as it will
    be written and `redact=bundle.redactor.redact_bytes`, so the page is hashed and clean."""
    if manifest is None:
        manifest = read_manifest(bundle)
    # A lone surrogate (JSON's "\\ud800" in a body) is written as its escape, not lost.
    data = render_review(bundle, manifest, signed=signed).encode("utf-8", "backslashreplace")
    target = bundle / INDEX
    target.write_bytes(redact(data) if redact is not None else data)
    return target


class ReviewError(Exception):
    """A bundle the page cannot be made from; the text says where and how to fix it."""


def read_manifest(bundle: Path) -> dict[str, Any]:
    """The bundle's manifest through the bounded reader (no symlink, no special file,
    a size and depth bound); ReviewError with one line otherwise."""
    if not bundle.is_dir():
        raise ReviewError(
            f"{bundle}: no such folder; give a bundle folder (docs/evidence/<timestamp>/<mode>)"
        )
    try:
        return reader.read_manifest(bundle, MANIFEST)
    except reader.BundleReadError as error:
        raise ReviewError(f"{bundle}/{error}") from None


def gather(bundle: Path, manifest: Mapping[str, Any], *, signed: bool | None = None) -> Review:
    rows = [row for row in manifest.get("cases") or [] if isinstance(row, Mapping)]
    views = [case_view(bundle, index, row) for index, row in enumerate(rows[:MAX_CASES])]
    stub, stub_note = _stub_requests(bundle)
    return Review(
        bundle=bundle,
        manifest=manifest,
        cases=views,
        hidden_cases=max(0, len(rows) - MAX_CASES),
        signed=(bundle / SIGNATURE).is_file() if signed is None else signed,
        stub_requests=stub,
        stub_note=stub_note,
        files=_files(bundle),
    )


def inside(bundle: Path, relative: object) -> Path | None:
    """`bundle/relative` when `relative` is a plain relative path, else None."""
    parts = reader.plain_parts(relative)
    return None if parts is None else bundle.joinpath(*parts)


def case_view(bundle: Path, index: int, row: Mapping[str, Any]) -> CaseView:
    relative = row.get("evidence")
    if relative is None:
        return CaseView(index, row, None, "no evidence file (the case did not send a request)")
    if inside(bundle, relative) is None:
        return CaseView(index, row, None, f"evidence path {relative!r} is not inside the bundle")
    try:
        document = reader.read_json(bundle, str(relative), MAX_CASE_FILE)
    except reader.BundleReadError as error:
        return CaseView(index, row, None, f"{error}; open it")
    if not isinstance(document, Mapping):
        document = {"document": document}
    family = document.get("family")
    return CaseView(index, row, document, None, family if isinstance(family, str) else "")


def _stub_requests(bundle: Path) -> tuple[list[Mapping[str, Any]], str | None]:
    if not (bundle / MODEL_STUB_LOG).exists():
        return [], None
    try:
        data = reader.read_bytes(bundle, MODEL_STUB_LOG, MAX_STUB_LOG_BYTES)
    except reader.BundleReadError as error:
        return [], str(error)
    entries: list[Mapping[str, Any]] = []
    total = 0
    for line in data.decode("utf-8", "replace").splitlines():
        if not line.strip():
            continue
        total += 1
        if len(entries) >= MAX_STUB_LINES:
            continue
        try:
            entry = reader.parse_json(line.encode("utf-8", "replace"), MODEL_STUB_LOG)
        except reader.BundleReadError:
            entry = {"line": line}
        entries.append(entry if isinstance(entry, Mapping) else {"line": line})
    note = None
    if total > len(entries):
        note = f"the first {len(entries)} of {total} requests; see {MODEL_STUB_LOG}"
    return entries, note


def _files(bundle: Path) -> list[tuple[str, int]]:
    found = []
    for relative in reader.bundle_files(bundle):
        with contextlib.suppress(OSError):  # gone in the meantime
            found.append((relative, (bundle / relative).lstat().st_size))
    return found


MAX_SUMMARY_FAILURES = 20  # failing cases detailed in the Markdown summary
MAX_SUMMARY_MESSAGE = 1500  # characters of one failure text in it


def _cell(text: object) -> str:
    """Text for a Markdown table cell: no pipes, no line breaks, no HTML."""
    value = parts.printable(text, newlines=False)
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _fenced(text: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}text\n{text}\n{fence}"


def summary_markdown(bundle: Path, manifest: Mapping[str, Any]) -> str:
    """The run's verdict, totals and failures as Markdown, e.g. for $GITHUB_STEP_SUMMARY."""
    _, headline = parts.verdict(manifest)
    totals = manifest.get("totals") or {}
    lines = [
        f"### pytest-codex {_cell(manifest.get('mode'))} run: {_cell(headline)}",
        "",
        "| passed | failed | error | skipped |",
        "|---:|---:|---:|---:|",
        "| "
        + " | ".join(_cell(totals.get(k, 0)) for k in ("passed", "failed", "error", "skipped"))
        + " |",
        "",
        f"Bundle `{bundle}`: open `index.html` in it (the review page).",
        "",
    ]
    views = gather(bundle, manifest).cases
    failing = [view for view in views if view.outcome in ("failed", "error")]
    # Evidence files the bounded reader refused (a symlink, a FIFO, too large or deep).
    unread = [v for v in views if v.note is not None and v.row.get("evidence") is not None]
    if unread:
        lines += [f"**{len(unread)} evidence file(s) not read:**", ""]
        lines += [f"- {_cell(view.note)}" for view in unread[:MAX_SUMMARY_FAILURES]]
        lines.append("")
    for view in failing[:MAX_SUMMARY_FAILURES]:
        lines.append(
            f"#### {_cell(view.outcome)}: {_cell(view.matrix)}::{_cell(view.row.get('name'))}"
        )
        mismatches = (view.evidence or {}).get("mismatches")
        if isinstance(mismatches, list) and mismatches:
            lines += ["", "| check | expected | actual |", "|---|---|---|"]
            for item in mismatches:
                what, expected, actual = parts.split_mismatch(str(item))
                lines.append(f"| {_cell(what)} | {_cell(expected)} | {_cell(actual)} |")
        message = str(view.row.get("message") or "")
        if message:
            if len(message) > MAX_SUMMARY_MESSAGE:
                message = message[:MAX_SUMMARY_MESSAGE] + "\n..."
            lines += ["", _fenced(parts.printable(message))]
        lines.append("")
    if len(failing) > MAX_SUMMARY_FAILURES:
        lines.append(f"... and {len(failing) - MAX_SUMMARY_FAILURES} more failures (index.html).")
    return "\n".join(lines).rstrip() + "\n"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `summary` to a `codex-evidence` parser; the handler is `args.handler(args)`."""
    parser = commands.add_parser(
        "summary", help="print a bundle's verdict, totals and failures (Markdown for CI)"
    )
    parser.add_argument("bundle", type=Path, help="docs/evidence/<timestamp>/<mode>")
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="Markdown (for $GITHUB_STEP_SUMMARY); without it, the verdict line only",
    )
    parser.set_defaults(handler=run_summary)


def run_summary(args: argparse.Namespace) -> int:
    """Exit 0 whatever the verdict: the summary reports, the test run decides."""
    try:
        manifest = read_manifest(args.bundle)
    except ReviewError as error:
        print(f"codex-evidence summary: {error}", file=sys.stderr)
        return 2
    if args.markdown:
        sys.stdout.write(summary_markdown(args.bundle, manifest))
    else:
        print(parts.printable(parts.verdict(manifest)[1], newlines=False))
    return 0
