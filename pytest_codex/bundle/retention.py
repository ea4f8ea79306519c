"""Bundles over time: a `.tar.gz` of a finished bundle beside it, for CI artifacts and
mail, and a retention rule that removes the oldest runs' folders. No pytest import here.

Retention removes only what this project wrote: a timestamp-named folder (not a symlink)
that holds at least one `<mode>/manifest.json` written by pytest-codex (`"harness":
"pytest-codex"`, a regular file read by the bounded reader) before the current run
started, and never the current run's folder. Anything else in the evidence folder (a
user's notes in a timestamp-named folder, a symlink, an unfinished run) is left alone.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tarfile
from pathlib import Path

from pytest_codex.bundle import reader

RUN_FOLDER = re.compile(r"\d{8}T\d{6}Z(-\d+)?")  # <UTC timestamp>[-n], as bundles are named
MAX_RUN_FOLDERS = 10_000  # entries of the evidence folder looked at by one prune
MAX_MODES = 8  # mode folders looked into per run folder


def archive(bundle: Path) -> Path:
    """`<timestamp>/<mode>.tar.gz` beside the bundle `<timestamp>/<mode>/`; its members are
    `<timestamp>/<mode>/...`, so it unpacks into an evidence folder as it was. Created
    new (O_EXCL, O_NOFOLLOW): never written through a symlink planted at its name."""
    target = bundle.with_name(f"{bundle.name}.tar.gz")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    try:
        descriptor = os.open(target, flags, 0o644)
    except OSError as error:
        raise OSError(
            error.errno, f"{target}: cannot be created ({error.strerror}); remove what is there"
        ) from None
    with os.fdopen(descriptor, "wb") as handle, tarfile.open(fileobj=handle, mode="w:gz") as tar:
        tar.add(bundle, arcname=f"{bundle.parent.name}/{bundle.name}", recursive=True)
    return target


def prune(evidence_dir: Path, keep: int, current: Path, before: float) -> list[str]:
    """Remove all but the `keep` newest run folders of `evidence_dir`, counting `current`
    (the run's own timestamp folder, never removed) as one of them. Only folders this
    project wrote before `before` (a time.time()) are candidates (see the module
    docstring). Returns the names removed."""
    runs = sorted(
        (folder for folder in _run_folders(evidence_dir, current) if _ours(folder, before)),
        key=_age,
    )
    removed = runs[: max(len(runs) - max(keep - 1, 0), 0)]
    for folder in removed:
        shutil.rmtree(folder)  # rmtree unlinks symlinks inside, never follows them
    return [folder.name for folder in removed]


def _run_folders(evidence_dir: Path, current: Path) -> list[Path]:
    found = []
    with os.scandir(evidence_dir) as entries:
        for index, entry in enumerate(entries):
            if index >= MAX_RUN_FOLDERS:
                break
            if (
                RUN_FOLDER.fullmatch(entry.name)
                and entry.is_dir(follow_symlinks=False)
                and entry.name != current.name
            ):
                found.append(Path(entry.path))
    return found


def _ours(folder: Path, before: float) -> bool:
    """Whether a mode folder of `folder` holds a pytest-codex manifest older than `before`."""
    with os.scandir(folder) as entries:
        modes = [e.name for e in entries if e.is_dir(follow_symlinks=False)][:MAX_MODES]
    for mode in modes:
        try:
            info = os.lstat(folder / mode / "manifest.json")
            manifest = reader.read_manifest(folder / mode)
        except (OSError, reader.BundleReadError):
            continue
        if (
            stat.S_ISREG(info.st_mode)
            and info.st_mtime < before
            and manifest.get("harness") == "pytest-codex"
        ):
            return True
    return False


def _age(folder: Path) -> tuple[str, int]:
    """`<timestamp>-<n>` after `<timestamp>-<n-1>`, also past 9 (names sort as text)."""
    stamp, _, counter = folder.name.partition("-")
    return stamp, int(counter or 1)
