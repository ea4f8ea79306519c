"""Names of files in the evidence bundle made from what users write (matrix paths, case
names, schema paths): sanitised, unique per original, never a name the bundle reserves.
No pytest import here.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

RESERVED_NAMES = frozenset({"result.json", "manifest.json", "summary.md", "index.html"})
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_path(
    parts: Sequence[str], suffix: str, *, altered: bool = False, original: str | None = None
) -> str:
    """`parts` as a bundle-relative path: each part made of letters, digits, '.', '_' and
    '-' (`..` is `up`), never a name the bundle reserves; when that changed anything (or
    `altered`), a short hash of the original (`original`, else the parts joined) keeps
    different originals apart."""
    safe = []
    for part in parts:
        clean = "up" if part == ".." else _SAFE.sub("_", part).strip(".") or "_"
        if clean.lower() in RESERVED_NAMES or (clean + suffix).lower() in RESERVED_NAMES:
            clean = "_" + clean
        safe.append(clean)
    text = "/".join(safe)
    joined = "/".join(parts)
    original = joined if original is None else original
    if altered or text != joined:
        text += "-" + hashlib.sha256(original.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return text + suffix


def relative_parts(path: Path, root: Path | None) -> list[str] | None:
    """`path` relative to `root` (or the working directory), else None."""
    path = Path(os.path.abspath(path))
    for given in (root, Path.cwd()):
        if given is None:
            continue
        base = Path(os.path.abspath(given))
        if base.is_file():
            base = base.parent
        if path.is_relative_to(base):
            return list(path.relative_to(base).parts)
    return None


def short_parts(path: Path, root: Path | None, suffix: str, new_suffix: str) -> str:
    """`path` under `root` (or the working directory) as a safe bundle path, its `suffix`
    replaced by `new_suffix`; a path outside both keeps only its folder and file names,
    with a hash of the whole path."""
    parts = relative_parts(path, root)
    outside = parts is None or not parts
    if outside:
        parts = list(Path(os.path.abspath(path)).parts[-2:])
    assert parts is not None
    last = parts[-1]
    stem = last[: -len(suffix)] if suffix and last.endswith(suffix) else last
    return safe_path(
        [*parts[:-1], stem],
        new_suffix,
        altered=outside or stem == last,
        original=str(Path(os.path.abspath(path))) if outside else None,
    )


def matrix_key(path: Path, root: Path | None) -> str:
    """A matrix file's evidence folder name: its path under `root` (the `--codex-matrix`
    folder holding it, else the working directory), `.yaml` dropped, sanitised; unique
    per file path (`a/seed.yaml` and `b/seed.yaml` differ; `x.yml` and `x.yaml` too)."""
    return short_parts(path, root, ".yaml", "")


def matrix_root(path: Path, roots: Sequence[Path]) -> Path | None:
    """Which of the `--codex-matrix` paths holds `path` (a folder, or the file itself)."""
    resolved = Path(os.path.abspath(path))
    for root in roots:
        base = Path(os.path.abspath(root))
        if resolved == base:
            return base.parent
        if resolved.is_relative_to(base):
            return base
    return None
