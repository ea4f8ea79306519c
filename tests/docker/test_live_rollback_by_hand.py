"""docs/rollback.md's by-hand steps, run as written (the bash block, with the project
name and workspace root filled in, and the final pytest call left out) against a live
stack started the way the harness starts one: the orchestrator comes back mocked, with
no Docker socket and no OPENAI_* variable, although USE_DUMMY_WORKER=false was exported."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_codex.target import compose as stack
from tests.conftest import REPO, free_port

SERVICE = REPO / "service"
LIVE_FILES = (
    SERVICE / "compose.yaml",
    SERVICE / "compose.live.yaml",
    SERVICE / "compose.hermetic.yaml",
)
DOC = REPO / "docs" / "rollback.md"
DOC_ROOT = "/var/tmp/pytest-codex/workspaces"


def by_hand_block() -> str:
    text = DOC.read_text()
    section = text[text.index("## By hand") :]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None, "docs/rollback.md: no bash block under '## By hand'"
    return block.group(1)


@pytest.fixture
def live_stack(
    tmp_path: Path, worker_image: str, orchestrator_image: str
) -> Iterator[tuple[stack.Compose, Path]]:
    del worker_image, orchestrator_image  # built as the live stack builds them
    root = tmp_path / "workspaces"
    root.mkdir()
    project = f"pytest-codex-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "CODEX_WORKSPACE_ROOT": str(root),
        "CODEX_RUN_ID": project,
        "CODEX_HOST_PORT": str(free_port()),
        "USE_DUMMY_WORKER": "false",
        "OPENAI_API_KEY": "sk-canary-by-hand-0000",
        "MODEL_STUB_EXPECTED_KEY": "sk-canary-by-hand-0000",
    }
    live = stack.Compose(stack.detect_compose_command(), LIVE_FILES, project, env)
    try:
        live.run("up", "-d")
        yield live, root
    finally:
        live.run("down", "-v", "--remove-orphans", "-t", "5")


def health(compose: stack.Compose) -> dict[str, object]:
    port = compose.run("port", "orchestrator", "8000").strip().rsplit(":", 1)[1]
    deadline = time.monotonic() + 60
    while True:
        body = stack.health(f"http://127.0.0.1:{port}", 2)
        if body or time.monotonic() > deadline:
            return body
        time.sleep(0.25)


def test_the_by_hand_steps_bring_back_a_mocked_orchestrator(
    live_stack: tuple[stack.Compose, Path],
) -> None:
    live, root = live_stack
    assert health(live).get("mode") == "live"
    script = by_hand_block().replace("<project>", live.project).replace(DOC_ROOT, str(root))
    script = "\n".join(
        line for line in script.splitlines() if not line.startswith("pytest ")
    ).replace("docker-compose", " ".join(live.command))
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=REPO,
        env=dict(live.env),  # USE_DUMMY_WORKER=false and the key exported, as after a run
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"mode": "mocked"' in done.stdout
    assert "docker.sock" not in done.stdout
    mocked = stack.Compose(live.command, LIVE_FILES[:1], live.project, live.env)
    assert health(mocked).get("mode") == "mocked"
    container = mocked.run("ps", "-q", "orchestrator").split()[-1]
    [info] = json.loads(
        subprocess.run(
            ["docker", "inspect", container],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    )
    assert [m["Destination"] for m in info["Mounts"] if "docker.sock" in m["Source"]] == []
    assert [e.split("=")[0] for e in info["Config"]["Env"] if e.startswith("OPENAI_")] == []
