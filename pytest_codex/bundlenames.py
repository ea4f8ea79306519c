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


def safe_path(parts: Sequence[str], suffix: str, *, altered: bool = False) -> str:
    """`parts` as a bundle-relative path: each part made of letters, digits, '.', '_' and
    '-' (`..` is `up`), never a name the bundle reserves; when that changed anything (or
    `altered`), a short hash of the original keeps different originals apart."""
    safe = []
    for part in parts:
        clean = "up" if part == ".." else _SAFE.sub("_", part).strip(".") or "_"
        if clean.lower() in RESERVED_NAMES or (clean + suffix).lower() in RESERVED_NAMES:
            clean = "_" + clean
        safe.append(clean)
    text = "/".join(safe)
    original = "/".join(parts)
    if altered or text != original:
        text += "-" + hashlib.sha256(original.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return text + suffix


def relative_parts(path: Path, root: Path | None) -> list[str]:
    """`path` relative to `root` (or the working directory), else its absolute parts."""
    path = Path(os.path.abspath(path))
    for given in (root, Path.cwd()):
        if given is None:
            continue
        base = Path(os.path.abspath(given))
        if base.is_file():
            base = base.parent
        if path.is_relative_to(base):
            return list(path.relative_to(base).parts)
    return list(path.parts[1:])


def matrix_key(path: Path, root: Path | None) -> str:
    """A matrix file's evidence folder name: its path under `root` (the `--codex-matrix`
    folder holding it, else the working directory), `.yaml` dropped, sanitised; unique
    per file path (`a/seed.yaml` and `b/seed.yaml` differ; `x.yml` and `x.yaml` too)."""
    parts = relative_parts(path, root) or [path.name]
    last = parts[-1]
    stem = last[: -len(".yaml")] if last.endswith(".yaml") else last
    return safe_path([*parts[:-1], stem], "", altered=stem == last)


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
