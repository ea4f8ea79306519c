"""`--codex-engine`: resolved and checked like every option, and what the swarm engine
deploys: the swarm twins of the bundled compose files (no `build:`; the secrets external,
no secret value interpolated into a service's environment). No Docker needed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pytest_codex.adapter.swarmstart import secret_values
from pytest_codex.config.settings import RawOption, SettingsError, resolve
from pytest_codex.target import stackfiles, swarm
from pytest_codex.target.compose import StackError
from tests.conftest import REPO

NAMES = (
    *("mode", "base_url", "compose_file", "matrix", "evidence_dir", "env_file"),
    *("live_model", "keep_stack", "startup_timeout", "request_timeout", "engine", "registry"),
)


def settle(tmp_path: Path, **given: tuple[object, object]):  # type: ignore[no-untyped-def]
    options = {name: RawOption(*given.get(name, (None, None))) for name in NAMES}
    return resolve(options, invocation_dir=tmp_path, rootdir=tmp_path)


def test_the_engine_defaults_to_compose_and_the_command_line_wins(tmp_path: Path) -> None:
    assert settle(tmp_path).engine == "compose"
    assert settle(tmp_path, engine=(None, "swarm")).engine == "swarm"
    assert settle(tmp_path, engine=("compose", "swarm")).engine == "compose"


def test_bad_engines_and_combinations_are_one_line_each(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as raised:
        settle(tmp_path, engine=("k8s", None))
    assert str(raised.value) == (
        "--codex-engine: 'k8s' is not an engine; use compose (default) or swarm"
    )
    with pytest.raises(SettingsError) as raised:
        settle(tmp_path, engine=("swarm", None), base_url=("http://127.0.0.1:9", None))
    assert str(raised.value).startswith(
        "--codex-engine=swarm and --codex-base-url exclude each other;"
    )


def test_a_registry_is_an_address_and_needs_the_swarm_engine(tmp_path: Path) -> None:
    settings = settle(tmp_path, engine=("swarm", None), registry=(None, "127.0.0.1:5000"))
    assert settings.registry == "127.0.0.1:5000"
    assert settle(tmp_path).registry is None
    with pytest.raises(SettingsError) as raised:
        settle(tmp_path, engine=("swarm", None), registry=("http://r:5000", None))
    assert str(raised.value) == (
        "--codex-registry: 'http://r:5000' is not a registry address; use HOST:PORT, "
        "e.g. 127.0.0.1:5000 (no scheme)"
    )
    with pytest.raises(SettingsError) as raised:
        settle(tmp_path, registry=("127.0.0.1:5000", None))
    assert str(raised.value).startswith("--codex-registry needs --codex-engine=swarm")


def test_the_swarm_files_are_deployable_twins_of_the_bundled_stack() -> None:
    context = stackfiles.assemble()
    files = swarm.swarm_files(context.compose_files("live", "stub"))
    assert [f.name for f in files] == ["swarm.yaml", "swarm.live.yaml", "swarm.hermetic.yaml"]
    for path in files:
        document = yaml.safe_load(path.read_text())
        for name, service in document["services"].items():
            assert "build" not in service, f"{path.name}: {name} has build:"
            for value in (service.get("environment") or {}).values():
                assert "OPENAI_API_KEY}" not in str(value)
                assert "EXPECTED_KEY}" not in str(value)
        for secret in (document.get("secrets") or {}).values():
            assert secret["external"] is True
    with pytest.raises(StackError) as raised:
        swarm.swarm_files((REPO / "tests" / "byo_app" / "docker-compose.yml",))
    assert "has no swarm twin" in str(raised.value)


def test_only_the_stack_secrets_are_taken_out_of_the_deploy_environment() -> None:
    env = {"OPENAI_API_KEY": "k", "MODEL_STUB_EXPECTED_KEY": "k", "CODEX_RUN_ID": "r"}
    assert secret_values(env) == {"OPENAI_API_KEY": "k", "MODEL_STUB_EXPECTED_KEY": "k"}
