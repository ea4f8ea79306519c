"""The review page's sections beyond the cases: load figures and their chart, the live
run (env presence, the model stand-in's log, rollback, comparison), other run facts and
the files; and `body()`, the whole page body in reading order. Every value passes `esc()`.
No pytest import here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pytest_codex.review import sections as cases
from pytest_codex.review.sections import esc, href, inline, pairs

if TYPE_CHECKING:
    from pytest_codex.review.page import Review

MAX_FILE_LINKS = 300  # files listed by name; all are counted per folder
MAX_COLUMNS = 12  # columns of a generic table (the model stand-in's request log)
CHART_WIDTH = 640
BAR_HEIGHT = 16


def body(review: Review) -> str:
    sections = [
        cases.header(review),
        cases.overview(review.manifest),
        cases.failures(review.cases),
        cases.cases(review),
        cases.families(review.cases),
        _load(review.manifest.get("load")),
        _live(review),
        _other(review.manifest),
        _files(review.files),
    ]
    return "\n".join(section for section in sections if section)


def _load(load: object) -> str:
    if not isinstance(load, Mapping) or not load:
        return ""
    rows, bars = [], []
    for name, run in load.items():
        if not isinstance(run, Mapping):
            continue
        for phase in ("create", "read"):
            figures = run.get(phase)
            if not isinstance(figures, Mapping):
                continue
            rows.append(
                f"<tr><th>{esc(name)}</th><td>{phase}</td>"
                + "".join(
                    f"<td class='num'>{esc(figures.get(key))}</td>"
                    for key in ("requests", "errors", "seconds", "per_s", "p50_ms", "p99_ms")
                )
                + "</tr>"
            )
            bars.append((f"{name} {phase}", figures.get("p50_ms"), figures.get("p99_ms")))
        verdict_text = "passed" if run.get("passed") else "FAILED"
        rows.append(
            f"<tr><th>{esc(name)}</th><td colspan='7'>{esc(run.get('clients'))} clients, "
            f"{esc(run.get('projects'))} projects checked: {verdict_text}</td></tr>"
        )
    table = (
        "<table><tr><th>load</th><th>phase</th><th class='num'>requests</th>"
        "<th class='num'>errors</th><th class='num'>seconds</th><th class='num'>per s</th>"
        "<th class='num'>p50 ms</th><th class='num'>p99 ms</th></tr>" + "".join(rows) + "</table>"
    )
    return f'<h2 id="load">Load</h2>{table}{latency_chart(bars)}'


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def latency_chart(bars: Sequence[tuple[str, object, object]]) -> str:
    """An inline SVG: per phase, a p50 and a p99 bar on one scale (ms)."""
    if not bars:
        return ""
    top = max(max(_number(p50), _number(p99)) for _, p50, p99 in bars) or 1.0
    label_width, row = 140, BAR_HEIGHT * 2 + 14
    scale = (CHART_WIDTH - label_width - 90) / top
    items = []
    for index, (label, p50, p99) in enumerate(bars):
        y = 20 + index * row
        items.append(f'<text x="0" y="{y + BAR_HEIGHT}">{esc(label)}</text>')
        for offset, (name, value, colour) in enumerate(
            (("p50", p50, "#54aeff"), ("p99", p99, "#0550ae"))
        ):
            width = max(1.0, _number(value) * scale)
            top_y = y + offset * BAR_HEIGHT
            items.append(
                f'<rect x="{label_width}" y="{top_y}" width="{width:.1f}" '
                f'height="{BAR_HEIGHT - 2}" fill="{colour}"><title>{esc(label)} {name}: '
                f"{esc(value)} ms</title></rect>"
                f'<text x="{label_width + width + 4:.1f}" y="{top_y + BAR_HEIGHT - 4}">'
                f"{name} {esc(value)} ms</text>"
            )
    height = 20 + len(bars) * row
    return (
        f'<svg id="latency-chart" role="img" width="{CHART_WIDTH}" height="{height}" '
        f'viewBox="0 0 {CHART_WIDTH} {height}" xmlns="http://www.w3.org/2000/svg">'
        "<title>Latency percentiles per load phase (ms)</title>"
        f'<text x="{label_width}" y="12">latency per phase, ms (p50 light, p99 dark)</text>'
        + "".join(items)
        + "</svg>"
    )


def table(entries: Sequence[Mapping[str, Any]]) -> str:
    """A table of JSON objects: the union of their keys (at most MAX_COLUMNS) as columns."""
    columns: list[str] = []
    for entry in entries:
        for key in entry:
            if key not in columns and len(columns) < MAX_COLUMNS:
                columns.append(str(key))
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{esc(inline(e.get(c, '')))}</td>" for c in columns) + "</tr>"
        for e in entries
    )
    return f'<table class="log"><tr>{head}</tr>{rows}</table>'


def markdown_table(text: str) -> str:
    """A Markdown pipe table (as format-1 manifests keep the comparison) as HTML."""
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("|")]
    if len(lines) < 2:
        return f"<p>{esc(text)}</p>"
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    head = "".join(f"<th>{esc(c)}</th>" for c in cells[0])
    rows = "".join(
        "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in cells[2:]
    )
    return f"<table><tr>{head}</tr>{rows}</table>"


def _live(review: Review) -> str:
    manifest = review.manifest
    blocks = []
    live = manifest.get("live")
    if isinstance(live, Mapping):
        env = live.get("env")
        rest = {k: v for k, v in live.items() if k != "env"}
        blocks.append(f"<h3>Environment (presence only)</h3>{pairs(env)}{pairs(rest)}")
    if review.stub_requests:
        note = f'<p class="muted">{esc(review.stub_note)}</p>' if review.stub_note else ""
        blocks.append(
            "<h3>Model stand-in's request log "
            '(<a href="model-stub/requests.jsonl">requests.jsonl</a>)</h3>'
            + table(review.stub_requests)
            + note
        )
    rollback = manifest.get("rollback")
    if isinstance(rollback, Mapping):
        cases = rollback.get("cases") if isinstance(rollback.get("cases"), list) else []
        rest = {k: v for k, v in rollback.items() if k != "cases"}
        blocks.append(
            "<h3>Rollback to mocked mode</h3>"
            + pairs(rest)
            + (table([c for c in cases if isinstance(c, Mapping)]) if cases else "")
        )
    comparison = manifest.get("comparison_with_mocked")
    if isinstance(comparison, Mapping):
        rows = comparison.get("rows")
        counts = {k: v for k, v in comparison.items() if k not in ("table", "rows")}
        if isinstance(rows, list):
            shown = table([r for r in rows if isinstance(r, Mapping)])
        else:
            shown = markdown_table(str(comparison.get("table", "")))
        blocks.append(f"<h3>Mocked vs live</h3>{pairs(counts)}{shown}")
    if not blocks:
        return ""
    return '<h2 id="live">Live run</h2>' + "".join(blocks)


KNOWN_KEYS = frozenset(
    {
        "format", "harness", "run_id", "mode", "timestamp", "created_at", "versions",
        "target", "timings_s", "session", "cases", "totals", "files", "load", "live",
        "rollback", "comparison_with_mocked", "schemas",
    }
)  # fmt: skip


def _other(manifest: Mapping[str, Any]) -> str:
    extra = {k: v for k, v in manifest.items() if k not in KNOWN_KEYS}
    if not extra:
        return ""
    return '<h2 id="other">Other run facts</h2>' + pairs(extra)


def _files(files: Sequence[tuple[str, int]]) -> str:
    folders: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    for path, size in files:
        folder = path.split("/", 1)[0] if "/" in path else "."
        folders[folder] += 1
        sizes[folder] += size
    summary = "".join(
        f"<tr><td>{esc(folder)}</td><td class='num'>{count}</td>"
        f"<td class='num'>{sizes[folder]}</td></tr>"
        for folder, count in sorted(folders.items())
    )
    listed = "".join(
        f'<li><a href="{href(path)}">{esc(path)}</a> <span class="muted">{size} B</span></li>'
        for path, size in files[:MAX_FILE_LINKS]
    )
    more = (
        f"<li>... and {len(files) - MAX_FILE_LINKS} more (manifest.json lists all)</li>"
        if len(files) > MAX_FILE_LINKS
        else ""
    )
    total = sum(size for _, size in files)
    return (
        f'<h2 id="files">Files ({len(files)}, {total} bytes)</h2>'
        "<table><tr><th>folder</th><th class='num'>files</th><th class='num'>bytes</th></tr>"
        f"{summary}</table><details><summary>every file</summary><ul>{listed}{more}</ul>"
        "</details>"
    )
