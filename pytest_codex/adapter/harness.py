"""The run's moving parts behind the fixtures: the stack brought up with pytest-docker,
the live environment, the per-case context, and what goes into the evidence at the end.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pytest_docker.plugin import Services, get_docker_services

from pytest_codex.bundle.record import CaseRecord, RunRecord
from pytest_codex.bundle.writer import EvidenceBundle
from pytest_codex.cases import outages
from pytest_codex.cases.runner import CaseOutcome, RunContext
from pytest_codex.config.envfile import PASSED_VARIABLES, LiveEnv
from pytest_codex.config.settings import Settings, Target
from pytest_codex.matrix.files import Case
from pytest_codex.target import compose as stack
from pytest_codex.target import hostguard, leftovers, stackfiles
from pytest_codex.target import workspaces as snapshots

LEAK_MARKERS = ("root:x:0:0:",)  # the first line of any Linux /etc/passwd
# Teardown: volumes, and images compose built for a service without `image:` (named after
# the run's project, so one per run would pile up); tagged images (`image:`) stay.
DOWN = ("down", "-v", "--rmi", "local", "--remove-orphans", "-t", "5")
SERVICE_DIR = Path(__file__).resolve().parents[2] / "service"


def bundled_compose_files(mode: str, live_model: str) -> tuple[Path, ...]:
    """The bundled stack for a mode: mocked, live, or live with the model stand-in; from
    the build context assembled in the cache (the same for a checkout and a wheel)."""
    try:
        context = stackfiles.assemble()
    except stackfiles.StackFilesError as error:
        raise stack.StackError(f"codex stack: {error}") from None
    return context.compose_files(mode, live_model)


@dataclass
class Stack:
    """Where the orchestrator answers and, when the harness started it, its parts."""

    base_url: str
    workspace_root: Path | None = None
    compose: stack.Compose | None = None
    leak_markers: tuple[str, ...] = LEAK_MARKERS
    api_token: str | None = None  # the token a started live stack requires


@dataclass
class Harness:
    """What every case needs: the target, the bundle, the timeouts, the run's report."""

    settings: Settings
    stack: Stack
    evidence: EvidenceBundle
    api_token: str | None
    run: RunRecord = field(default_factory=RunRecord)

    def context(self, variables: dict[str, str]) -> RunContext:
        wait = self.settings.outage_wait
        return RunContext(
            base_url=self.stack.base_url,
            evidence=self.evidence,
            variables=variables,
            workspace_root=self.stack.workspace_root,
            leak_markers=self.stack.leak_markers,
            timeout=self.settings.request_timeout,
            api_token=self.api_token,
            max_body=self.settings.max_response_bytes,
            traversal_policy=self.settings.traversal_policy,
            outages=None
            if wait <= 0
            else outages.Target(
                self.stack.base_url,
                self.settings.target.health_path,
                wait,
                self.run.outages,
            ),
        )

    def record(self, case: Case, outcome: CaseOutcome, *, role: str = "selected") -> None:
        """A matrix case's outcome into the bundle, named as the run names its file."""
        self.evidence.record(
            CaseRecord(
                case.name,
                case.file.name,
                outcome.outcome,
                outcome.elapsed_ms,
                matrix=self.matrix_of(case),
                role=role,
                status=outcome.status,
                evidence=outcome.evidence,
                message=outcome.message,
            )
        )

    def matrix_of(self, case: Case) -> str:
        return case.matrix_key or matrix_label(case.file, self.settings.matrix_paths)


def matrix_label(path: Path, roots: tuple[Path, ...]) -> str:
    """A matrix file as the bundle names it: below the `--codex-matrix` entry holding it
    (`matrices/mocked.yaml`), so two files of the same name in two folders stay apart."""
    for root in roots:
        if root.is_dir() and root in path.parents:
            return f"{root.name}/{path.relative_to(root).as_posix()}"
    return path.name


def live_api_token(settings: Settings) -> str | None:
    """A fresh API token for a live stack the harness starts (None otherwise): the
    stack requires it on /api/, the cases send it, the redactor knows it."""
    if settings.mode != "live" or settings.base_url is not None:
        return None
    return secrets.token_urlsafe(32)


def free_host_port() -> int:
    """A free port on 127.0.0.1 for the orchestrator, so a restart keeps the URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stack_environment(
    settings: Settings,
    live_env: LiveEnv | None,
    workspace_root: Path,
    project: str,
    api_token: str | None = None,
) -> dict[str, str]:
    """What compose needs to see, on top of the harness's own environment."""
    env = {
        "CODEX_WORKSPACE_ROOT": str(workspace_root),
        "CODEX_RUN_ID": project,
        "USE_DUMMY_WORKER": "true" if settings.mode == "mocked" else "false",
        "CODEX_HOST_PORT": str(free_host_port()),
    }
    if api_token is not None:
        env["CODEX_API_TOKEN"] = api_token
    if live_env is not None:
        env |= {
            name: live_env.values[name] for name in PASSED_VARIABLES if live_env.values.get(name)
        }
        if settings.live_model == "stub":
            env["MODEL_STUB_EXPECTED_KEY"] = live_env.values["OPENAI_API_KEY"]
    return env


@contextlib.contextmanager
def compose_stack(
    settings: Settings, compose: stack.Compose, evidence: EvidenceBundle, timings: dict[str, float]
) -> Iterator[str]:
    """Bring the stack up with pytest-docker, wait for /healthz, yield the base URL, and
    always tear down (also when start-up fails), keeping the logs in the evidence."""
    cleanup = [] if settings.keep_stack else [" ".join(DOWN)]
    started = time.perf_counter()
    follower = stack.LogFollower(compose)
    with pytest.MonkeyPatch.context() as patch, contextlib.ExitStack() as exits:
        for name, value in compose.env.items():
            if os.environ.get(name) != value:
                patch.setenv(name, value)
        if not settings.keep_stack:
            # Registered first, so they run last: after pytest-docker's `down`. The run's
            # workers go too (SIGTERM, Ctrl-C or a failure mid-job leaves them running).
            exits.callback(_keep_followed_logs, follower, evidence)
            exits.callback(leftovers.remove_workers, compose.project)
        try:
            services = exits.enter_context(
                get_docker_services(
                    stack.shell_command(compose.command),
                    [str(f) for f in compose.files],
                    compose.project,
                    ["up --build -d"],
                    cleanup,
                )
            )
        except Exception as error:  # pytest-docker raises a bare Exception
            _keep_logs(compose, evidence)
            if not settings.keep_stack:
                _down(compose)  # a half-started stack is torn down too
            raise stack.StackError(
                "codex stack: compose up failed; fix the compose files or the images "
                f"(see the output below), then rerun:{stack.port_clash_hint(str(error))}\n"
                f"{stack.tail(str(error), 25)}"
            ) from None
        except BaseException:  # Ctrl-C or SIGTERM during `up`: pytest-docker's own
            if not settings.keep_stack:  # cleanup is not registered yet
                _down(compose)
            raise
        if settings.keep_stack:
            exits.callback(_keep_logs, compose, evidence)  # the stack stays: a copy now
        else:
            follower.start()
        if settings.mode == "live":
            guard = exits.enter_context(hostguard.guarded(compose.project))
            evidence.write_json("sandbox/host-guard.json", guard.as_dict())
        base_url = _wait_healthy(services, compose, settings.target, settings.startup_timeout)
        timings["stack_start"] = round(time.perf_counter() - started, 3)
        yield base_url


def _wait_healthy(
    services: Services, compose: stack.Compose, target: Target, timeout: float
) -> str:
    try:
        port = compose.published_port(target.service, target.port)
    except stack.StackError as error:
        raise _start_failure(
            compose,
            f"no published port for service {target.service!r}, container port {target.port} "
            f"({' '.join(str(error).split())[-160:]}); check that the service is running "
            "and publishes that port, or set --codex-service / --codex-port",
        ) from None
    base_url = f"http://127.0.0.1:{port}"
    try:
        services.wait_until_responsive(
            lambda: stack.probe(base_url, path=target.health_path), timeout, pause=0.1
        )
    except Exception:  # pytest-docker's time-out is a bare Exception
        raise _start_failure(
            compose,
            f"{base_url}{target.health_path} did not answer 2xx within {timeout:.0f} s; "
            "raise --codex-startup-timeout or set --codex-health-path to a path that "
            "answers when the orchestrator is ready",
        ) from None
    return base_url


def _start_failure(compose: stack.Compose, what: str) -> stack.StackError:
    logs = stack.tail(compose.logs(), 20)
    return stack.StackError(f"codex stack: {what}\nlast service log lines:\n{logs}")


def _down(compose: stack.Compose) -> None:
    with contextlib.suppress(stack.StackError):
        compose.run(*DOWN)


def _keep_logs(compose: stack.Compose, evidence: EvidenceBundle) -> None:
    write_logs(evidence, compose.logs())


def write_logs(evidence: EvidenceBundle, logs: str) -> None:
    """The service logs (capped) and the model stand-in's request log, into the bundle."""
    evidence.write_bytes("logs/service.log", snapshots.cap(logs.encode("utf-8", "replace")))
    requests = model_stub_requests(logs)
    if requests:
        evidence.write_text("model-stub/requests.jsonl", requests)


def _keep_followed_logs(follower: stack.LogFollower, evidence: EvidenceBundle) -> None:
    logs = follower.finish()
    if logs is None:
        return  # start-up failed: the logs were kept then
    write_logs(evidence, logs)


def model_stub_requests(logs: str) -> str:
    """The model stand-in's request log (path, header names, scenario, status; never a
    header value) as JSON lines, taken from the compose logs."""
    lines = []
    for line in logs.splitlines():
        service, _, rest = line.partition("|")
        if not service.strip().startswith("model-stub") or '"event": "request"' not in rest:
            continue
        lines.append(rest[rest.index("{") :])
    return "".join(f"{line}\n" for line in lines)
