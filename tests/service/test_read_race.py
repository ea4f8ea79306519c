"""A workspace whose folders are swapped for symlinks while clients read through them.

A separate process renames a real folder away and a symlink (to a folder outside the
workspace, and to `/proc/self`) into its place, and back, in a tight loop, while four
clients read through that folder over real HTTP, thousands of times (one request in five
a listing). No answer may carry the outside file's canary or the orchestrator's own
`OPENAI_API_KEY` (which the server process has in `/proc/self/environ`), and no listing
may show an outside file.
"""

from __future__ import annotations

import base64
import http.client
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Orchestrator

KEY_CANARY = "sk-canary-race-7f3a91c0d2e4b6a8"
OUTSIDE_CANARY = "outside-canary-race-4e1d0b"
MAX_READS = 4000  # reads in all, over every client
MAX_SECONDS = 20.0  # or this long, whichever ends first
CLIENTS = 4

# Swaps `name` (a real folder) with `name.sym` (a symlink), and back, until killed.
SWAPPER = """
import os, sys
workspace, names = sys.argv[1], sys.argv[2:]
os.chdir(workspace)
while True:
    for name in names:
        try:
            os.rename(name, name + ".dir")
            os.rename(name + ".sym", name)
            os.rename(name, name + ".sym")
            os.rename(name + ".dir", name)
        except OSError:
            pass
"""


@pytest.fixture
def keyed_orchestrator(tmp_path: Path) -> Iterator[Orchestrator]:
    """The orchestrator as a process with a canary OPENAI_API_KEY in its environment."""
    root = tmp_path / "orchestrator"
    root.mkdir()
    server = Orchestrator(root, env={"OPENAI_API_KEY": KEY_CANARY})
    try:
        yield server.start()
    finally:
        server.stop()


def _project(server: Orchestrator) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        body = json.dumps({"instruction": "race"})
        connection.request("POST", "/api/v1/projects", body, {"Content-Type": "application/json"})
        project_id: str = json.loads(connection.getresponse().read())["id"]
    finally:
        connection.close()
    return project_id


def _plant(workspace: Path, outside: Path) -> None:
    outside.mkdir()
    (outside / "secret.txt").write_text(OUTSIDE_CANARY)
    for name, target in (("out", outside), ("proc", Path("/proc/self"))):
        (workspace / name).mkdir()
        (workspace / name / "secret.txt").write_text("inside\n")
        (workspace / name / "environ").write_text("inside\n")
        (workspace / f"{name}.sym").symlink_to(target, target_is_directory=True)


def _leaks(body: bytes) -> list[str]:
    """Which canaries `body` carries, also inside base64 content."""
    texts = [body]
    try:
        document = json.loads(body)
        if document.get("encoding") == "base64":
            texts.append(base64.b64decode(document["content"]))
    except (ValueError, AttributeError):
        pass
    return [
        name
        for name, canary in (("OPENAI_API_KEY", KEY_CANARY), ("outside file", OUTSIDE_CANARY))
        if any(canary.encode() in text for text in texts)
    ]


def test_no_read_escapes_while_folders_are_swapped_for_symlinks(
    keyed_orchestrator: Orchestrator, tmp_path: Path
) -> None:
    server = keyed_orchestrator
    project_id = _project(server)
    workspace = server.workspace_root / project_id
    _plant(workspace, tmp_path / "outside")
    targets = [
        f"/api/v1/{project_id}/files/out/secret.txt",
        f"/api/v1/{project_id}/files/proc/environ",
        f"/api/v1/{project_id}/files/out/secret.txt",
        f"/api/v1/{project_id}/files/proc/environ",
        f"/api/v1/{project_id}/files",  # a listing: only the inside files, inside sizes
    ]
    swapper = subprocess.Popen(
        [sys.executable, "-c", SWAPPER, str(workspace), "out", "proc"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    statuses: Counter[int] = Counter()
    leaks: list[str] = []
    guard = threading.Lock()
    deadline = time.monotonic() + MAX_SECONDS
    budget = iter(range(MAX_READS))

    def read() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            for number in budget:
                if time.monotonic() > deadline:
                    return
                target = targets[number % len(targets)]
                connection.request("GET", target)
                answer = connection.getresponse()
                body = answer.read()
                with guard:
                    statuses[answer.status] += 1
                    leaks.extend(f"{target}: {kind}" for kind in _leaks(body))
                    if target.endswith("/files") and answer.status == 200:
                        leaks.extend(
                            f"{target}: listed {entry}"
                            for entry in json.loads(body)["files"]
                            if entry["path"].startswith(("out/", "proc/"))
                            and entry["size"] != len("inside\n")
                        )
                if answer.getheader("Connection") == "close":
                    connection.close()
        finally:
            connection.close()

    try:
        time.sleep(0.2)  # the swapper is looping
        readers = [threading.Thread(target=read) for _ in range(CLIENTS)]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(timeout=MAX_SECONDS + 30)
    finally:
        swapper.kill()
        swapper.wait(timeout=10)
    attempts = sum(statuses.values())
    kinds = Counter(leak.partition(": ")[2].partition(" {")[0] for leak in leaks)
    print(f"read race: {attempts} reads, statuses {dict(statuses)}, leaks {dict(kinds)}")
    assert attempts >= 1000, statuses
    assert leaks == [], f"{len(leaks)} of {attempts} reads leaked: {leaks[:5]}"
    assert set(statuses) <= {200, 400, 404}, statuses
