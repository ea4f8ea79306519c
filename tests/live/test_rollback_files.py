"""How the mocked stack of a rollback is derived from the live run's compose files."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_codex.target.rollback import RollbackFilesError, mocked_compose_files


def test_the_bundled_live_overlays_are_left_out() -> None:
    files = (Path("service/compose.yaml"), Path("service/compose.live.yaml"))
    hermetic = (*files, Path("service/compose.hermetic.yaml"))
    openai = (*files, Path("service/compose.openai.yaml"))
    assert mocked_compose_files(files) == (Path("service/compose.yaml"),)
    assert mocked_compose_files(hermetic) == (Path("service/compose.yaml"),)
    assert mocked_compose_files(openai) == (Path("service/compose.yaml"),)


def test_a_users_own_files_follow_the_same_rule() -> None:
    files = (
        Path("docker-compose.yml"),
        Path("docker-compose.override.yml"),
        Path("docker-compose.live.yml"),
        Path("compose-live.yaml"),
        Path("deliver.yaml"),  # `live` inside a word is not an overlay
    )
    assert mocked_compose_files(files) == (
        Path("docker-compose.yml"),
        Path("docker-compose.override.yml"),
        Path("deliver.yaml"),
    )


def test_only_overlays_is_a_readable_error() -> None:
    with pytest.raises(RollbackFilesError, match="every file given is a live overlay"):
        mocked_compose_files((Path("compose.live.yaml"),))
