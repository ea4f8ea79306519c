"""pytest hooks and fixtures of pytest-codex: an adapter over the engine modules.

Options are resolved once in `pytest_configure`; YAML matrices under `--codex-matrix`
become one item per case (`items.py`); session fixtures bring the orchestrator up with
pytest-docker, or use `--codex-base-url`, and write the evidence bundle. Every fixture
can be overridden in a conftest.py.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_codex.adapter import closing, harness, options, startup
from pytest_codex.adapter import junit as reporting
from pytest_codex.adapter import session as session_hooks
from pytest_codex.adapter import xdist as parallel
from pytest_codex.adapter.harness import Harness, Stack
from pytest_codex.adapter.items import MatrixFile
from pytest_codex.adapter.stash import (
    LIVE_ENV_KEY,
    LIVE_TOKEN_KEY,
    RECORD_KEY,
    REDACTOR_KEY,
    SETTINGS_KEY,
    SIGNING_KEY,
    STACK_KEY,
)
from pytest_codex.bundle import signing
from pytest_codex.bundle.writer import EvidenceBundle, SecretLeakError
from pytest_codex.config import envfile
from pytest_codex.config import settings as settings_mod
from pytest_codex.config.envfile import EnvFileError, LiveEnv
from pytest_codex.config.settings import Settings, SettingsError
from pytest_codex.secrets.redact import Redactor
from pytest_codex.target import compose as stack
from pytest_codex.target import images, leftovers
from pytest_codex.target.rollback import RollbackFilesError, mocked_compose_files

if TYPE_CHECKING:  # imported where used: httpx costs ~0.1 s at every pytest start
    import httpx


@pytest.hookimpl
def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


@pytest.hookimpl
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "codex: a case of a pytest-codex matrix")
    try:
        settings = options.resolve_settings(config)
        live_env = (
            envfile.load(settings.env_file)
            if settings.mode == "live" and settings.env_file
            else None
        )
        signing_key = (
            None
            if settings.signing_key is None
            else signing.key_from_setting(settings.signing_key)
        )
    except (SettingsError, EnvFileError, signing.SigningError) as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[SIGNING_KEY] = signing_key
    config.stash[SETTINGS_KEY] = settings
    config.stash[LIVE_ENV_KEY] = live_env
    # A live stack the harness starts requires a fresh API token (xdist workers take the
    # controller's); it is a secret like the keys.
    token = parallel.shared_token(config) or harness.live_api_token(settings)
    config.stash[LIVE_TOKEN_KEY] = token
    secrets = live_env.secrets() if live_env is not None else {}
    if token is not None:
        secrets = {**secrets, "CODEX_API_TOKEN": token}
    config.stash[REDACTOR_KEY] = Redactor.from_environment(os.environ, secrets)
    config.stash[RECORD_KEY] = session_hooks.new_record(config)
    # With `-c FILE` pytest takes FILE's folder as its rootdir, as asked: no warning.
    if settings.defaults_base is not None and not config.getoption("inifilename"):
        options.warn_rootdir(config, settings)
    config.pluginmanager.register(session_hooks.SessionWatcher(config), "codex-session-watcher")
    reporting.register(config)
    if hasattr(config, "workerinput"):
        config.pluginmanager.register(parallel.WorkerRecords(config), "codex-worker-records")
    if parallel.is_controller(config) and _runs_matrices(config, settings):
        config.pluginmanager.register(parallel.Controller(config), "codex-xdist-controller")
    if settings.mode_given:
        session_hooks.handle_sigterm(config)
    # `pytest --codex-mode=...` with no paths runs the matrices, not the testpaths.
    if settings.mode_given and config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args = [str(path) for path in settings.matrix_paths]


def _runs_matrices(config: pytest.Config, settings: Settings) -> bool:
    """Whether this session runs matrices: --codex-mode (or its ini twin), or a path
    below the matrix folders named on the command line."""
    if settings.mode_given:
        return True
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        return False
    named = (Path(arg.split("::")[0]) for arg in config.args)
    return any(settings_mod.is_within(path, settings.matrix_paths) for path in named)


@pytest.hookimpl
def pytest_unconfigure(config: pytest.Config) -> None:
    session_hooks.restore_sigterm(config)


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
def codex_live_token(pytestconfig: pytest.Config) -> str | None:
    """The API token a live stack started by the harness requires (a fresh one per
    run, redacted everywhere); None in mocked mode or with --codex-base-url."""
    return pytestconfig.stash[LIVE_TOKEN_KEY]


@pytest.fixture(scope="session")
def codex_redactor(pytestconfig: pytest.Config) -> Redactor:
    """Removes secrets from the evidence: values of secret-named environment variables
    and every value of the live env file, in any encoding. The same one cleans pytest's
    failure text, captured output, JUnit XML and summary. Override to add values of your
    own (the evidence then uses yours)."""
    return pytestconfig.stash[REDACTOR_KEY]


@pytest.fixture(scope="session")
def codex_evidence(
    request: pytest.FixtureRequest,
    pytestconfig: pytest.Config,
    codex_settings: Settings,
    codex_redactor: Redactor,
    codex_live_env: LiveEnv | None,
) -> Iterator[EvidenceBundle]:
    """The run's evidence bundle, `<evidence-dir>/<UTC timestamp>/<mode>/`; finalised
    (manifest, summary, secret scan) when the session ends, also after failures."""
    shared = parallel.shared_bundle(pytestconfig, codex_redactor)
    if shared is not None:  # an xdist worker: the controller closes the bundle
        yield shared
        parallel.hand_over(pytestconfig, shared)
        return
    bundle = EvidenceBundle(codex_settings.evidence_dir, codex_settings.mode, codex_redactor)
    pytestconfig.stash[RECORD_KEY].bundle = bundle.path
    started = time.perf_counter()
    yield bundle
    session_hooks.note_early_stop(pytestconfig.stash[RECORD_KEY], request.session)
    try:
        closing.close_bundle(pytestconfig, bundle, started)
    except SecretLeakError as error:
        pytest.fail(f"evidence: {error}", pytrace=False)


@pytest.fixture(scope="session")
def codex_compose_command(pytestconfig: pytest.Config) -> tuple[str, ...]:
    """The compose command: `docker compose` (v2) where present, else `docker-compose`."""
    try:
        return stack.detect_compose_command()
    except stack.StackError as error:
        session_hooks.stop_session(pytestconfig, error)
        raise  # not reached: pytest.exit raised


@pytest.fixture(scope="session")
def codex_compose_files(codex_settings: Settings) -> tuple[Path, ...]:
    """Compose files that start the orchestrator (`--codex-compose-file`, default the
    bundled stack for the mode). The service is `--codex-service` (default orchestrator),
    its container port `--codex-port` (default 8000)."""
    if codex_settings.compose_files is not None:
        return codex_settings.compose_files
    return harness.bundled_compose_files(codex_settings.mode, codex_settings.live_model)


@pytest.fixture(scope="session")
def codex_rollback_compose_files(
    codex_settings: Settings, codex_compose_files: tuple[Path, ...]
) -> tuple[Path, ...]:
    """Compose files of the mocked stack a live run rolls back to (default: the bundled
    mocked stack, or your own files minus those named as live overlays, e.g.
    compose.live.yaml or docker-compose.hermetic.yml, with USE_DUMMY_WORKER=true)."""
    if codex_settings.compose_files is not None:
        try:
            return mocked_compose_files(codex_compose_files)
        except RollbackFilesError as error:
            pytest.fail(str(error), pytrace=False)
    return harness.bundled_compose_files("mocked", codex_settings.live_model)


@pytest.fixture(scope="session")
def codex_compose_project_name() -> str:
    """The compose project name, unique per run so that parallel runs never collide."""
    return leftovers.project_name()


@pytest.fixture(scope="session")
def codex_workspace_root(
    codex_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Host folder bind-mounted at the same path in the orchestrator container
    (`--codex-workspace-root`, default a fresh temporary folder)."""
    given = codex_settings.target.workspace_root
    return given if given is not None else tmp_path_factory.mktemp("codex-workspaces")


@pytest.fixture(scope="session")
def codex_stack(
    request: pytest.FixtureRequest,
    pytestconfig: pytest.Config,
    codex_settings: Settings,
    codex_live_env: LiveEnv | None,
    codex_evidence: EvidenceBundle,
    codex_live_token: str | None,
) -> Iterator[Stack]:
    """The orchestrator under test: brought up with pytest-docker and torn down with its
    volumes, or the one at `--codex-base-url`. Logs and workspaces go into the evidence;
    a live run ends with the rollback to mocked mode, proven by smoke cases. Under
    pytest-xdist the controller starts it once and every worker uses it."""
    shared = parallel.shared_stack(pytestconfig)
    if shared is not None:
        yield shared
        return
    parts = None
    with contextlib.ExitStack() as exits:
        try:
            if codex_settings.base_url is None:
                # Compose fixtures are asked for only here: a --codex-base-url run needs no
                # Docker.
                parts = startup.ComposeParts(
                    workspace_root=request.getfixturevalue("codex_workspace_root"),
                    command=request.getfixturevalue("codex_compose_command"),
                    files=request.getfixturevalue("codex_compose_files"),
                    project=request.getfixturevalue("codex_compose_project_name"),
                    rollback_files=(
                        request.getfixturevalue("codex_rollback_compose_files")
                        if codex_settings.mode == "live"
                        else ()
                    ),
                    api_token=codex_live_token,
                    progress=_progress_writer(pytestconfig),
                )
            running = exits.enter_context(
                startup.target_session(
                    codex_settings,
                    codex_live_env,
                    codex_evidence,
                    pytestconfig.stash[RECORD_KEY],
                    parts,
                    pytestconfig.stash[SIGNING_KEY],
                )
            )
        except stack.StackError as error:
            session_hooks.stop_session(pytestconfig, error)
        yield running


def _progress_writer(config: pytest.Config) -> Callable[[str], None]:
    """Lines shown at once on the terminal (not captured with the first case)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def write(line: str) -> None:
        if reporter is None:
            images.to_stderr(line)
            return
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            reporter.write_line(line)

    return write


@pytest.fixture(scope="session")
def codex_base_url(pytestconfig: pytest.Config, codex_stack: Stack) -> str:
    """The orchestrator's base URL, e.g. http://127.0.0.1:49153. Override it in a
    conftest.py to aim the matrices at an orchestrator you start yourself: then no
    stack is started (the same as --codex-base-url)."""
    pytestconfig.stash[STACK_KEY] = codex_stack
    return codex_stack.base_url


@pytest.fixture(scope="session")
def codex_api_token(pytestconfig: pytest.Config, codex_base_url: str) -> str | None:
    """Bearer token sent to the orchestrator: the one a live stack started by the
    harness requires, else CODEX_API_TOKEN from the environment, if any."""
    stack_ = pytestconfig.stash.get(STACK_KEY, None)
    if stack_ is not None and stack_.base_url == codex_base_url and stack_.api_token:
        return stack_.api_token
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
    record = pytestconfig.stash[RECORD_KEY]
    if stack_ is None or stack_.base_url != codex_base_url:  # codex_base_url overridden
        stack_ = Stack(base_url=codex_base_url)
        record.target = {"base_url": codex_base_url, "from": "codex_base_url fixture"}
    return Harness(codex_settings, stack_, codex_evidence, codex_api_token, record)


@pytest.fixture
def codex_client(
    codex_base_url: str, codex_settings: Settings, codex_api_token: str | None
) -> Iterator[httpx.Client]:
    """An httpx client bound to the orchestrator, for your own Python tests."""
    import httpx  # noqa: PLC0415 (only runs that use this fixture pay for the import)

    headers = {"Authorization": f"Bearer {codex_api_token}"} if codex_api_token else {}
    with httpx.Client(
        base_url=codex_base_url, timeout=codex_settings.request_timeout, headers=headers
    ) as client:
        yield client


@pytest.hookimpl
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session_hooks.terminal_summary(terminalreporter, config)


# One redaction path for what pytest prints and writes (terminal, JUnit XML, -r summary):
# every report's failure text and captured sections pass the run's redactor.


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item,
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    _redact_report(report, item.config)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    _redact_report(report, collector.config)
    return report


def _redact_report(
    report: pytest.TestReport | pytest.CollectReport, config: pytest.Config
) -> None:
    redactor = config.stash.get(REDACTOR_KEY, None)
    if redactor is None or not redactor.names:
        return
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip: (path, line, reason)
        path, line, reason = longrepr
        report.longrepr = (path, line, redactor.redact(reason))
    elif longrepr is not None:
        text = report.longreprtext
        crash = getattr(getattr(longrepr, "reprcrash", None), "message", "")
        clean = redactor.redact(text)
        if clean != text or redactor.redact(crash) != crash:
            report.longrepr = clean  # plain text: the terminal and JUnit print it as it is
    report.sections = [(title, redactor.redact(content)) for title, content in report.sections]
