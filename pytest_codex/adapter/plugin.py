"""pytest hooks and fixtures of pytest-codex: an adapter over the engine modules.

Options are resolved once in `pytest_configure`; YAML matrices under `--codex-matrix`
become one item per case (`items.py`); session fixtures bring the orchestrator up with
pytest-docker, or use `--codex-base-url`, and write the evidence bundle. Every fixture
can be overridden in a conftest.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_codex.adapter import harness, startup
from pytest_codex.adapter import junit as reporting
from pytest_codex.adapter import xdist as parallel
from pytest_codex.adapter.harness import Harness, Stack
from pytest_codex.adapter.items import CaseItem, LoadItem, MatrixFile
from pytest_codex.adapter.stash import (
    LIVE_ENV_KEY,
    LIVE_TOKEN_KEY,
    REDACTOR_KEY,
    REPORT_KEY,
    SESSION_KEY,
    SETTINGS_KEY,
    SIGNAL_KEY,
    SIGNING_KEY,
    STACK_KEY,
)
from pytest_codex.bundle import session as session_mod
from pytest_codex.bundle import signing
from pytest_codex.bundle.writer import EvidenceBundle, SecretLeakError
from pytest_codex.config import envfile
from pytest_codex.config import settings as settings_mod
from pytest_codex.config.envfile import EnvFileError, LiveEnv
from pytest_codex.config.settings import RawOption, Settings, SettingsError
from pytest_codex.secrets.redact import Redactor
from pytest_codex.target import compose as stack
from pytest_codex.target import images, leftovers
from pytest_codex.target.rollback import RollbackFilesError, mocked_compose_files

if TYPE_CHECKING:  # imported where used: httpx costs ~0.1 s at every pytest start
    import httpx

# (option name, help, extra addoption arguments, ini type)
_OPTIONS: tuple[tuple[str, str, dict[str, Any], str], ...] = (
    (
        "mode",
        "run the matrices in this worker mode: mocked or live (without it, or its ini "
        "twin, a plain pytest only offers the fixtures).",
        {},
        "string",
    ),
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
    (
        "request-timeout",
        "seconds for one whole exchange, connect to last byte (default: 60; 360 in live mode).",
        {},
        "string",
    ),
    (
        "max-response-bytes",
        "a bigger response is cut and fails its case (default: 16 MiB).",
        {},
        "string",
    ),
    (
        "service",
        "compose service of the orchestrator (default: orchestrator).",
        {},
        "string",
    ),
    ("port", "container port the orchestrator listens on (default: 8000).", {}, "string"),
    (
        "health-path",
        "path whose 2xx answer means the orchestrator is ready (default: /healthz).",
        {},
        "string",
    ),
    (
        "workspace-root",
        "folder on this host holding the orchestrator's project workspaces "
        "(--codex-base-url runs: enables the outside canary, on_disk checks and snapshots).",
        {},
        "string",
    ),
    (
        "result-schema",
        "JSON Schema of your target's .codex/result.json; verify checks the bundle's "
        "result.json files against it (default: the reference orchestrator's).",
        {},
        "string",
    ),
    (
        "evidence-archive",
        "also write the bundle as <timestamp>/<mode>.tar.gz beside it.",
        {"action": "store_true", "default": None},
        "bool",
    ),
    (
        "evidence-keep",
        "keep only the N newest runs in the evidence folder (default: all).",
        {},
        "string",
    ),
    (
        "signing-key",
        "ed25519 private key (PEM file) that signs the bundle (default: $CODEX_SIGNING_KEY).",
        {},
        "string",
    ),
)


@pytest.hookimpl
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("codex", "Codex orchestrator validation (pytest-codex)")
    for name, help_text, extra, ini_type in _OPTIONS:
        dest = "codex_" + name.replace("-", "_")
        group.addoption(
            f"--codex-{name}",
            dest=dest,
            help=help_text[0].upper() + help_text[1:],
            **({"default": None} | extra),
        )
        parser.addini(dest, help_text[0].upper() + help_text[1:], type=ini_type)  # type: ignore[arg-type]


@pytest.hookimpl
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "codex: a case of a pytest-codex matrix")
    options = {}
    for name, *_ in _OPTIONS:
        dest = "codex_" + name.replace("-", "_")
        options[name.replace("-", "_")] = RawOption(
            cli=config.getoption(dest), ini=config.getini(dest)
        )
    invocation_dir = config.invocation_params.dir
    ignored = settings_mod.ignored_ini_file(
        invocation_dir, config.inipath, explicit=bool(config.getoption("inifilename"))
    )
    try:
        if ignored is not None:
            _refuse_space_form(config, ignored)
        settings = settings_mod.resolve(
            options,
            invocation_dir=invocation_dir,
            rootdir=config.rootpath,
            environ=os.environ,
            home=None if ignored is None else ignored.parent,
            ini_dir=None if config.inipath is None else config.inipath.parent,
        )
        if settings.mode_given:
            settings_mod.check_matrix_paths(settings)
            settings_mod.check_evidence_dir(settings)
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
    config.stash[REPORT_KEY] = {}
    config.stash[SESSION_KEY] = session_mod.SessionRecord(
        keyword=config.getoption("keyword") or None,
        markers=config.getoption("markexpr") or None,
        deselect=list(config.getoption("deselect") or []),
        args=list(config.args) if config.args_source == pytest.Config.ArgsSource.ARGS else [],
    )
    if settings.defaults_base is not None:
        _warn_rootdir(config, settings)
    config.pluginmanager.register(SessionWatcher(config), "codex-session-watcher")
    reporting.register(config)
    if parallel.is_controller(config) and _runs_matrices(config, settings):
        config.pluginmanager.register(parallel.Controller(config), "codex-xdist-controller")
    if settings.mode_given:
        _handle_sigterm(config)
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


def _refuse_space_form(config: pytest.Config, ignored: Path) -> None:
    """pytest ignored the ini file because it took a codex option's value for a path."""
    takes_value = {
        f"--codex-{name}" for name, _, extra, _ in _OPTIONS if extra.get("action") != "store_true"
    }
    pairs = [
        (option, value)
        for option, value in settings_mod.space_form_values(config.invocation_params.args)
        if option in takes_value
    ]
    if pairs:
        option, value = pairs[0]
        raise SettingsError(
            f"{option}: pytest took {value!r} for a test path and ignored {ignored}; "
            f"write {option}={value}"
        )


def _warn_rootdir(config: pytest.Config, settings: Settings) -> None:
    """pytest chose a rootdir that is not above the invocation directory, most often
    because an option's value was written after a space and taken for a path."""
    home = settings.defaults_base
    assert home is not None
    ini_files = [
        name
        for name in ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")
        if (home / name).is_file()
    ]
    ignored = f"; the ini file {home / ini_files[0]} was ignored" if ini_files else ""
    config.issue_config_time_warning(
        pytest.PytestConfigWarning(
            f"pytest-codex: pytest took {config.rootpath} as the rootdir, which is not above "
            f"{home}{ignored}; the codex defaults resolve against {home}. Write option values "
            "with '=' (e.g. --codex-evidence-dir=/tmp/x) so they are not taken for paths."
        ),
        stacklevel=2,
    )


def _handle_sigterm(config: pytest.Config) -> None:
    """SIGTERM (what CI runners send on cancel) ends the run like Ctrl-C: the stack is
    torn down and the bundle closed as interrupted. A second SIGTERM is ignored so that
    the teardown can finish."""
    if threading.current_thread() is not threading.main_thread():
        return
    if hasattr(config, "workerinput"):  # an xdist worker: the controller handles it
        return

    def on_sigterm(signum: int, frame: object) -> None:
        record = config.stash[SESSION_KEY]
        if record.signal is not None:
            return
        record.signal = "SIGTERM"
        record.stop(session_mod.INTERRUPTED, "SIGTERM")
        raise KeyboardInterrupt("SIGTERM")

    config.stash[SIGNAL_KEY] = signal.signal(signal.SIGTERM, on_sigterm)


@pytest.hookimpl
def pytest_unconfigure(config: pytest.Config) -> None:
    previous = config.stash.get(SIGNAL_KEY, None)
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


class SessionWatcher:
    """Hooks that fill the run's `SessionRecord`: what was collected and selected, and how
    the session ended. Registered per config, so no state lives at module level."""

    def __init__(self, config: pytest.Config) -> None:
        self.record = config.stash[SESSION_KEY]
        self.report = config.stash[REPORT_KEY]
        self.cases: dict[str, CaseItem] = {}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.record.selected = sum(isinstance(item, CaseItem | LoadItem) for item in items)
        self.record.collected = self.record.selected + self.record.deselected
        self.cases = {item.nodeid: item for item in items if isinstance(item, CaseItem)}

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # A case skipped before it ran (a skip marker) is recorded too: every selected
        # case ends in one recorded outcome.
        item = self.cases.get(report.nodeid)
        if item is not None and report.when == "setup" and report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else "skipped"
            self.report.setdefault("skipped_cases", []).append((item.case, str(reason)))

    @pytest.hookimpl
    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.record.deselected += sum(isinstance(item, CaseItem | LoadItem) for item in items)

    @pytest.hookimpl
    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        # Ctrl-C, SIGTERM (see _handle_sigterm) and pytest.exit all arrive here.
        exiting = isinstance(excinfo.value, pytest.exit.Exception)
        self.record.stop(
            session_mod.INTERRUPTED, "pytest.exit" if exiting else "KeyboardInterrupt"
        )

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        # Runs before the session fixtures are torn down, so the bundle sees the end.
        self.record.exitstatus = int(exitstatus)
        parallel.hand_over_session(session.config)
        if exitstatus == pytest.ExitCode.INTERNAL_ERROR:
            self.record.stop(session_mod.INTERNAL_ERROR, "pytest internal error")


def stop_session(config: pytest.Config, error: BaseException) -> None:
    """A target that cannot be started or reached stops the whole session once: the
    cause is printed in full at the end, the bundle records it, no item repeats it."""
    text = str(error)
    config.stash[SESSION_KEY].stop(session_mod.STACK_FAILURE, text.splitlines()[0])
    config.stash[REPORT_KEY]["stop"] = text
    pytest.exit(
        "pytest-codex: the session stopped; the cause is under 'codex evidence'", returncode=1
    )


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
    pytestconfig.stash[REPORT_KEY]["bundle"] = bundle.path
    started = time.perf_counter()
    yield bundle
    try:
        startup.close_bundle(pytestconfig, bundle, started)
    except SecretLeakError as error:
        pytest.fail(f"evidence: {error}", pytrace=False)


@pytest.fixture(scope="session")
def codex_compose_command(pytestconfig: pytest.Config) -> tuple[str, ...]:
    """The compose command: `docker compose` (v2) where present, else `docker-compose`."""
    try:
        return stack.detect_compose_command()
    except stack.StackError as error:
        stop_session(pytestconfig, error)
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
    codex_redactor: Redactor,
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
                    codex_redactor,
                    pytestconfig.stash[REPORT_KEY],
                    parts,
                    pytestconfig.stash[SIGNING_KEY],
                )
            )
        except stack.StackError as error:
            stop_session(pytestconfig, error)
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
    import httpx  # noqa: PLC0415 (only runs that use this fixture pay for the import)

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
    redactor = config.stash.get(REDACTOR_KEY, Redactor({}))

    def write(line: str, **markup: bool) -> None:
        terminalreporter.write_line(redactor.redact(line), **markup)

    terminalreporter.write_sep("-", "codex evidence")
    if "stop" in report:
        write(f"SESSION STOPPED: {report['stop']}", red=True)
    if "verdict" in report:
        write(report["verdict"])
    if report.get("signed"):
        write("signed: attestation.dsse.json (check with verify --key)")
    write(f"bundle: {report['bundle']}")
    review_page = Path(report["bundle"]) / "index.html"
    if review_page.is_file():
        write(f"review page: {review_page}")
    if "archive" in report:
        write(f"archive: {report['archive']}")
    if report.get("pruned"):
        write(f"removed {len(report['pruned'])} older run(s) (--codex-evidence-keep)")
    for line in report.get("checks_not_run", []):
        write(f"not checked: {line}", yellow=True)
    if report.get("timings"):
        write(
            "timings: "
            + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in report["timings"].items())
        )
    if "rollback" in report:
        verdict = "passed" if report["rollback"]["passed"] else "FAILED"
        write(f"rollback to mocked: {verdict}")
    if "leak" in report:
        write(f"SECRET SCAN FAILED: {report['leak']}", red=True)


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
