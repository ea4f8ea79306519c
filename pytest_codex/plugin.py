"""pytest hooks and fixtures of pytest-codex: an adapter over the engine modules.

Options are resolved once in `pytest_configure`; YAML matrices under `--codex-matrix`
become one item per case; session fixtures bring the orchestrator up with pytest-docker
(or use `--codex-base-url`) and write the evidence bundle. Every fixture can be
overridden in a conftest.py.
"""

from __future__ import annotations

import os
import platform
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_docker.plugin import Services, get_docker_services

import pytest_codex
from pytest_codex import settings as settings_mod
from pytest_codex import stack
from pytest_codex.evidence import EvidenceBundle, SecretLeakError
from pytest_codex.matrix import Case, MatrixError, load_matrix
from pytest_codex.redact import Redactor
from pytest_codex.runner import CaseFailedError, MissingVariableError, RunContext, run_case
from pytest_codex.settings import RawOption, Settings, SettingsError

SETTINGS_KEY = pytest.StashKey[Settings]()
REPORT_KEY = pytest.StashKey[dict[str, Any]]()
LEAK_MARKERS = ("root:x:0:0:",)  # the first line of any Linux /etc/passwd

_OPTIONS = (
    # name, help, extra add_option kwargs, ini type
    ("mode", "which worker the orchestrator uses: mocked (default) or live.", {}, "string"),
    ("base-url", "test an orchestrator already running at this URL; no compose then.", {},
     "string"),
    ("compose-file", "compose file that starts the orchestrator; repeatable "
     "(default: the bundled service/compose.yaml).", {"action": "append"}, "paths"),
    ("matrix", "matrix file or folder to run; repeatable (default: matrices/).",
     {"action": "append"}, "paths"),
    ("evidence-dir", "where evidence bundles are written (default: docs/evidence).", {},
     "string"),
    ("env-file", "env file with the live keys (default in live mode: .env.live).", {},
     "string"),
    ("keep-stack", "leave the compose stack running after the run.",
     {"action": "store_true", "default": None}, "bool"),
    ("startup-timeout", "seconds to wait for the orchestrator to become healthy "
     "(default: 120).", {}, "string"),
    ("request-timeout", "seconds to wait for one response (default: 60).", {}, "string"),
)


@pytest.hookimpl
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("codex", "Codex orchestrator validation (pytest-codex)")
    for name, help_text, kwargs, ini_type in _OPTIONS:
        dest = "codex_" + name.replace("-", "_")
        group.addoption(f"--codex-{name}", dest=dest, help=help_text.capitalize(),
                        **({"default": None} | kwargs))
        parser.addini(dest, help_text.capitalize(), type=ini_type)  # type: ignore[arg-type]


def default_compose_files() -> tuple[Path, ...]:
    """The bundled stack: service/compose.yaml beside the orchestrator package."""
    import codex_orchestrator  # noqa: PLC0415 - only to locate the bundled files

    return (Path(codex_orchestrator.__file__).resolve().parent.parent / "compose.yaml",)


@pytest.hookimpl
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "codex: a case of a pytest-codex matrix")
    options = {}
    for name, *_ in _OPTIONS:
        dest = "codex_" + name.replace("-", "_")
        options[dest.removeprefix("codex_")] = RawOption(
            cli=config.getoption(dest), ini=config.getini(dest)
        )
    try:
        settings = settings_mod.resolve(
            options,
            invocation_dir=config.invocation_params.dir,
            rootdir=config.rootpath,
            default_compose_files=default_compose_files(),
        )
        if settings.mode_given:
            settings_mod.check_matrix_paths(settings)
    except SettingsError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[SETTINGS_KEY] = settings
    config.stash[REPORT_KEY] = {}
    # `pytest --codex-mode=...` with no paths runs the matrices, not the testpaths.
    if settings.mode_given and config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args = [str(path) for path in settings.matrix_paths]


@pytest.hookimpl
def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> MatrixFile | None:
    settings = parent.config.stash[SETTINGS_KEY]
    if file_path.suffix in (".yaml", ".yml") and settings_mod.is_within(
        file_path, settings.matrix_paths
    ):
        return MatrixFile.from_parent(parent, path=file_path)
    return None


class MatrixFile(pytest.File):
    """A YAML matrix: validated once, here; its cases share saved variables."""

    def collect(self) -> Iterator[CaseItem]:
        try:
            matrix = load_matrix(self.path)
        except MatrixError as error:
            raise self.CollectError(str(error)) from None
        self.variables: dict[str, str] = {}
        mode = self.config.stash[SETTINGS_KEY].mode
        for case in matrix.cases:
            if case.runs_in(mode):
                yield CaseItem.from_parent(self, name=case.name, case=case,
                                           callobj=_matrix_case)


def _matrix_case(codex_harness: Harness) -> None:
    """Placeholder whose signature tells pytest which fixtures a case needs; the
    case itself runs in `CaseItem.runtest`."""


class CaseItem(pytest.Function):
    """One matrix case: one request, its expectations, its evidence."""

    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.add_marker("codex")

    def runtest(self) -> None:
        harness: Harness = self.funcargs["codex_harness"]
        assert isinstance(self.parent, MatrixFile)
        context = harness.context(self.parent.variables)
        started = time.perf_counter()
        try:
            outcome = run_case(self.case, context)
        except CaseFailedError as failure:
            harness.record(self.case, failure.outcome.outcome, failure.outcome.status,
                           failure.outcome.elapsed_ms, failure.outcome.evidence, str(failure))
            raise
        except MissingVariableError as error:
            harness.record(self.case, "error", None,
                           (time.perf_counter() - started) * 1000, None, str(error))
            raise
        harness.record(self.case, "passed", outcome.status, outcome.elapsed_ms,
                       outcome.evidence, None)

    def repr_failure(  # type: ignore[override]
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | Any:
        if isinstance(excinfo.value, CaseFailedError | MissingVariableError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        line = None if self.case.line is None else self.case.line - 1
        return self.path, line, f"{self.path.name}::{self.case.name}"


@dataclass
class Stack:
    """Where the orchestrator answers and, when the harness started it, its parts."""

    base_url: str
    workspace_root: Path | None = None
    compose: stack.Compose | None = None
    leak_markers: tuple[str, ...] = LEAK_MARKERS
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Harness:
    """What every case needs: the target, the bundle, the timeouts."""

    settings: Settings
    stack: Stack
    evidence: EvidenceBundle
    api_token: str | None
    report: dict[str, Any]

    def context(self, variables: dict[str, str]) -> RunContext:
        return RunContext(
            base_url=self.stack.base_url,
            evidence=self.evidence,
            variables=variables,
            workspace_root=self.stack.workspace_root,
            leak_markers=self.stack.leak_markers,
            timeout=self.settings.request_timeout,
            api_token=self.api_token,
        )

    def record(self, case: Case, outcome: str, status: int | None, elapsed_ms: float,
               evidence: str | None, message: str | None) -> None:
        self.evidence.record_case(case.name, case.file.name, outcome, status, elapsed_ms,
                                  evidence, message)
        self.report.setdefault(outcome, 0)
        self.report[outcome] += 1


@pytest.fixture(scope="session")
def codex_settings(pytestconfig: pytest.Config) -> Settings:
    """The resolved `codex` options (command line over ini over default)."""
    return pytestconfig.stash[SETTINGS_KEY]


@pytest.fixture(scope="session")
def codex_redactor() -> Redactor:
    """Removes every secret-named environment variable's value from evidence.
    Override to add values of your own."""
    return Redactor.from_environment(os.environ)


@pytest.fixture(scope="session")
def codex_evidence(
    pytestconfig: pytest.Config, codex_settings: Settings, codex_redactor: Redactor
) -> Iterator[EvidenceBundle]:
    """The run's evidence bundle, `<evidence-dir>/<UTC timestamp>/<mode>/`; finalised
    (manifest, summary, secret scan) when the session ends, also after failures."""
    bundle = EvidenceBundle(codex_settings.evidence_dir, codex_settings.mode, codex_redactor)
    report = pytestconfig.stash[REPORT_KEY]
    report["bundle"] = bundle.path
    started = time.perf_counter()
    yield bundle
    metadata = {
        "versions": {
            "pytest_codex": pytest_codex.__version__,
            "pytest": pytest.__version__,
            "python": platform.python_version(),
            "docker": report.get("docker_version", "not used"),
            "target": report.get("target_version", "unknown"),
        },
        "target": report.get("target", {}),
        "timings_s": {**report.get("timings", {}),
                      "session": round(time.perf_counter() - started, 3)},
    }
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
    bundled stack). Its service must be named `orchestrator` and publish port 8000."""
    return codex_settings.compose_files


@pytest.fixture(scope="session")
def codex_compose_project_name() -> str:
    """The compose project name, unique per run so that parallel runs never collide."""
    return f"pytest-codex-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session")
def codex_workspace_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Host folder bind-mounted at the same path in the orchestrator container."""
    return tmp_path_factory.mktemp("codex-workspaces")


@pytest.fixture(scope="session")
def codex_stack(
    pytestconfig: pytest.Config,
    codex_settings: Settings,
    codex_evidence: EvidenceBundle,
    codex_workspace_root: Path,
    codex_compose_command: tuple[str, ...],
    codex_compose_files: tuple[Path, ...],
    codex_compose_project_name: str,
) -> Iterator[Stack]:
    """The orchestrator under test: brought up with pytest-docker and torn down with
    its volumes, or the one at `--codex-base-url`. Service logs go into the evidence."""
    report = pytestconfig.stash[REPORT_KEY]
    if codex_settings.base_url is not None:
        report["target"] = {"base_url": codex_settings.base_url, "compose": None}
        report["target_version"] = stack.health(codex_settings.base_url, 10).get("version")
        yield Stack(base_url=codex_settings.base_url)
        return
    yield from _compose_stack(report, codex_settings, codex_evidence, codex_workspace_root,
                              codex_compose_command, codex_compose_files,
                              codex_compose_project_name)


def _compose_stack(report: dict[str, Any], settings: Settings, evidence: EvidenceBundle,
                   workspace_root: Path, command: tuple[str, ...], files: tuple[Path, ...],
                   project: str) -> Iterator[Stack]:
    env = {"CODEX_WORKSPACE_ROOT": str(workspace_root),
           "USE_DUMMY_WORKER": "true" if settings.mode == "mocked" else "false"}
    compose = stack.Compose(command, files, project, {**os.environ, **env})
    canary = stack.plant_outside_canary(workspace_root)
    timings: dict[str, float] = {}
    report["timings"] = timings
    report["docker_version"] = stack.docker_server_version()
    report["target"] = {"compose_files": [str(f) for f in files], "project": project}
    cleanup = [] if settings.keep_stack else ["down -v --remove-orphans -t 5"]
    started = time.perf_counter()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        try:
            services_cm = get_docker_services(stack.shell_command(command),
                                              [str(f) for f in files], project,
                                              ["up --build -d"], cleanup)
            services = services_cm.__enter__()
        except Exception as error:  # pytest-docker raises a bare Exception
            logs = compose.logs()
            _down(compose)
            evidence.write_text("logs/service.log", logs)
            pytest.fail(f"codex stack: compose up failed: {stack.tail(str(error), 20)}",
                        pytrace=False)
        try:
            base_url = _wait_healthy(services, compose, settings)
            timings["stack_start"] = round(time.perf_counter() - started, 3)
            report["target"]["base_url"] = base_url
            report["target_version"] = stack.health(base_url, 10).get("version")
            cases_started = time.perf_counter()
            yield Stack(base_url=base_url, workspace_root=workspace_root, compose=compose,
                        leak_markers=(*LEAK_MARKERS, canary), timings=timings)
            timings["cases"] = round(time.perf_counter() - cases_started, 3)
        finally:
            teardown_started = time.perf_counter()
            evidence.write_text("logs/service.log", compose.logs())
            _snapshot_workspaces(evidence, workspace_root)
            services_cm.__exit__(None, None, None)
            timings["teardown"] = round(time.perf_counter() - teardown_started, 3)


def _wait_healthy(services: Services, compose: stack.Compose, settings: Settings) -> str:
    try:
        port = services.port_for(stack.DEFAULT_SERVICE, stack.DEFAULT_PORT)
    except Exception as error:  # pytest-docker raises bare exceptions
        raise _start_failure(compose, f"no published port for "
                             f"{stack.DEFAULT_SERVICE}:{stack.DEFAULT_PORT} ({error})") from None
    base_url = f"http://127.0.0.1:{port}"
    try:
        services.wait_until_responsive(lambda: stack.probe(base_url), settings.startup_timeout,
                                       pause=0.25)
    except Exception:  # pytest-docker's timeout is a bare Exception
        raise _start_failure(compose, f"{base_url}/healthz did not answer 200 within "
                             f"{settings.startup_timeout:.0f} s (--codex-startup-timeout)"
                             ) from None
    return base_url


def _start_failure(compose: stack.Compose, what: str) -> pytest.fail.Exception:
    logs = stack.tail(compose.logs(), 20)
    return pytest.fail.Exception(f"codex stack: {what}; last service log lines:\n{logs}",
                                 pytrace=False)


def _down(compose: stack.Compose) -> None:
    try:
        compose.run("down", "-v", "--remove-orphans", "-t", "5")
    except stack.StackError:
        pass


def _snapshot_workspaces(evidence: EvidenceBundle, workspace_root: Path) -> None:
    """Each project's file listing with sizes and its result.json, read from disk."""
    for project_id in stack.project_ids(workspace_root):
        workspace = workspace_root / project_id
        evidence.write_json(f"workspaces/{project_id}.json",
                            {"project_id": project_id, "files": stack.listing(workspace)})
        result = stack.read_result(workspace)
        if result is not None:
            evidence.write_json(f"results/{project_id}/result.json", result)


@pytest.fixture(scope="session")
def codex_base_url(codex_stack: Stack) -> str:
    """The orchestrator's base URL, e.g. http://127.0.0.1:49153."""
    return codex_stack.base_url


@pytest.fixture(scope="session")
def codex_api_token() -> str | None:
    """Bearer token sent to the orchestrator (CODEX_API_TOKEN), if any."""
    return os.environ.get("CODEX_API_TOKEN") or None


@pytest.fixture(scope="session")
def codex_harness(
    pytestconfig: pytest.Config,
    codex_settings: Settings,
    codex_stack: Stack,
    codex_evidence: EvidenceBundle,
    codex_api_token: str | None,
) -> Harness:
    """Everything a matrix case needs; one per session."""
    return Harness(codex_settings, codex_stack, codex_evidence, codex_api_token,
                   pytestconfig.stash[REPORT_KEY])


@pytest.fixture
def codex_client(
    codex_base_url: str, codex_settings: Settings, codex_api_token: str | None
) -> Iterator[httpx.Client]:
    """An httpx client bound to the orchestrator, for your own Python tests."""
    headers = {"Authorization": f"Bearer {codex_api_token}"} if codex_api_token else {}
    with httpx.Client(base_url=codex_base_url, timeout=codex_settings.request_timeout,
                      headers=headers) as client:
        yield client


@pytest.hookimpl
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    report = config.stash.get(REPORT_KEY, {})
    bundle = report.get("bundle")
    if bundle is None:
        return
    counts = ", ".join(f"{report.get(k, 0)} {k}" for k in ("passed", "failed", "error"))
    terminalreporter.write_sep("-", "codex evidence")
    terminalreporter.write_line(f"bundle: {bundle} ({counts})")
    timings = report.get("timings")
    if timings:
        terminalreporter.write_line("timings: " + ", ".join(
            f"{name} {seconds:.2f} s" for name, seconds in timings.items()))
    if "leak" in report:
        terminalreporter.write_line(f"SECRET SCAN FAILED: {report['leak']}", red=True)
