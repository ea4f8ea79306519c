"""What the bundle keeps of the target's workspaces and logs, bounded so that a reviewer
can live with it: every project in full up to `MAX_FULL_SNAPSHOTS` (the first ones
created, those of the seed and traversal cases), every anomaly in full (no result.json,
or one whose status is not `success`), and the rest (a load run's hundreds of projects)
counted in `workspaces/summary.json`, grouped by their file lists. Service logs are cut to
`MAX_LOG_BYTES` (head and tail), saying so. No pytest import here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pytest_codex.bundle.writer import EvidenceBundle, safe_name
from pytest_codex.target import compose as stack

MAX_FULL_SNAPSHOTS = 20  # projects kept with listing and result.json, anomalies aside
MAX_ANOMALIES = 200  # anomalous projects kept in full; more are counted
MAX_JOB_LOGS = 200  # worker event streams and logs kept (live mode)
MAX_LOG_BYTES = 256 * 1024  # service log kept: the first quarter and the last three
SUMMARY = "workspaces/summary.json"
MAX_VERSIONS = 8  # distinct worker versions listed (one run has one, a mixed stack a few)
MAX_VERSION_CHARS = 80


def snapshot_workspaces(
    evidence: EvidenceBundle, workspace_root: Path, *, max_full: int = MAX_FULL_SNAPSHOTS
) -> dict[str, Any]:
    """Write the workspaces' evidence; returns the summary (also in SUMMARY)."""
    ids = sorted(stack.project_ids(workspace_root), key=lambda p: _created(workspace_root / p))
    full = anomalies = 0
    statuses: dict[str, int] = {}
    versions: set[str] = set()  # the Codex CLI versions the workers wrote in result.json
    listings: dict[tuple[str, ...], dict[str, Any]] = {}
    for project_id in ids:
        workspace = workspace_root / project_id
        files = stack.listing(workspace)
        result = stack.read_result(workspace)
        status = str(result.get("status")) if isinstance(result, dict) else "no result.json"
        statuses[status] = statuses.get(status, 0) + 1
        if isinstance(result, dict) and isinstance(result.get("worker_version"), str):
            versions.add(result["worker_version"][:MAX_VERSION_CHARS])
        paths = tuple(str(entry["path"]) for entry in files)
        group = listings.setdefault(paths, {"files": list(paths), "projects": 0, "sample": None})
        group["projects"] += 1
        anomalous = status != "success"
        keep = full < max_full or (anomalous and anomalies < MAX_ANOMALIES)
        if not keep:
            continue
        if anomalous and full >= max_full:
            anomalies += 1
        else:
            full += 1
        group["sample"] = group["sample"] or project_id
        evidence.write_json(
            f"workspaces/{_name(project_id)}.json", {"project_id": project_id, "files": files}
        )
        if result is not None:
            evidence.write_json(f"results/{_name(project_id)}/result.json", result)
    summary = {
        "projects": len(ids),
        "kept_in_full": full + anomalies,
        "cap": max_full,
        "anomalies_kept_beyond_cap": anomalies,
        "result_status": dict(sorted(statuses.items())),
        "worker_versions": sorted(versions)[:MAX_VERSIONS],
        "listings": sorted(listings.values(), key=lambda g: -int(g["projects"])),
        "rule": (
            f"the first {max_full} projects created, and every project without a successful "
            "result.json, are kept in full; the others are counted here"
        ),
    }
    if ids:
        evidence.write_json(SUMMARY, summary)
    _keep_job_logs(evidence, workspace_root / ".jobs")
    return summary


def _keep_job_logs(evidence: EvidenceBundle, jobs: Path) -> None:
    if not jobs.is_dir() or jobs.is_symlink():
        return
    folders = sorted(p for p in jobs.iterdir() if p.is_dir() and not p.is_symlink())
    for job in folders[:MAX_JOB_LOGS]:
        for name in ("events.jsonl", "worker.log"):
            path = job / name
            if path.is_file() and not path.is_symlink():
                evidence.write_bytes(f"workers/{_name(job.name)}/{name}", read_capped(path))


def read_capped(path: Path, limit: int = MAX_LOG_BYTES) -> bytes:
    """A file's head and tail, at most about `limit` bytes read (the cut stated)."""
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size <= limit:
            return handle.read(limit)
        head = handle.read(limit // 4)
        handle.seek(size - (limit - limit // 4))
        tail = handle.read(limit)
    return _join(head, tail, size - len(head) - len(tail), limit)


def cap(data: bytes, limit: int = MAX_LOG_BYTES) -> bytes:
    """`data` cut to about `limit` bytes (the head and the tail), the cut stated in it."""
    if len(data) <= limit:
        return data
    head, tail = data[: limit // 4], data[-(limit - limit // 4) :]
    return _join(head, tail, len(data) - len(head) - len(tail), limit)


def _join(head: bytes, tail: bytes, cut: int, limit: int) -> bytes:
    marker = f"\n[pytest-codex: {cut} bytes cut here; the log cap is {limit} bytes]\n"
    return head + marker.encode() + tail


def _created(path: Path) -> float:
    try:
        return os.stat(path, follow_symlinks=False).st_mtime
    except OSError:
        return 0.0


def _name(project_id: str) -> str:
    """A project id as one plain file-name part (ids come from the target)."""
    return safe_name(project_id)
