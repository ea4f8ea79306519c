"""SUMMARY.md: the bundle's verdict, run facts, case table and failures in Markdown,
rendered from `evidence_templates/summary.md.tmpl` when the bundle is finalised.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

from pytest_codex.bundle.templates import read_template
from pytest_codex.review.verdict import Verdict

if TYPE_CHECKING:
    from pytest_codex.bundle.writer import EvidenceBundle


def render_summary(
    bundle: EvidenceBundle, metadata: Mapping[str, Any], created_at: str, verdict: Verdict
) -> str:
    """SUMMARY.md from `evidence_templates/summary.md.tmpl`; its first line is the
    verdict verify gives the manifest."""
    template = Template(read_template("summary.md.tmpl"))
    totals = bundle.totals()
    session = metadata.get("session")
    rows = [
        f"| {c['file']} | {c['name']}{_role(c)} | {c['outcome']} | {c['status'] or '-'} | "
        f"{c['elapsed_ms']:.1f} | {_link(c['evidence'])} |"
        for c in bundle.cases
    ]
    failures = [
        f"### {c['file']}::{c['name']} ({c['outcome']})\n\n```text\n{c['message']}\n```\n"
        for c in bundle.cases
        if c["outcome"] in ("failed", "error")
    ]
    return template.substitute(
        verdict=verdict.line(bundle.mode),
        session=_pairs(session),
        mode=bundle.mode,
        timestamp=bundle.timestamp,
        run_id=bundle.run_id,
        created_at=created_at,
        versions=_pairs(metadata.get("versions")),
        target=_pairs(metadata.get("target")),
        timings=_pairs(metadata.get("timings_s"), unit=" s"),
        extra=_extra(metadata),
        total=len(bundle.cases),
        passed=totals["passed"],
        failed=totals["failed"],
        error=totals["error"],
        skipped=totals["skipped"],
        cases="\n".join(rows) or "| - | no cases ran | - | - | - | - |",
        failures="\n".join(failures) or "None.\n",
        files=_files(bundle.path),
    )


# What SUMMARY.md says a bundle holds: each line only when its first path is there (a
# base-URL run has no logs/service.log; a run without workspaces no workspaces/).
FILE_LINES = (
    (
        "cases",
        "`cases/<matrix>/<case>.case.json`: each request as sent (raw request line) "
        "and its response",
    ),
    (
        "traversal/request-lines.txt",
        "`traversal/request-lines.txt`: the raw request line of every traversal payload",
    ),
    (
        "workspaces",
        "`workspaces/<project>.json`, `results/<project>/result.json`: the workspaces on disk",
    ),
    ("logs/service.log", "`logs/service.log`: the orchestrator's logs"),
)


def _files(bundle: Path) -> str:
    lines = [f"- {text}" for path, text in FILE_LINES if (bundle / path).exists()]
    lines.append(
        "- `manifest.json`: every file with its sha256 and size, and the per-case outcomes"
    )
    return "\n".join(lines)


def _pairs(value: object, unit: str = "") -> str:
    if not isinstance(value, Mapping) or not value:
        return "- n/a"
    return "\n".join(f"- {key}: {_inline(item)}{unit}" for key, item in value.items())


def _inline(value: object) -> str:
    if isinstance(value, list | tuple):
        # A record in a list (an outage, a check) in parentheses: its pairs stay its own.
        items = (f"({_inline(i)})" if isinstance(i, Mapping) else _inline(i) for i in value)
        return ", ".join(items) or "none"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_inline(v)}" for k, v in value.items()) or "none"
    return "n/a" if value is None else str(value)


def _extra(metadata: Mapping[str, Any]) -> str:
    known = {"versions", "target", "timings_s", "session"}
    sections = []
    for key, value in metadata.items():
        if key in known:
            continue
        title = f"## {key.replace('_', ' ').capitalize()}"
        if isinstance(value, Mapping):
            # A Markdown `table` is shown as it is, under the other pairs.
            pairs = {k: v for k, v in value.items() if k != "table"}
            table = f"\n{value['table']}\n" if "table" in value else ""
            sections.append(f"{title}\n\n{_pairs(pairs) if pairs else ''}\n{table}")
        else:
            sections.append(f"{title}\n\n{_inline(value)}\n")
    return "\n".join(sections)


def _role(case: Mapping[str, Any]) -> str:
    return " (prerequisite)" if case.get("role") == "prerequisite" else ""


def _link(evidence: str | None) -> str:
    return f"[{evidence.rsplit('/', 1)[-1]}]({evidence})" if evidence else "-"
