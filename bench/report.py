"""Write docs/performance.md from bench/results/*.json (the last run of each benchmark)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

from common import REPO, RESULTS

ORDER = (
    "harness_overhead",
    "tavern_peer",
    "throughput",
    "live_job",
    "start_stop",
    "scaling",
    "parallel",
    "swarm",
)


def main() -> int:
    documents = [
        json.loads((RESULTS / f"{name}.json").read_text())
        for name in ORDER
        if (RESULTS / f"{name}.json").exists()
    ]
    if not documents:
        print(
            "bench/report.py: no results in bench/results/; run bench/run first", file=sys.stderr
        )
        return 2
    machine = documents[0]["machine"]
    lines = [
        "# Performance",
        "",
        "Written by `bench/report.py` "
        f"({datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}) from the newest result of each "
        f"benchmark (`bash bench/run` runs them all), on {machine['cpus']} CPUs, "
        f"{machine['memory_gib']} GiB, {machine['system']}, Python {machine['python']}. "
        "Each benchmark alternates its subject (A) and its baseline (B) in the same run and "
        "compares medians; a ratio below 1 means the subject is faster.",
        "",
        "| benchmark | subject (A) | baseline (B) | A | B | A/B | goal |",
        "|---|---|---|---|---|---|---|",
    ]
    for document in documents:
        for row in document["rows"]:
            lines.append(
                f"| {row['bench']} | {row['subject']} | {row['baseline']} | "
                f"{row['subject_s']:.3f} {row['unit']} | {row['baseline_s']:.3f} {row['unit']} | "
                f"{row['ratio']:.2f} | {row['goal']} |"
            )
    lines += ["", "## Details", ""]
    for document in documents:
        for row in document["rows"]:
            if row["details"]:
                lines.append(f"- {row['bench']}: `{json.dumps(row['details'])}`")
    notes = REPO / "bench" / "NOTES.md"
    if notes.exists():
        lines += ["", notes.read_text().rstrip()]
    (REPO / "docs" / "performance.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {REPO / 'docs' / 'performance.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
