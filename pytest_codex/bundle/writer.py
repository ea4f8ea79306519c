"""The evidence bundle: `<root>/<UTC timestamp>/<mode>/`, every byte through the redactor.

Cases write their exchanges as they run; `finalize()` renders `SUMMARY.md`, writes
`manifest.json` (every file with sha256 and size, run metadata, per-case outcomes) and
scans the whole bundle for secret values, raising `SecretLeakError` when one is found.
No pytest import here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from string import Template
from typing import Any

from pytest_codex.bundle.session import verdict_line
from pytest_codex.bundle.templates import read_template
from pytest_codex.review import page as review
from pytest_codex.secrets.patterns import scan_patterns
from pytest_codex.secrets.redact import Redactor

MANIFEST = "manifest.json"
SUMMARY = "SUMMARY.md"
REVIEW = "index.html"
RESERVED = frozenset({MANIFEST, SUMMARY, REVIEW})
OUTCOMES = ("passed", "failed", "error", "skipped")
SAFE_PART = re.compile(r"[^A-Za-z0-9._-]")


class SecretLeakError(Exception):
    """A secret value was found in the bundle; the text names files and secrets, never a
    value."""


class EvidencePathError(ValueError):
    """A bundle-relative path that would leave the bundle or overwrite its own files."""


def utc_timestamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def safe_name(text: str) -> str:
    """A file-name part made of letters, digits, '.', '_' and '-'."""
    return SAFE_PART.sub("_", text).strip(".") or "_"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def bundle_files(
    bundle: Path, *, max_entries: int = 100_000, others: list[str] | None = None
) -> list[str]:
    """Every regular file of a bundle, as sorted POSIX paths relative to it.

    The walk keeps its own list of folders (no recursion), never follows a symbolic link
    and raises ValueError past `max_entries` entries (files and folders; default 100,000).
    Symbolic links and special files (fifos, sockets, devices) are not files of the
    bundle: they are appended to `others` when it is given (`codex-evidence verify`
    refuses them).
    """
    files: list[str] = []
    folders = [""]
    seen = 0
    while folders:
        prefix = folders.pop()
        with os.scandir(bundle / prefix) as entries:
            for entry in entries:
                seen += 1
                if seen > max_entries:
                    raise ValueError(
                        f"{bundle}: more than {max_entries} entries; "
                        "is this a bundle folder (…/<timestamp>/<mode>)?"
                    )
                relative = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    folders.append(relative + "/")
                elif entry.is_file(follow_symlinks=False):
                    files.append(relative)
                elif others is not None:
                    others.append(relative)
    return sorted(files)


class EvidenceBundle:
    """One run's evidence for one mode."""

    def __init__(
        self,
        root: Path,
        mode: str,
        redactor: Redactor,
        *,
        run_id: str | None = None,
        timestamp: str | None = None,
    ) -> None:
        self.mode = mode
        self.redactor = redactor
        self.run_id = run_id or uuid.uuid4().hex
        base = timestamp or utc_timestamp()
        stamp, counter = base, 1
        while (root / stamp / mode).exists():
            counter += 1
            stamp = f"{base}-{counter}"
        self.timestamp = stamp
        self.path = root / stamp / mode
        self.path.mkdir(parents=True)
        self._cases: list[dict[str, Any]] = []
        self._finalized = False
        self.will_sign = False  # the run signs the bundle after finalize (the page says so)
        # bundle file -> {schema, source, file, sha256}: the schemas cases used (runner)
        self.used_schemas: dict[str, dict[str, str]] = {}

    @classmethod
    def attach(cls, path: Path, mode: str, redactor: Redactor, run_id: str) -> EvidenceBundle:
        """The bundle another process created (the xdist controller): cases are written
        into it; the records go back to that process, which alone finalises it."""
        bundle = cls.__new__(cls)
        bundle.mode, bundle.redactor, bundle.run_id = mode, redactor, run_id
        bundle.timestamp, bundle.path = path.parent.name, path
        bundle._cases, bundle._finalized = [], False
        bundle.will_sign = False
        bundle.used_schemas = {}
        return bundle

    def merge_cases(self, records: list[dict[str, Any]]) -> None:
        """Case records of another process writing into this bundle (xdist workers)."""
        self._cases.extend(records)

    def _target(self, relative: str) -> Path:
        pure = PurePosixPath(relative)
        if (
            not relative
            or pure.is_absolute()
            or any(part in ("", ".", "..") for part in relative.split("/"))
            or "\\" in relative
            or "\0" in relative
        ):
            raise EvidencePathError(
                f"evidence: {relative!r} is not a plain relative path; use a/b/c.json"
            )
        if relative in RESERVED:
            raise EvidencePathError(f"evidence: {relative!r} is written by finalize() only")
        target = self.path.joinpath(*pure.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def write_bytes(self, relative: str, data: bytes) -> Path:
        target = self._target(relative)
        target.write_bytes(self.redactor.redact_bytes(data))
        return target

    def write_text(self, relative: str, text: str) -> Path:
        return self.write_bytes(relative, text.encode("utf-8", "surrogateescape"))

    def write_json(self, relative: str, document: object) -> Path:
        text = json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"
        return self.write_text(relative, text)

    def append_text(self, relative: str, text: str) -> Path:
        target = self._target(relative)
        with target.open("ab") as handle:
            handle.write(self.redactor.redact_bytes(text.encode("utf-8", "surrogateescape")))
        return target

    def record_case(
        self,
        name: str,
        file: str,
        outcome: str,
        status: int | None,
        elapsed_ms: float,
        evidence: str | None,
        message: str | None,
        *,
        role: str = "selected",
        matrix: str | None = None,
    ) -> None:
        """One case's outcome for the manifest and the summary. `role` is `selected` for
        a case pytest selected, `prerequisite` for one run first because a selected case
        needs a value it saves; `matrix` is the matrix file's path as the run names it."""
        self._cases.append(
            {
                "name": name,
                "file": file,
                "matrix": matrix or file,
                "role": role,
                "outcome": outcome,
                "status": status,
                "elapsed_ms": round(elapsed_ms, 2),
                "evidence": evidence,
                "message": None if message is None else self.redactor.redact(message),
            }
        )

    @property
    def closed(self) -> bool:
        return self._finalized

    @property
    def cases(self) -> list[dict[str, Any]]:
        return list(self._cases)

    def totals(self) -> dict[str, int]:
        return {name: sum(c["outcome"] == name for c in self._cases) for name in OUTCOMES}

    def finalize(self, metadata: Mapping[str, Any]) -> Path:
        """Write SUMMARY.md and manifest.json, then scan every file for secrets."""
        if self._finalized:
            raise RuntimeError("evidence: finalize() was called twice")
        self._finalized = True
        clean: dict[str, Any] = json.loads(
            self.redactor.redact(json.dumps(dict(metadata), ensure_ascii=False, default=str))
        )
        created_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        summary = render_summary(self, clean, created_at)
        (self.path / SUMMARY).write_bytes(self.redactor.redact_bytes(summary.encode("utf-8")))
        head = {
            "format": 2,
            "harness": "pytest-codex",
            "run_id": self.run_id,
            "mode": self.mode,
            "timestamp": self.timestamp,
            "created_at": created_at,
            **clean,
            "cases": self._cases,
            "totals": self.totals(),
        }
        # The review page is part of the bundle: written before the files are hashed.
        review.write_review(
            self.path, head, redact=self.redactor.redact_bytes, signed=self.will_sign
        )
        files = [
            {
                "path": rel,
                "sha256": sha256_file(self.path / rel),
                "size": (self.path / rel).stat().st_size,
            }
            for rel in bundle_files(self.path)
            if rel != MANIFEST
        ]
        manifest = {**head, "files": files}
        path = self.path / MANIFEST
        text = json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n"
        path.write_bytes(self.redactor.redact_bytes(text.encode("utf-8")))
        leaks = scan_bundle(self.path, self.redactor)
        leaks += [f"{hit} (pattern)" for hit in scan_patterns(self.path)]
        if leaks:
            raise SecretLeakError(
                f"secret values found in the bundle {self.path}: " + "; ".join(leaks)
            )
        return path


def scan_bundle(bundle: Path, redactor: Redactor) -> list[str]:
    """`<file>: <NAME> (<form>)` for every secret form in any file of the bundle."""
    found = []
    for relative in bundle_files(bundle):
        for hit in redactor.scan((bundle / relative).read_bytes()):
            found.append(f"{relative}: {hit}")
    return found


def render_summary(bundle: EvidenceBundle, metadata: Mapping[str, Any], created_at: str) -> str:
    """SUMMARY.md from `evidence_templates/summary.md.tmpl`."""
    template = Template(read_template("summary.md.tmpl"))
    totals = bundle.totals()
    session = metadata.get("session")
    verdict = verdict_line(
        bundle.mode,
        session if isinstance(session, Mapping) else {"run": len(bundle.cases)},
        totals,
    )
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
        verdict=verdict,
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
        return ", ".join(str(item) for item in value) or "none"
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
