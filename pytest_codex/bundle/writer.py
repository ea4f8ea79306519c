"""The evidence bundle: `<root>/<UTC timestamp>/<mode>/`, every byte through the redactor.

Cases write their exchanges as they run; `finalize()` renders `SUMMARY.md`, writes
`manifest.json` (every file with sha256 and size, run metadata, per-case outcomes) and
scans the whole bundle for secret values, raising `SecretLeakError` when one is found.
No pytest import here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from pytest_codex.bundle.reader import BundleReadError, bundle_files, parse_json, read_bytes
from pytest_codex.bundle.record import OUTCOMES, CaseRecord
from pytest_codex.bundle.summary import render_summary
from pytest_codex.review import page as review
from pytest_codex.review.verdict import Verdict, judge
from pytest_codex.secrets.decoding import joined_headers
from pytest_codex.secrets.patterns import scan_patterns
from pytest_codex.secrets.redact import Redactor

MANIFEST = "manifest.json"
SUMMARY = "SUMMARY.md"
REVIEW = "index.html"
RESERVED = frozenset({MANIFEST, SUMMARY, REVIEW})
FORMAT = 3  # 3: session.selection's options, the stopped_early end, matrices by sha256
MAX_SCAN_BYTES = 64 * 1024 * 1024  # a file larger than this is reported, not scanned
MAX_TIMESTAMP_TRIES = 1000  # names <timestamp>-<n> tried for a run's folder
SAFE_PART = re.compile(r"[^A-Za-z0-9._-]")
SURROGATE = re.compile("[\ud800-\udfff]")


class SecretLeakError(Exception):
    """A secret value was found in the bundle; the text names files and secrets, never a
    value."""


class EvidencePathError(ValueError):
    """A bundle-relative path that would leave the bundle or overwrite its own files."""


def encode_text(text: str) -> bytes:
    """UTF-8; what UTF-8 cannot hold (a lone surrogate from JSON's `\\ud800`, a byte of
    invalid UTF-8 kept by surrogateescape) is written as its escape `\\udXXX`, not lost."""
    return text.encode("utf-8", "backslashreplace")


def json_text(document: object) -> str:
    """`document` as indented JSON; a lone surrogate in a string is written as the JSON
    escape `\\udXXX`, which reads back as the same string."""
    text = json.dumps(document, indent=2, ensure_ascii=False, default=str)
    return SURROGATE.sub(lambda found: f"\\u{ord(found.group(0)):04x}", text) + "\n"


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


def create_bundle_folder(root: Path, base: str, mode: str) -> Path:
    """`root/<base>[-n]/<mode>`, made by this call (mkdir fails on anything that exists,
    a symlink included: O_EXCL semantics). A timestamp folder that is a symlink or not a
    folder is passed over, never written through; a real one is shared by the modes of
    one run (live and its rollback's mocked run). At most MAX_TIMESTAMP_TRIES names."""
    root.mkdir(parents=True, exist_ok=True)  # the folder the user named (may be a link)
    for attempt in range(MAX_TIMESTAMP_TRIES):
        stamp = base if attempt == 0 else f"{base}-{attempt + 1}"
        folder = root / stamp
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder, 0o755)
        if not stat.S_ISDIR(os.lstat(folder).st_mode):  # a symlink, a file, a fifo
            continue
        try:
            os.mkdir(folder / mode, 0o755)
        except FileExistsError:
            continue
        return folder / mode
    raise EvidencePathError(
        f"evidence: {root}: {MAX_TIMESTAMP_TRIES} names {base}[-n] are taken (by symlinks or "
        "other runs); clean the evidence folder"
    )


def _open_new(target: Path, flags: int) -> int:
    """A descriptor for writing `target`, never through a symlink planted at its name."""
    try:
        return os.open(target, flags | os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as error:
        raise EvidencePathError(
            f"evidence: {target}: cannot be written ({error.strerror}); a bundle is written "
            "through no symlink"
        ) from None


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
        self.path = create_bundle_folder(root, timestamp or utc_timestamp(), mode)
        self.timestamp = self.path.parent.name
        self._init_state()

    def _init_state(self) -> None:
        self.created = time.time()  # retention never touches what was written after this
        self._cases: list[dict[str, Any]] = []
        self._finalized = False
        self.will_sign = False  # the run signs the bundle after finalize (the page says so)
        # bundle file -> {schema, source, file, sha256}: the schemas cases used (runner)
        self.used_schemas: dict[str, dict[str, str]] = {}
        self.verdict: Verdict | None = None  # judged from the manifest by finalize()
        self._handed = 0  # records already handed to the process that closes the bundle

    @classmethod
    def attach(cls, path: Path, mode: str, redactor: Redactor, run_id: str) -> EvidenceBundle:
        """The bundle another process created (the xdist controller): cases are written
        into it; the records go back to that process, which alone finalises it."""
        bundle = cls.__new__(cls)
        bundle.mode, bundle.redactor, bundle.run_id = mode, redactor, run_id
        bundle.timestamp, bundle.path = path.parent.name, path
        bundle._init_state()
        return bundle

    def merge_cases(self, records: list[dict[str, Any]]) -> None:
        """Case records of another process writing into this bundle (xdist workers)."""
        self._cases.extend(records)

    def hand_over(self) -> list[dict[str, Any]]:
        """The case records made since the last call (an xdist worker sends them to the
        controller with each test's report, so a stopped run keeps them)."""
        new = self._cases[self._handed :]
        self._handed = len(self._cases)
        return new

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
        with os.fdopen(_open_new(target, os.O_TRUNC), "wb") as handle:
            handle.write(self.redactor.redact_bytes(data))
        return target

    def write_text(self, relative: str, text: str) -> Path:
        return self.write_bytes(relative, encode_text(text))

    def write_json(self, relative: str, document: object) -> Path:
        return self.write_text(relative, json_text(document))

    def append_text(self, relative: str, text: str) -> Path:
        target = self._target(relative)
        with os.fdopen(_open_new(target, os.O_APPEND), "ab") as handle:
            handle.write(self.redactor.redact_bytes(encode_text(text)))
        return target

    def record(self, case: CaseRecord) -> None:
        """One case's outcome for the manifest and the summary: the one place a case's
        outcome enters the bundle (its message through the redactor)."""
        entry = case.as_dict()
        if entry["message"] is not None:
            entry["message"] = self.redactor.redact(entry["message"])
        self._cases.append(entry)

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
        head = {
            "format": FORMAT,
            "harness": "pytest-codex",
            "run_id": self.run_id,
            "mode": self.mode,
            "timestamp": self.timestamp,
            "created_at": created_at,
            **clean,
            "cases": self._cases,
            "totals": self.totals(),
        }
        self.verdict = judge(head)
        summary = render_summary(self, clean, created_at, self.verdict)
        with os.fdopen(_open_new(self.path / SUMMARY, os.O_TRUNC), "wb") as handle:
            handle.write(self.redactor.redact_bytes(encode_text(summary)))
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
        with os.fdopen(_open_new(path, os.O_TRUNC), "wb") as handle:
            handle.write(self.redactor.redact_bytes(json_text(manifest).encode("utf-8")))
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
        try:
            data = read_bytes(bundle, relative, MAX_SCAN_BYTES)
        except BundleReadError as error:
            found.append(f"{error} (not scanned)")
            continue
        found += [f"{relative}: {hit}" for hit in redactor.scan(data)]
        if relative.endswith(".json") and b'"headers"' in data:
            found += [
                f"{relative}: {hit} (split across header values)"
                for hit in _header_hits(data, redactor)
            ]
    return found


def _header_hits(data: bytes, redactor: Redactor) -> list[str]:
    try:
        document = parse_json(data, "")
    except BundleReadError:
        return []
    return redactor.scan(joined_headers(document))
