"""Bundles over time: a `.tar.gz` of a finished bundle beside it, for CI artifacts and
mail, and a retention rule that removes the oldest runs' folders. No pytest import here.
"""

from __future__ import annotations

import re
import shutil
import tarfile
from pathlib import Path

RUN_FOLDER = re.compile(r"\d{8}T\d{6}Z(-\d+)?")  # <UTC timestamp>[-n], as bundles are named


def archive(bundle: Path) -> Path:
    """`<timestamp>/<mode>.tar.gz` beside the bundle `<timestamp>/<mode>/`; its members are
    `<timestamp>/<mode>/...`, so it unpacks into an evidence folder as it was."""
    target = bundle.with_name(f"{bundle.name}.tar.gz")
    with tarfile.open(target, "w:gz") as tar:
        tar.add(bundle, arcname=f"{bundle.parent.name}/{bundle.name}", recursive=True)
    return target


def prune(evidence_dir: Path, keep: int) -> list[str]:
    """Remove all but the `keep` newest run folders (`<UTC timestamp>`) of `evidence_dir`;
    other files and folders are never touched. Returns the names removed."""
    runs = sorted(
        (
            p
            for p in evidence_dir.iterdir()
            if p.is_dir() and not p.is_symlink() and RUN_FOLDER.fullmatch(p.name)
        ),
        key=_age,
    )
    removed = runs[: max(len(runs) - keep, 0)]
    for folder in removed:
        shutil.rmtree(folder)
    return [folder.name for folder in removed]


def _age(folder: Path) -> tuple[str, int]:
    """`<timestamp>-<n>` after `<timestamp>-<n-1>`, also past 9 (names sort as text)."""
    stamp, _, counter = folder.name.partition("-")
    return stamp, int(counter or 1)
