"""The one docker runner (`pytest_codex.target.docker.run`): real processes, a timeout
that kills and raises the stack error, a missing command and a failed one each one
`StackError` naming where, what and the fix. The five callers use it."""

from __future__ import annotations

import inspect
import subprocess
import time
from pathlib import Path

import pytest

from pytest_codex.target import compose, docker, hostguard, images, leftovers, rollback


def test_a_command_past_its_timeout_is_killed_and_raises_the_stack_error(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "still-running"
    script = f"sleep 3; touch {marker}"
    started = time.monotonic()
    with pytest.raises(docker.StackError) as caught:
        docker.run(["sh", "-c", script], timeout=0.5, where="docker events")
    assert time.monotonic() - started < 2.5
    message = str(caught.value)
    assert message.startswith("docker events: no answer within 0.5 s; check the engine")
    assert "\n" not in message
    time.sleep(3)
    assert not marker.exists()  # killed, not left running


def test_a_missing_command_is_one_line_with_the_fix() -> None:
    with pytest.raises(docker.StackError) as caught:
        docker.run(["no-such-docker-binary", "ps"], timeout=5)
    message = str(caught.value)
    assert message.startswith("no-such-docker-binary ps: the `no-such-docker-binary` command")
    assert "--codex-base-url" in message
    assert "\n" not in message


def test_a_failure_raises_with_the_tail_only_when_checked() -> None:
    script = "for i in $(seq 1 50); do echo line-$i; done; echo boom >&2; exit 3"
    with pytest.raises(docker.StackError) as caught:
        docker.run(["sh", "-c", script], timeout=10, where="compose up", tail_lines=3)
    assert str(caught.value) == "compose up failed (exit 3):\nline-49\nline-50\nboom"
    done = docker.run(["sh", "-c", script], timeout=10, check=False)
    assert done.returncode == 3
    assert done.stdout.startswith("line-1\n")


def test_compose_and_images_errors_are_stack_errors() -> None:
    assert compose.StackError is docker.StackError
    assert issubclass(images.ImagePrepError, docker.StackError)


@pytest.mark.parametrize("module", [compose, images, rollback, leftovers, hostguard])
def test_the_five_callers_run_docker_only_through_the_runner(module: object) -> None:
    source = inspect.getsource(module)  # type: ignore[arg-type]
    calls = [name for name in ("subprocess.run(", "subprocess.check_output(") if name in source]
    if module is images:  # the Debian build script and pip are not docker commands
        assert source.count("subprocess.run(") == 2, "images: a new subprocess.run call"
        assert "docker.docker(" in source
        return
    assert calls == [], f"{module}: calls {calls} instead of pytest_codex.target.docker.run"
    assert "docker.run(" in source or "docker.docker(" in source


def test_the_runner_passes_the_environment_it_is_given(tmp_path: Path) -> None:
    done = docker.run(
        ["sh", "-c", 'printf %s "$CODEX_RUN_ID"'], timeout=10, env={"CODEX_RUN_ID": "run-1"}
    )
    assert done.stdout == "run-1"
    assert isinstance(done, subprocess.CompletedProcess)
