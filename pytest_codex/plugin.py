"""pytest hooks and fixtures of pytest-codex: an adapter over the engine modules.

Options are resolved once in `pytest_configure`; YAML matrices under `--codex-matrix`
become one item per case (`items.py`); session fixtures bring the orchestrator up with
pytest-docker, or use `--codex-base-url`, and write the evidence bundle. Every fixture
can be overridden in a conftest.py.
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

import pytest_codex
from pytest_codex import compare, envfile, harness, images, leftovers, stack, stackfiles
from pytest_codex import settings as settings_mod
from pytest_codex.envfile import EnvFileError, LiveEnv
from pytest_codex.evidence import EvidenceBundle, SecretLeakError
from pytest_codex.harness import Harness, Stack
from pytest_codex.items import SETTINGS_KEY, MatrixFile
from pytest_codex.redact import Redactor
from pytest_codex.rollback import roll_back
from pytest_codex.settings import RawOption, Settings, SettingsError

REPORT_KEY = pytest.StashKey[dict[str, Any]]()
LIVE_ENV_KEY = pytest.StashKey[LiveEnv | None]()
STACK_KEY = pytest.StashKey[Stack]()

# (option name, help, extra addoption arguments, ini type)
_OPTIONS: tuple[tuple[str, str, dict[str, Any], str], ...] = (
    ("mode", "worker mode to validate: mocked (default) or live.", {}, "string"),
    ("base-url", "test the orchestrator running at this URL; no compose then.", {}, "string"),
    (
        "compose-file",
        "compose file that starts the orchestrator; repeatable "
        "(default: the bundled stack for the mode).",
        {"action": "append"},
        "paths",
    ),
    (
        "matrix",
        "matrix file or folder to run; repeatable (default: matrices/).",
        {"action": "append"},
        "paths",
    ),
    ("evidence-dir", "folder for evidence bundles (default: docs/evidence).", {}, "string"),
    ("env-file", "env file with the live keys (default in live mode: .env.live).", {}, "string"),
    (
        "live-model",
        "model endpoint in live mode: stub (default; the bundled stand-in, hermetic) or openai.",
        {},
        "string",
    ),
    (
        "keep-stack",
        "leave the compose stack running after the run.",
        {"action": "store_true", "default": None},
        "bool",
    ),
    (
        "startup-timeout",
        "seconds to wait for the orchestrator to become healthy (default: 120).",
        {},
        "string",
    ),
    ("request-timeout", "seconds to wait for one response (default: 60).", {}, "string"),
)


@pytest.hookimpl
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("codex", "Codex orchestrator validation (pytest-codex)")
    for name, help_text, extra, ini_type in _OPTIONS:
        dest = "codex_" + name.replace("-", "_")
        group.addoption(
            f"--codex-{name}",
            dest=dest,
            help=help_text.capitalize(),
            **({"default": None} | extra),
        )
        parser.addini(dest, help_text.capitalize(), type=ini_type)  # type: ignore[arg-type]


@pytest.hookimpl
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "codex: a case of a pytest-codex matrix")
    options = {}
    for name, *_ in _OPTIONS:
        dest = "codex_" + name.replace("-", "_")
        options[name.replace("-", "_")] = RawOption(
            cli=config.getoption(dest), ini=config.getini(dest)
        )
    try:
        settings = settings_mod.resolve(
            options, invocation_dir=config.invocation_params.dir, rootdir=config.rootpath
        )
        if settings.mode_given:
            settings_mod.check_matrix_paths(settings)
        live_env = (
            envfile.load(settings.env_file)
            if settings.mode == "live" and settings.env_file
            else None
        )
    except (SettingsError, EnvFileError) as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[SETTINGS_KEY] = settings
    config.stash[LIVE_ENV_KEY] = live_env
    config.stash[REPORT_KEY] = {}
    # `pytest --codex-mode=...` with no paths runs the matrices, not the testpaths.
    if settings.mode_given and config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args = [str(path) for path in settings.matrix_paths]


@pytest.hookimpl
def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> MatrixFile | None:
    settings = parent.config.stash[SETTINGS_KEY]
    # Matrices run when the harness is asked for (--codex-mode) or a path is named on the
    # command line; a plain `pytest` runs the project's own tests only.
    asked = settings.mode_given or parent.config.args_source == pytest.Config.ArgsSource.ARGS
    if (
        asked
        and file_path.suffix in (".yaml", ".yml")
        and settings_mod.is_within(file_path, settings.matrix_paths)
    ):
        return MatrixFile.from_parent(parent, path=file_path)
    return None


@pytest.fixture(scope="session")
def codex_settings(pytestconfig: pytest.Config) -> Settings:
    """The resolved `codex` options (command line over ini over default)."""
    return pytestconfig.stash[SETTINGS_KEY]


@pytest.fixture(scope="session")
def codex_live_env(pytestconfig: pytest.Config) -> LiveEnv | None:
    """The live env file's values (live mode), else None. Its repr shows presence only."""
    return pytestconfig.stash[LIVE_ENV_KEY]


@pytest.fixture(scope="session")
def codex_redactor(codex_live_env: LiveEnv | None) -> Redactor:
    """Removes secrets from the evidence: values of secret-named environment variables
    and every value of the live env file. Override to add values of your own."""
    extra = codex_live_env.secrets() if codex_live_env is not None else {}
    return Redactor.from_environment(os.environ, extra)


@pytest.fixture(scope="session")
def codex_evidence(
    pytestconfig: pytest.Config,
    codex_settings: Settings,
    codex_redactor: Redactor,
    codex_live_env: LiveEnv | None,
) -> Iterator[EvidenceBundle]:
    """The run's evidence bundle, `<evidence-dir>/<UTC timestamp>/<mode>/`; finalised
    (manifest, summary, secret scan) when the session ends, also after failures."""
    bundle = EvidenceBundle(codex_settings.evidence_dir, codex_settings.mode, codex_redactor)
    report = pytestconfig.stash[REPORT_KEY]
    report["bundle"] = bundle.path
    started = time.perf_counter()
    yield bundle
    metadata: dict[str, Any] = {
        "versions": {
            "pytest_codex": pytest_codex.__version__,
            "pytest": pytest.__version__,
            "python": platform.python_version(),
            "docker": report.get("docker_version", "not used"),
            "target": report.get("target_version", "unknown"),
        },
        "target": report.get("target", {}),
        "timings_s": {
            **report.get("timings", {}),
            "session": round(time.perf_counter() - started, 3),
        },
    }
    if codex_live_env is not None:
        metadata["live"] = {
            "env_file": codex_live_env.path.name,
            "env": codex_live_env.presence(),
            "model": codex_settings.live_model,
            "git_ignore": envfile.git_ignored(pytestconfig.rootpath),
        }
    if "rollback" in report:
        metadata["rollback"] = report["rollback"]
    if "load" in report:
        metadata["load"] = report["load"]
    if "leftovers_removed" in report:
        metadata["stack_hygiene"] = {"leftovers_removed": report["leftovers_removed"]}
    if codex_settings.mode == "live":
        metadata["comparison_with_mocked"] = compare.comparison(
            codex_settings.evidence_dir, bundle.cases
        )
    try:
        bundle.finalize(metadata)
    except SecretLeakError as error:
        report["leak"] = str(error)
        pytest.fail(f"evidence: {error}", pytrace=False)


@pytest.fixture(scope="session")
def codex_compose_command() -> tuple[str, ...]:
    """The compose command: `docker compose` (v2) where present, else `docker-compose`."""
    try:
        return stack.detect_compose_command()
    except stack.StackError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def codex_compose_files(codex_settings: Settings) -> tuple[Path, ...]:
    """Compose files that start the orchestrator (`--codex-compose-file`, default the
    bundled stack for the mode). The service must be `orchestrator`, publishing 8000."""
    if codex_settings.compose_files is not None:
        return codex_settings.compose_files
    return harness.bundled_compose_files(codex_settings.mode, codex_settings.live_model)


@pytest.fixture(scope="session")
def codex_rollback_compose_files(
    codex_settings: Settings, codex_compose_files: tuple[Path, ...]
) -> tuple[Path, ...]:
    """Compose files of the mocked stack a live run rolls back to (default: the bundled
    mocked stack, or your own files with USE_DUMMY_WORKER=true)."""
    if codex_settings.compose_files is not None:
        return codex_compose_files
    return harness.bundled_compose_files("mocked", codex_settings.live_model)


@pytest.fixture(scope="session")
def codex_compose_project_name() -> str:
    """The compose project name, unique per run so that parallel runs never collide."""
    return leftovers.project_name()


@pytest.fixture(scope="session")
def codex_workspace_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Host folder bind-mounted at the same path in the orchestrator container."""
    return tmp_path_factory.mktemp("codex-workspaces")


@pytest.fixture(scope="session")
def codex_stack(
    request: pytest.FixtureRequest,
    pytestconfig: pytest.Config,
    codex_settings: Settings,
    codex_live_env: LiveEnv | None,
    codex_evidence: EvidenceBundle,
    codex_redactor: Redactor,
) -> Iterator[Stack]:
    """The orchestrator under test: brought up with pytest-docker and torn down with its
    volumes, or the one at `--codex-base-url`. Logs and workspaces go into the evidence;
    a live run ends with the rollback to mocked mode, proven by smoke cases."""
    report = pytestconfig.stash[REPORT_KEY]
    settings = codex_settings
    if settings.base_url is not None:
        if not stack.probe(settings.base_url, settings.request_timeout):
            pytest.fail(
                f"codex stack: {settings.base_url}/healthz does not answer 200; start the "
                "orchestrator or fix --codex-base-url",
                pytrace=False,
            )
        report["target"] = {"base_url": settings.base_url}
        report["target_version"] = stack.health(settings.base_url, 10).get("version")
        yield Stack(base_url=settings.base_url)
        return
    # Compose fixtures are asked for only here, so a --codex-base-url run needs no Docker.
    workspace_root: Path = request.getfixturevalue("codex_workspace_root")
    command: tuple[str, ...] = request.getfixturevalue("codex_compose_command")
    files: tuple[Path, ...] = request.getfixturevalue("codex_compose_files")
    project: str = request.getfixturevalue("codex_compose_project_name")
    rollback_files: tuple[Path, ...] = (
        request.getfixturevalue("codex_rollback_compose_files") if settings.mode == "live" else ()
    )
    # Leftovers of killed runs (their pid is gone) are removed, and the engine's version
    # read, while this run's stack starts: neither touches it (saves ~0.3 s a run).
    housekeeping = ThreadPoolExecutor(max_workers=2)
    removed = housekeeping.submit(leftovers.clean)
    docker_version = housekeeping.submit(stack.docker_server_version)
    timings: dict[str, float] = {}
    prepared = _prepare_images(pytestconfig, settings, files, timings)
    env = harness.stack_environment(settings, codex_live_env, workspace_root, project)
    compose = stack.Compose(command, files, project, {**os.environ, **prepared, **env})
    markers = (*harness.LEAK_MARKERS, stack.plant_outside_canary(workspace_root))
    report.update(
        timings=timings,
        target={"compose_files": [str(f) for f in files], "project": project},
    )
    with harness.compose_stack(settings, compose, codex_evidence, timings) as base_url:
        report["leftovers_removed"] = removed.result()
        report["docker_version"] = docker_version.result()
        housekeeping.shutdown()
        report["target"]["base_url"] = base_url
        report["target_version"] = stack.health(base_url, 10).get("version")
        cases_started = time.perf_counter()
        yield Stack(
            base_url=base_url,
            workspace_root=workspace_root,
            compose=compose,
            leak_markers=markers,
        )
        timings["cases"] = round(time.perf_counter() - cases_started, 3)
        teardown_started = time.perf_counter()
        harness.snapshot_workspaces(codex_evidence, workspace_root)
        if settings.mode == "live":
            _roll_back(
                report,
                settings,
                compose,
                rollback_files,
                codex_evidence,
                codex_redactor,
                workspace_root,
                markers,
            )
    timings["teardown"] = round(time.perf_counter() - teardown_started, 3)


def _roll_back(
    report: dict[str, Any],
    settings: Settings,
    compose: stack.Compose,
    files: tuple[Path, ...],
    live: EvidenceBundle,
    redactor: Redactor,
    workspace_root: Path,
    markers: tuple[str, ...],
) -> None:
    mocked = EvidenceBundle(
        settings.evidence_dir, "mocked", redactor, timestamp=live.path.parent.name
    )
    outcome = roll_back(
        compose,
        files,
        mocked,
        workspace_root=workspace_root,
        leak_markers=markers,
        startup_timeout=settings.startup_timeout,
        request_timeout=settings.request_timeout,
    )
    report["rollback"] = {**outcome.as_dict(), "bundle": "../mocked"}
    mocked.finalize({"rollback_of": "live", "rollback": outcome.as_dict()})
    if not outcome.passed:
        pytest.fail(
            f"codex rollback to mocked mode failed: {outcome.error or outcome.cases}",
            pytrace=False,
        )


def _prepare_images(
    config: pytest.Config, settings: Settings, files: tuple[Path, ...], timings: dict[str, float]
) -> dict[str, str]:
    """Base image, wheelhouses and, for the bundled stack, its images; one progress line
    per step; a failure stops the session once. The variables compose needs."""
    context = stackfiles.assemble() if settings.compose_files is None else None
    if context is not None and (not files or files[0].parent != context.path):  # overridden
        context = None
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def progress(line: str) -> None:  # shown at once, not captured with the first case
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            (reporter.write_line if reporter is not None else images.to_stderr)(line)

    try:
        prepared = images.prepare(context, live=settings.mode == "live", progress=progress)
    except images.ImagePrepError as error:
        details = f"\n{error.details}" if error.details else ""
        pytest.exit(f"codex stack: {error}{details}", returncode=pytest.ExitCode.TESTS_FAILED)
    timings.update(prepared.timings)
    return prepared.env


@pytest.fixture(scope="session")
def codex_base_url(pytestconfig: pytest.Config, codex_stack: Stack) -> str:
    """The orchestrator's base URL, e.g. http://127.0.0.1:49153. Override it in a
    conftest.py to aim the matrices at an orchestrator you start yourself: then no
    stack is started (the same as --codex-base-url)."""
    pytestconfig.stash[STACK_KEY] = codex_stack
    return codex_stack.base_url


@pytest.fixture(scope="session")
def codex_api_token() -> str | None:
    """Bearer token sent to the orchestrator (CODEX_API_TOKEN), if any."""
    return os.environ.get("CODEX_API_TOKEN") or None


@pytest.fixture(scope="session")
def codex_harness(
    pytestconfig: pytest.Config,
    codex_settings: Settings,
    codex_base_url: str,
    codex_evidence: EvidenceBundle,
    codex_api_token: str | None,
) -> Harness:
    """Everything a matrix case needs; one per session."""
    stack_ = pytestconfig.stash.get(STACK_KEY, None)
    report = pytestconfig.stash[REPORT_KEY]
    if stack_ is None or stack_.base_url != codex_base_url:  # codex_base_url overridden
        stack_ = Stack(base_url=codex_base_url)
        report["target"] = {"base_url": codex_base_url, "from": "codex_base_url fixture"}
    return Harness(codex_settings, stack_, codex_evidence, codex_api_token, report)


@pytest.fixture
def codex_client(
    codex_base_url: str, codex_settings: Settings, codex_api_token: str | None
) -> Iterator[httpx.Client]:
    """An httpx client bound to the orchestrator, for your own Python tests."""
    headers = {"Authorization": f"Bearer {codex_api_token}"} if codex_api_token else {}
    with httpx.Client(
        base_url=codex_base_url, timeout=codex_settings.request_timeout, headers=headers
    ) as client:
        yield client


@pytest.hookimpl
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    report = config.stash.get(REPORT_KEY, {})
    if "bundle" not in report:
        return
    tally = report.get("tally", {})
    counts = ", ".join(f"{tally.get(k, 0)} {k}" for k in ("passed", "failed", "error"))
    terminalreporter.write_sep("-", "codex evidence")
    terminalreporter.write_line(f"bundle: {report['bundle']} ({counts})")
    if report.get("timings"):
        terminalreporter.write_line(
            "timings: "
            + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in report["timings"].items())
        )
    if "rollback" in report:
        verdict = "passed" if report["rollback"]["passed"] else "FAILED"
        terminalreporter.write_line(f"rollback to mocked: {verdict}")
    if "leak" in report:
        terminalreporter.write_line(f"SECRET SCAN FAILED: {report['leak']}", red=True)
