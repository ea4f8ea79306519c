"""Reading and listing a workspace through directory descriptors, so no swap can race it.

A client path (already checked in every form by `paths.client_path_parts`) is walked one
segment at a time from a descriptor of the workspace: every folder is opened with
`O_DIRECTORY | O_NOFOLLOW` relative to the one before, the last segment with
`O_NOFOLLOW | O_NONBLOCK`, and the path is never looked up by name again. A symlink met
on the way is read (`readlinkat`) and its text walked the same way, from the folders
already held: `..` steps back to a held descriptor, never above the workspace, and an
absolute target must name a place inside the workspace. The final descriptor must be a
regular file with one name (a hard link may be a file outside) and at most the size
limit; its bytes are read from that descriptor. A worker renaming folders and symlinks
in a loop can make a read fail (404), never lead it out.

Listings walk the tree with an explicit stack (no recursion on the Python stack), at most
`max_depth` folders deep and `max_entries` entries in all, and show only what a read would
open: regular files with one name, under names a client can send back (a file over the
size limit is listed with its size; reading it says why it is refused).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from pytest_codex_orchestrator.errors import quote
from pytest_codex_orchestrator.paths import FIX, UnsafePathError, is_servable

MAX_SYMLINK_HOPS = 40  # as Linux's own limit (ELOOP)
READ_CHUNK_BYTES = 1 << 20
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_ROOT_FLAGS = os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | _CLOEXEC


@dataclass(frozen=True)
class FileLimits:
    """How much a read or a listing may take (the service's settings)."""

    max_file_bytes: int = 16 * 1024 * 1024  # CODEX_MAX_FILE_BYTES
    max_depth: int = 64  # CODEX_MAX_TREE_DEPTH: folders between the workspace and a file
    max_entries: int = 100_000  # CODEX_MAX_LIST_ENTRIES: entries one listing may scan


@dataclass(frozen=True)
class FileEntry:
    """One regular file of a workspace: its POSIX path relative to it and its size."""

    path: str
    size: int


@dataclass(frozen=True)
class FileData:
    """The bytes of one file, read from the descriptor the walk opened."""

    data: bytes
    size: int


class FileMissingError(LookupError):
    """A safe path that names no regular file (now)."""


class FileTooLargeError(ValueError):
    """A file over `max_file_bytes`: refused before a byte of it is read."""

    def __init__(self, raw: str, size: int, limit: int) -> None:
        super().__init__(
            f"file path: {quote(raw)} is {size} bytes, over the limit of {limit} "
            "(CODEX_MAX_FILE_BYTES); read a smaller file or raise CODEX_MAX_FILE_BYTES"
        )
        self.size = size
        self.limit = limit


class ListingTooLargeError(ValueError):
    """A workspace with more entries than one listing may scan."""


def read_file(workspace: Path, raw: str, parts: list[str], limits: FileLimits) -> FileData:
    """The bytes of the file `parts` names inside `workspace` (`raw` as the client sent it,
    for messages). Raises `UnsafePathError` (400), `FileMissingError` (404) or
    `FileTooLargeError` (413)."""
    try:
        root = os.open(workspace, _ROOT_FLAGS)
    except OSError:
        raise FileMissingError(raw) from None
    try:
        descriptor = open_file(root, _roots(workspace), raw, parts, limits)
    finally:
        os.close(root)
    try:
        return _read(descriptor, raw, limits.max_file_bytes)
    finally:
        os.close(descriptor)


def open_file(
    root: int, roots: tuple[str, ...], raw: str, parts: list[str], limits: FileLimits
) -> int:
    """A descriptor of the regular, single-named file `parts` names under the folder
    descriptor `root` (whose absolute paths are `roots`), checked by `fstat`; `root` is
    left open. Raises like `read_file`."""
    folders = [root]  # descriptors from the workspace down; folders[0] is the caller's
    pending = list(reversed(parts))  # segments still to walk, the next one last
    hops = 0
    try:
        while pending:
            name = pending.pop()
            if name in ("", "."):
                continue
            if name == "..":
                if len(folders) == 1:
                    raise UnsafePathError(
                        f"file path: {quote(raw)} leads outside the project workspace; {FIX}"
                    )
                os.close(folders.pop())
                continue
            last = not any(part not in ("", ".") for part in pending)
            if not last and len(folders) > limits.max_depth:
                raise UnsafePathError(
                    f"file path: {quote(raw)} is more than {limits.max_depth} folders deep "
                    "(CODEX_MAX_TREE_DEPTH); ask for a file higher up or raise the limit"
                )
            try:
                flags = _FILE_FLAGS if last else _FOLDER_FLAGS
                descriptor = os.open(name, flags, dir_fd=folders[-1])
            except OSError as error:
                target = _link_text(name, folders[-1])
                if target is None:
                    raise FileMissingError(f"{raw}: {error.strerror}") from None
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise UnsafePathError(
                        f"file path: {quote(raw)} goes through more than {MAX_SYMLINK_HOPS} "
                        f"symlinks (a loop?); {FIX}"
                    ) from None
                if target.startswith("/"):
                    inside = _inside(target, roots)
                    if inside is None:
                        raise UnsafePathError(
                            f"file path: {quote(raw)} leads outside the project workspace; {FIX}"
                        ) from None
                    while len(folders) > 1:
                        os.close(folders.pop())
                    target = inside
                pending.extend(reversed(target.split("/")))
                continue
            if last:
                return _checked(descriptor, raw, limits.max_file_bytes)
            folders.append(descriptor)
        raise UnsafePathError(f"file path: {quote(raw)} names the workspace itself; {FIX}")
    finally:
        for descriptor in folders[1:]:
            os.close(descriptor)


def list_files(workspace: Path, limits: FileLimits) -> list[FileEntry]:
    """Every file of `workspace` a read would serve, sorted by path; [] when the workspace
    is missing. Raises `ListingTooLargeError` past `max_entries` entries."""
    try:
        root = os.open(workspace, _ROOT_FLAGS)
    except OSError:
        return []
    roots = _roots(workspace)
    entries: list[FileEntry] = []
    scanned = 0
    # One frame per folder being walked: its descriptor, its path, its subfolders left.
    stack: list[tuple[int, str, list[str]]] = []
    try:
        folder, prefix = root, ""
        while True:
            subfolders: list[str] = []
            try:
                scanned = _scan(folder, prefix, scanned, subfolders, entries, root, roots, limits)
            except BaseException:
                if folder != root:
                    os.close(folder)
                raise
            if len(stack) < limits.max_depth:  # a file below would be too deep to read
                subfolders.reverse()
                stack.append((folder, prefix, subfolders))
            elif folder != root:
                os.close(folder)
            folder = -1
            while stack and folder < 0:
                parent, parent_prefix, left = stack[-1]
                if not left:
                    stack.pop()
                    if parent != root:
                        os.close(parent)
                    continue
                name = left.pop()
                try:
                    folder = os.open(name, _FOLDER_FLAGS, dir_fd=parent)
                except OSError:  # gone or swapped for a symlink since the scan
                    continue
                prefix = f"{parent_prefix}{name}/"
            if folder < 0:
                break
    finally:
        for descriptor, _, _ in stack:
            if descriptor != root:
                os.close(descriptor)
        os.close(root)
    return sorted(entries, key=lambda entry: entry.path)


def _scan(
    folder: int,
    prefix: str,
    scanned: int,
    subfolders: list[str],
    entries: list[FileEntry],
    root: int,
    roots: tuple[str, ...],
    limits: FileLimits,
) -> int:
    """Add the files of `folder` to `entries` and its subfolders' names to `subfolders`;
    the number of entries scanned so far, which may not pass `limits.max_entries`."""
    with os.scandir(folder) as found:
        for entry in found:
            scanned += 1
            if scanned > limits.max_entries:
                raise ListingTooLargeError(
                    f"listing: the workspace holds more than {limits.max_entries} entries "
                    "(CODEX_MAX_LIST_ENTRIES); remove files or raise CODEX_MAX_LIST_ENTRIES"
                )
            relative = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                subfolders.append(entry.name)
            elif is_servable(relative):
                size = _listed_size(root, roots, folder, entry.name, relative, limits)
                if size is not None:
                    entries.append(FileEntry(relative, size))
    return scanned


def _listed_size(
    root: int, roots: tuple[str, ...], folder: int, name: str, relative: str, limits: FileLimits
) -> int | None:
    """The size of `relative` when a read would open it (a file over the size limit is
    listed: its read says why it is refused), else None."""
    try:
        info = os.stat(name, dir_fd=folder, follow_symlinks=False)
        if stat.S_ISLNK(info.st_mode):
            descriptor = open_file(root, roots, relative, relative.split("/"), limits)
            try:
                return os.fstat(descriptor).st_size
            finally:
                os.close(descriptor)
    except FileTooLargeError as error:
        return error.size
    except (OSError, UnsafePathError, FileMissingError):
        return None
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        return None
    return info.st_size


def _checked(descriptor: int, raw: str, limit: int) -> int:
    """`descriptor` if it is a regular file with one name within `limit` bytes."""
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise FileMissingError(raw)
        if info.st_nlink != 1:
            # A hard link may name a file outside the workspace: its path cannot tell.
            raise UnsafePathError(
                f"file path: {quote(raw)} is a hard-linked file ({info.st_nlink} names); "
                "the orchestrator serves only files with one name"
            )
        if info.st_size > limit:
            raise FileTooLargeError(raw, info.st_size, limit)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def _read(descriptor: int, raw: str, limit: int) -> FileData:
    """At most `limit` bytes from `descriptor` (a file that grew past it since `fstat`
    is refused too)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = os.read(descriptor, min(READ_CHUNK_BYTES, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise FileTooLargeError(raw, size, limit)
    return FileData(b"".join(chunks), size)


def _link_text(name: str, folder: int) -> str | None:
    """What the symlink `name` in `folder` points to, or None when it is not one."""
    try:
        return os.readlink(name, dir_fd=folder)
    except OSError:  # EINVAL: not a symlink; ENOENT: gone
        return None


def _roots(workspace: Path) -> tuple[str, ...]:
    """The absolute paths the workspace goes by (as configured, and symlinks resolved)."""
    given = str(workspace.absolute())
    real = os.path.realpath(workspace)
    return (given,) if real == given else (given, real)


def _inside(target: str, roots: tuple[str, ...]) -> str | None:
    """The absolute symlink text `target` made relative to the workspace, or None."""
    for root in roots:
        if target == root:
            return "."
        if target.startswith(root.rstrip("/") + "/"):
            return target[len(root.rstrip("/")) + 1 :]
    return None
