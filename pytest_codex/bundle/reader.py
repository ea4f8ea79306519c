"""The one way into a bundle someone else wrote: `verify`, `diff`, `summary`, the review
page and the live-vs-mocked comparison read its files through here.

A bundle may be hostile: a symlink to /etc/shadow named `manifest.json`, a folder
`cases/` that is a symlink out of the bundle, a FIFO that never answers, a "file" that is
/dev/zero, gigabytes of JSON, JSON nested ten thousand deep. So every read:

- names a plain relative path (no `..`, `.`, empty part, backslash or NUL);
- walks it one component at a time from the bundle's folder with `O_NOFOLLOW` (a symlink
  anywhere in the path is refused, not followed), opens the file with `O_NONBLOCK` (a
  FIFO does not hang the open) and refuses anything `fstat` does not call a regular file;
- checks the size before reading and reads at most `limit + 1` bytes;
- parses JSON with a depth bound (`MAX_JSON_DEPTH`): deeper documents are refused with
  one line, never a RecursionError.

`bundle_files()` lists a bundle's regular files with a bounded walk (no recursion, no
symlinks). Errors are `BundleReadError`, one line: `<file>: <what>; <how to fix>`.
No pytest import here.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path, PurePosixPath
from typing import Any

MAX_MANIFEST_BYTES = 64 * 1024 * 1024  # a manifest.json
MAX_JSON_BYTES = 16 * 1024 * 1024  # a case's evidence, a result.json, a schema
MAX_TEXT_BYTES = 16 * 1024 * 1024  # SUMMARY.md, the model stand-in's request log
MAX_JSON_DEPTH = 64  # nesting of objects and arrays in any JSON a bundle holds
MAX_BUNDLE_ENTRIES = 100_000  # files and folders walked in one bundle
READ_BLOCK = 1 << 20
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)


class BundleReadError(ValueError):
    """A bundle file that is not read; the text says which, why, and what to do."""


def plain_parts(relative: object) -> tuple[str, ...] | None:
    """The parts of a plain relative POSIX path, else None."""
    if not isinstance(relative, str) or not relative or "\\" in relative or "\0" in relative:
        return None
    if PurePosixPath(relative).is_absolute():
        return None
    parts = tuple(relative.split("/"))
    if any(part in ("", ".", "..") for part in parts):
        return None
    return parts


def _open_inside(bundle: Path, parts: tuple[str, ...], shown: str) -> int:
    """A file descriptor of `bundle/<parts>`, opened without following any symlink."""
    try:
        folder = os.open(bundle, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise BundleReadError(f"{bundle}: cannot open the bundle ({error.strerror})") from None
    try:
        for part in parts[:-1]:
            try:
                inner = os.open(part, _DIR_FLAGS, dir_fd=folder)
            except OSError as error:
                raise BundleReadError(
                    f"{shown}: {part!r} is a symbolic link or not a folder ({error.strerror}); "
                    "a bundle holds plain folders and regular files only"
                ) from None
            os.close(folder)
            folder = inner
        _refuse_special(folder, parts[-1], shown)  # a device is never opened at all
        try:
            return os.open(parts[-1], _OPEN_FLAGS, dir_fd=folder)
        except OSError as error:
            reason, fix = error.strerror, "a bundle holds regular files only"
            if _is_link(folder, parts[-1]):
                reason = "a symbolic link"
            elif isinstance(error, FileNotFoundError):
                fix = "give a bundle folder (docs/evidence/<timestamp>/<mode>)"
            raise BundleReadError(f"{shown}: cannot be read ({reason}); {fix}") from None
    finally:
        os.close(folder)


def _refuse_special(folder: int, name: str, shown: str) -> None:
    """Refuse a fifo, socket or device by its lstat, before any open (opening some devices
    acts on them); the caller's fstat after the open closes the race."""
    try:
        mode = os.lstat(name, dir_fd=folder).st_mode
    except OSError:
        return  # the open says why
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise BundleReadError(
            f"{shown}: a special file (fifo, socket, device), not read; "
            "a bundle holds regular files only"
        )


def _is_link(folder: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(name, dir_fd=folder).st_mode)
    except OSError:
        return False


def read_bytes(bundle: Path, relative: str, limit: int) -> bytes:
    """At most `limit` bytes of a regular file inside `bundle`; BundleReadError for a
    symlink, a special file, a path out of the bundle or a larger file."""
    parts = plain_parts(relative)
    if parts is None:
        raise BundleReadError(f"{relative!r}: not a plain relative path inside the bundle")
    descriptor = _open_inside(bundle, parts, relative)
    with os.fdopen(descriptor, "rb", buffering=0) as handle:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise BundleReadError(
                f"{relative}: a special file (fifo, socket, device), not read; "
                "a bundle holds regular files only"
            )
        if info.st_size > limit:
            raise BundleReadError(
                f"{relative}: {info.st_size} bytes, over the {limit} a bundle file may have"
            )
        chunks: list[bytes] = []
        total = 0
        while total <= limit:  # bounded: a file that grows stops at limit + 1
            block = handle.read(min(READ_BLOCK, limit + 1 - total))
            if not block:
                break
            chunks.append(block)
            total += len(block)
    if total > limit:
        raise BundleReadError(f"{relative}: over {limit} bytes (it grew while read)")
    return b"".join(chunks)


def parse_json(data: bytes, shown: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """JSON no deeper than `max_depth`; BundleReadError otherwise."""
    try:
        document = json.loads(data)
    except RecursionError:
        raise BundleReadError(f"{shown}: JSON nested deeper than {max_depth}; not read") from None
    except ValueError as error:
        raise BundleReadError(f"{shown}: not JSON ({error})") from None
    if depth_over(document, max_depth):
        raise BundleReadError(f"{shown}: JSON nested deeper than {max_depth}; not read")
    return document


def depth_over(document: object, max_depth: int) -> bool:
    """Whether objects and arrays nest deeper than `max_depth` (an explicit stack)."""
    pending: list[tuple[object, int]] = [(document, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            return True
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def read_json(bundle: Path, relative: str, limit: int = MAX_JSON_BYTES) -> Any:
    """A bundle file's JSON through `read_bytes` and `parse_json`."""
    return parse_json(read_bytes(bundle, relative, limit), relative)


def read_manifest(bundle: Path, name: str = "manifest.json") -> dict[str, Any]:
    """The bundle's manifest: a JSON object of at most MAX_MANIFEST_BYTES."""
    document = read_json(bundle, name, MAX_MANIFEST_BYTES)
    if not isinstance(document, dict):
        raise BundleReadError(f"{name}: not a JSON object; not a bundle manifest")
    return document


def bundle_files(
    bundle: Path, *, max_entries: int = MAX_BUNDLE_ENTRIES, others: list[str] | None = None
) -> list[str]:
    """Every regular file of a bundle, as sorted POSIX paths relative to it.

    The walk keeps its own list of folders (no recursion), never follows a symbolic link
    and raises ValueError past `max_entries` entries (files and folders). Symbolic links
    and special files (fifos, sockets, devices) are not files of the bundle: they are
    appended to `others` when it is given (`codex-evidence verify` refuses them).
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
