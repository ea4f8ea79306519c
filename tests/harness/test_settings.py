"""`settings.resolve`: precedence, path bases and the error texts (no pytest involved)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_codex.config.settings import RawOption, SettingsError, is_within, resolve

NAMES = (
    "mode",
    "base_url",
    "compose_file",
    "matrix",
    "evidence_dir",
    "env_file",
    "live_model",
    "keep_stack",
    "startup_timeout",
    "request_timeout",
    "outage_wait",
    "traversal_policy",
)


def options(**given: tuple[object, object]) -> dict[str, RawOption]:
    return {name: RawOption(*given.get(name, (None, None))) for name in NAMES}


def settle(tmp_path: Path, **given: tuple[object, object]):  # type: ignore[no-untyped-def]
    return resolve(options(**given), invocation_dir=tmp_path / "cwd", rootdir=tmp_path)


def test_defaults(tmp_path: Path) -> None:
    settings = settle(tmp_path)
    assert settings.mode == "mocked"
    assert settings.base_url is None
    assert settings.compose_files is None
    assert settings.matrix_paths == (tmp_path / "matrices",)
    assert settings.evidence_dir == tmp_path / "docs" / "evidence"
    assert settings.env_file is None
    assert settings.keep_stack is False
    assert settings.live_model == "stub"
    assert not settings.mode_given


def test_cli_beats_ini_and_paths_start_where_they_were_given(tmp_path: Path) -> None:
    settings = settle(
        tmp_path,
        mode=("live", "mocked"),
        evidence_dir=(None, "out"),
        matrix=(["m1", "m2"], ["ignored"]),
        request_timeout=("5", "9"),
    )
    assert settings.mode == "live"
    assert settings.mode_given
    assert settings.evidence_dir == tmp_path / "out"
    assert settings.matrix_paths == (tmp_path / "cwd" / "m1", tmp_path / "cwd" / "m2")
    assert settings.request_timeout == 5.0
    assert settings.env_file == tmp_path / ".env.live"


def test_ini_booleans(tmp_path: Path) -> None:
    assert settle(tmp_path, keep_stack=(None, True)).keep_stack is True
    assert settle(tmp_path, keep_stack=(None, "no")).keep_stack is False
    with pytest.raises(SettingsError, match="codex_keep_stack: 'perhaps' is not a boolean"):
        settle(tmp_path, keep_stack=(None, "perhaps"))


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"mode": ("both", None)}, "--codex-mode: 'both' is not a mode; use mocked or live"),
        ({"live_model": ("gpt", None)}, "--codex-live-model: 'gpt' is not a model endpoint"),
        ({"base_url": ("localhost:8000", None)}, "is not an http(s) URL"),
        ({"startup_timeout": ("-1", None)}, "is out of range"),
    ],
)
def test_errors_name_the_option_the_value_and_the_fix(
    tmp_path: Path, given: dict[str, tuple[object, object]], message: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        settle(tmp_path, **given)
    assert message in str(caught.value)
    assert "; " in str(caught.value)


def test_is_within(tmp_path: Path) -> None:
    root = tmp_path / "matrices"
    assert is_within(root / "a.yaml", (root,))
    assert is_within(root, (root,))
    assert not is_within(tmp_path / "matrices-old" / "a.yaml", (root,))


def test_outage_wait_and_traversal_policy(tmp_path: Path) -> None:
    defaults = settle(tmp_path)
    assert (defaults.outage_wait, defaults.traversal_policy) == (60.0, "strict")
    given = settle(tmp_path, outage_wait=("0", "30"), traversal_policy=(None, "resolve"))
    assert (given.outage_wait, given.traversal_policy) == (0.0, "resolve")
    with pytest.raises(SettingsError, match=r"--codex-outage-wait: '-1' is out of range"):
        settle(tmp_path, outage_wait=("-1", None))
    with pytest.raises(SettingsError, match=r"--codex-traversal-policy: 'lax' is not a policy"):
        settle(tmp_path, traversal_policy=("lax", None))
