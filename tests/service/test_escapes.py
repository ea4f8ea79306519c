"""Escapes planted in a workspace behind the API's back: symlinks out (to a file, to a
folder, chained, into another project) and a hard link to a file outside. None of them
may hand out the outside file's content, by read or by listing."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from pytest_codex_orchestrator.server import OrchestratorServer

CANARY = "OUTSIDE-CONTENT-canary-8c41f0"


@pytest.fixture
def planted(http_server: OrchestratorServer, tmp_path: Path) -> tuple[str, str]:
    """Two projects; the first's workspace holds every escape. Returns both ids."""
    url = http_server.url
    first = httpx.post(f"{url}/api/v1/projects", json={"instruction": "one"}).json()["id"]
    second = httpx.post(f"{url}/api/v1/projects", json={"instruction": "two"}).json()["id"]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(CANARY)
    workspace = tmp_path / "workspaces" / first
    (workspace / "link-to-file").symlink_to(outside / "secret.txt")
    (workspace / "link-to-folder").symlink_to(outside)
    (workspace / "chain-a").symlink_to(workspace / "chain-b")
    (workspace / "chain-b").symlink_to(outside / "secret.txt")
    (workspace / "link-to-other-project").symlink_to(tmp_path / "workspaces" / second / "app.py")
    (workspace / "relative-link").symlink_to(Path("..") / ".." / "outside" / "secret.txt")
    os.link(outside / "secret.txt", workspace / "hard-link")
    return first, second


@pytest.mark.parametrize(
    "name",
    [
        "link-to-file",
        "link-to-folder/secret.txt",
        "chain-a",
        "link-to-other-project",
        "relative-link",
        "hard-link",
    ],
)
def test_no_escape_hands_out_the_outside_file(
    http_server: OrchestratorServer, planted: tuple[str, str], name: str
) -> None:
    first, _ = planted
    answer = httpx.get(f"{http_server.url}/api/v1/{first}/files/{name}")
    assert answer.status_code == 400, answer.text
    assert CANARY not in answer.text
    assert answer.json()["detail"]


def test_the_listing_names_no_escape_and_the_service_keeps_serving(
    http_server: OrchestratorServer, planted: tuple[str, str]
) -> None:
    first, second = planted
    listing = httpx.get(f"{http_server.url}/api/v1/{first}/files")
    assert listing.status_code == 200
    paths = {entry["path"] for entry in listing.json()["files"]}
    assert not paths & {
        "link-to-file",
        "chain-a",
        "chain-b",
        "link-to-other-project",
        "relative-link",
        "link-to-folder/secret.txt",
    }
    assert CANARY not in listing.text
    assert httpx.get(f"{http_server.url}/api/v1/{second}/files/app.py").status_code == 200
