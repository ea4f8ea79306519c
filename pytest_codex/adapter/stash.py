"""The run's state kept in `config.stash`, one key each (shared by the plugin's modules)."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_codex.adapter.harness import Stack
from pytest_codex.bundle.record import RunRecord
from pytest_codex.config.envfile import LiveEnv
from pytest_codex.config.settings import Settings
from pytest_codex.secrets.redact import Redactor

SETTINGS_KEY = pytest.StashKey[Settings]()
LIVE_ENV_KEY = pytest.StashKey[LiveEnv | None]()
RECORD_KEY = pytest.StashKey[RunRecord]()  # the run's one record (bundle/record.py)
STACK_KEY = pytest.StashKey[Stack]()
SIGNAL_KEY = pytest.StashKey[Any]()  # the SIGTERM handler that was in place before ours
REDACTOR_KEY = pytest.StashKey[Redactor]()  # the one redactor of everything written
SIGNING_KEY = pytest.StashKey[Any]()  # the ed25519 private key that signs bundles, or None
LIVE_TOKEN_KEY = pytest.StashKey[str | None]()  # the API token of a live stack we start
