"""Bounds the orchestrator holds as a real process: a sparse 200 MiB file is refused
unread (its memory peak measured from /proc), a folder tree 1,200 levels deep is listed
without recursion, and 1,000 trickling connections hold at most CODEX_MAX_CONNECTIONS
threads."""

from __future__ import annotations

import http.client
import json
import os
import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_codex_orchestrator.workspace_files import FileLimits, list_files
from tests.conftest import Orchestrator

MIB = 1024 * 1024


def status_field(pid: int, name: str) -> int:
    """A number from /proc/<pid>/status (VmHWM and VmRSS in kB, Threads)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    raise LookupError(name)


def request(server: Orchestrator, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        payload = None if body is None else json.dumps(body)
        headers = {} if body is None else {"Content-Type": "application/json"}
        connection.request(method, path, payload, headers)
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        connection.close()


@pytest.fixture
def short_deadline_orchestrator(tmp_path: Path) -> Iterator[Orchestrator]:
    """The orchestrator as a process with a 5 s header deadline and the default cap."""
    root = tmp_path / "orchestrator"
    root.mkdir()
    server = Orchestrator(root, env={"CODEX_HEADER_TIMEOUT": "5"})
    try:
        yield server.start()
    finally:
        server.stop()


def test_a_sparse_200_mib_file_is_413_unread(orchestrator: Orchestrator) -> None:
    assert orchestrator.process is not None
    pid = orchestrator.process.pid
    _, project = request(orchestrator, "POST", "/api/v1/projects", {"instruction": "big"})
    workspace = orchestrator.workspace_root / project["id"]
    with (workspace / "big.bin").open("wb") as handle:
        handle.truncate(200 * MIB)
    before = status_field(pid, "VmHWM")
    started = time.monotonic()
    status, answer = request(orchestrator, "GET", f"/api/v1/{project['id']}/files/big.bin")
    elapsed = time.monotonic() - started
    peak = status_field(pid, "VmHWM")
    assert status == 413
    assert answer["detail"] == (
        "file path: 'big.bin' is 209715200 bytes, over the limit of 16777216 "
        "(CODEX_MAX_FILE_BYTES); read a smaller file or raise CODEX_MAX_FILE_BYTES"
    )
    print(f"sparse 200 MiB: 413 in {elapsed:.3f} s, VmHWM {before} kB -> {peak} kB")
    assert peak < 200 * 1024, peak  # kB: under 200 MB (it was 2.6 GB)
    assert elapsed < 2
    status, listing = request(orchestrator, "GET", f"/api/v1/{project['id']}/files")
    assert status == 200
    assert {"path": "big.bin", "size": 200 * MIB} in listing["files"]


def test_a_file_at_the_limit_is_served(orchestrator: Orchestrator) -> None:
    """The largest file served (16 MiB of NUL bytes, six JSON bytes each) has a
    bounded cost; its figure goes to docs/reliability.md."""
    assert orchestrator.process is not None
    pid = orchestrator.process.pid
    _, project = request(orchestrator, "POST", "/api/v1/projects", {"instruction": "big"})
    workspace = orchestrator.workspace_root / project["id"]
    with (workspace / "limit.bin").open("wb") as handle:
        handle.truncate(16 * MIB)
    status, answer = request(orchestrator, "GET", f"/api/v1/{project['id']}/files/limit.bin")
    peak = status_field(pid, "VmHWM")
    print(f"16 MiB of NULs: {status}, VmHWM {peak} kB")
    assert status == 200
    assert answer["size"] == 16 * MIB
    assert peak < 600 * 1024, peak


def make_deep_tree(workspace: Path, depth: int) -> str:
    """`d/d/.../d/deep.txt` `depth` folders deep, made through descriptors (the path
    is longer than the system's limit for one name lookup); returns its path."""
    folder = os.open(workspace, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=folder)
            inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=folder)
            os.close(folder)
            folder = inner
        descriptor = os.open("deep.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=folder)
        os.write(descriptor, b"deep\n")
        os.close(descriptor)
    finally:
        os.close(folder)
    return "d/" * depth + "deep.txt"


def remove_deep_tree(top: Path) -> None:
    """Remove a tree `make_deep_tree` made, one level at a time from the top (pytest's
    own clean-up would recurse once per level)."""
    while top.exists():
        inner = top / "d"
        spare = top.with_name(f"{top.name}.up")
        if inner.is_dir():
            inner.rename(spare)
        for leftover in top.iterdir():
            leftover.unlink()
        top.rmdir()
        if spare.exists():
            spare.rename(top)


def test_a_tree_1200_levels_deep_is_listed_without_recursion(orchestrator: Orchestrator) -> None:
    _, project = request(orchestrator, "POST", "/api/v1/projects", {"instruction": "deep"})
    workspace = orchestrator.workspace_root / project["id"]
    try:
        _check_deep_tree(orchestrator, project["id"], workspace)
    finally:
        remove_deep_tree(workspace / "d")


def _check_deep_tree(orchestrator: Orchestrator, project_id: str, workspace: Path) -> None:
    deep = make_deep_tree(workspace, 1200)
    shallow = "d/" * 64 + "ok.txt"  # at the default CODEX_MAX_TREE_DEPTH
    (workspace / shallow).write_text("ok\n")
    started = time.monotonic()
    status, listing = request(orchestrator, "GET", f"/api/v1/{project_id}/files")
    elapsed = time.monotonic() - started
    print(f"1,200 levels: listing {status} in {elapsed:.3f} s")
    assert status == 200
    paths = [entry["path"] for entry in listing["files"]]
    assert shallow in paths
    assert deep not in paths
    status, answer = request(orchestrator, "GET", f"/api/v1/{project_id}/files/{shallow}")
    assert (status, answer["content"]) == (200, "ok\n")
    status, answer = request(orchestrator, "GET", f"/api/v1/{project_id}/files/{deep}")
    assert status == 400
    assert "more than 64 folders deep (CODEX_MAX_TREE_DEPTH)" in answer["detail"]


def test_listing_limits_in_process(tmp_path: Path) -> None:
    make_deep_tree(tmp_path, 5)
    (tmp_path / "top.txt").write_text("x")
    assert [entry.path for entry in list_files(tmp_path, FileLimits(max_depth=2))] == ["top.txt"]
    assert len(list_files(tmp_path, FileLimits(max_depth=5))) == 2
    with pytest.raises(ValueError, match=r"more than 3 entries \(CODEX_MAX_LIST_ENTRIES\)"):
        list_files(tmp_path, FileLimits(max_entries=3))


def test_listing_shows_only_what_a_read_serves(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("outside")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "plain.txt").write_text("x")
    os.link(outside, workspace / "hard-link")
    for name in ("back\\slash", "ctrl\x01", "%2e%2e", "..."):
        (workspace / name).write_text("x")
    os.mkfifo(workspace / "pipe")
    assert [entry.path for entry in list_files(workspace, FileLimits())] == ["plain.txt"]


def test_1000_trickling_connections_hold_at_most_the_cap(
    short_deadline_orchestrator: Orchestrator,
) -> None:
    server = short_deadline_orchestrator
    assert server.process is not None
    pid = server.process.pid
    baseline = status_field(pid, "Threads")
    sockets: list[socket.socket] = []
    try:
        peak = 0
        for number in range(1000):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Slow: ")  # and then nothing
            sockets.append(sock)
            if number % 50 == 0:
                peak = max(peak, status_field(pid, "Threads"))
        answers: list[bytes] = []
        deadline = time.monotonic() + 4  # before the 5 s header deadline frees any
        # epoll, not select(): a long test session may hold descriptors past 1024.
        with selectors.DefaultSelector() as waiting:
            for sock in sockets:
                waiting.register(sock, selectors.EVENT_READ)
            while waiting.get_map() and time.monotonic() < deadline:
                peak = max(peak, status_field(pid, "Threads"))
                for key, _ in waiting.select(0.1):
                    answers.append(key.fileobj.recv(64))  # type: ignore[union-attr]
                    waiting.unregister(key.fileobj)
        refused = sum(answer.startswith(b"HTTP/1.1 503 ") for answer in answers)
        cut = sum(answer.startswith(b"HTTP/1.1 408 ") for answer in answers)
        print(
            f"1,000 trickling connections: at most {peak} threads, {refused} answered 503, "
            f"{cut} cut off (408)"
        )
        assert peak <= baseline + 256
        assert refused + cut == len(answers)
        # A slot freed by the deadline while the others still connect takes one more.
        assert refused >= 1000 - 256 - cut
        time.sleep(3)  # the header deadline cuts the held ones off
        assert status_field(pid, "Threads") <= baseline + 2
        assert request(server, "GET", "/healthz")[0] == 200
    finally:
        for sock in sockets:
            sock.close()
