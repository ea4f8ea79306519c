"""The bundled stack on a Docker Swarm for a session (`--codex-engine=swarm`): deployed
with `docker stack deploy` (the images built locally first), the OPENAI_* secrets as
Docker secrets, waited on until healthy, and removed with its secrets at the end, its
service logs and workspaces kept in the evidence. Live jobs run as swarm job services
(CODEX_WORKER_BACKEND=swarm in service/swarm.live.yaml).

Not run on a swarm, and said so in the bundle: the rollback to mocked mode and the host
guard (docs/scale-out.md).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pytest_codex.adapter import harness
from pytest_codex.adapter.harness import Stack
from pytest_codex.bundle.record import RunRecord
from pytest_codex.bundle.writer import EvidenceBundle
from pytest_codex.config.envfile import LiveEnv
from pytest_codex.config.settings import Settings
from pytest_codex.target import compose as stack
from pytest_codex.target import images, swarm
from pytest_codex.target import workspaces as snapshots

if TYPE_CHECKING:
    from pytest_codex.adapter.startup import ComposeParts

HEALTH_PAUSE_S = 0.25  # between two health probes while the stack starts
NOT_RUN_ON_SWARM = (
    "rollback to mocked mode: not run with --codex-engine=swarm (run the compose engine "
    "for the rollback proof)",
    "host guard: not installed with --codex-engine=swarm (the hermetic workers network "
    "is an internal overlay network instead)",
)


def secret_values(env: Mapping[str, str]) -> dict[str, str]:
    """What becomes the stack's Docker secrets (taken out of deploy's environment)."""
    return {variable: env[variable] for variable, _ in swarm.STACK_SECRETS if env.get(variable)}


@contextlib.contextmanager
def swarm_target(
    settings: Settings,
    live_env: LiveEnv | None,
    evidence: EvidenceBundle,
    record: RunRecord,
    parts: ComposeParts,
    prepared: Mapping[str, str],
) -> Iterator[Stack]:
    if swarm.swarm_state() != "active":
        raise stack.StackError(
            "codex stack: --codex-engine=swarm needs the engine to be a swarm manager; run "
            "`docker swarm init --advertise-addr 127.0.0.1` (one node) or use "
            "--codex-engine=compose"
        )
    timings = record.timings
    env = harness.stack_environment(
        settings, live_env, parts.workspace_root, parts.project, parts.api_token
    )
    values = secret_values(env)
    deploy_env = {
        key: value
        for key, value in {**os.environ, **prepared, **env}.items()
        if key not in values and key not in swarm.SECRET_VARIABLES
    }
    deployed = swarm.SwarmStack(swarm.swarm_files(parts.files), parts.project, deploy_env)
    base_url = f"http://127.0.0.1:{env['CODEX_HOST_PORT']}"
    record.target = _described(settings, deployed, base_url)
    record.checks_not_run = [*record.checks_not_run, *NOT_RUN_ON_SWARM]
    record.docker_version = stack.docker_server_version()
    record.leftovers_removed = swarm.clean_stale()
    markers = (*harness.LEAK_MARKERS, stack.plant_outside_canary(parts.workspace_root))
    started = time.perf_counter()
    try:
        # Pinned first thing in the block, so the run's tags go with the stack.
        deployed.env = {**deployed.env, **_pushed(settings, prepared, parts.project, timings)}
        deployed.deploy(values, from_registry=settings.registry is not None)
        _wait_healthy(deployed, base_url, settings)
        timings["stack_start"] = round(time.perf_counter() - started, 3)
        health = stack.health(base_url, 10, settings.target.health_path)
        record.target_version = health.get("version")
        cases_started = time.perf_counter()
        yield Stack(
            base_url=base_url,
            workspace_root=parts.workspace_root,
            leak_markers=markers,
            api_token=parts.api_token,
        )
        timings["cases"] = round(time.perf_counter() - cases_started, 3)
        snapshots.snapshot_workspaces(evidence, parts.workspace_root)
    finally:
        teardown_started = time.perf_counter()
        harness.write_logs(evidence, deployed.logs())
        try:
            if not settings.keep_stack:
                deployed.remove()
        finally:
            (parts.workspace_root / stack.OUTSIDE_CANARY_NAME).unlink(missing_ok=True)
            timings["teardown"] = round(time.perf_counter() - teardown_started, 3)


def _pushed(
    settings: Settings, prepared: Mapping[str, str], run: str, timings: dict[str, float]
) -> dict[str, str]:
    """`prepared`, with the images this run built pinned to tags of the run and, with
    `--codex-registry`, pushed there; the variables naming them (CODEX_ORCHESTRATOR_IMAGE,
    CODEX_WORKER_IMAGE) for the stack files and the orchestrator's jobs."""
    orchestrator = prepared.get("CODEX_ORCHESTRATOR_IMAGE", images.ORCHESTRATOR_IMAGE)
    local = {"CODEX_ORCHESTRATOR_IMAGE": orchestrator}
    if settings.mode == "live":
        local["CODEX_WORKER_IMAGE"] = prepared.get("CODEX_WORKER_IMAGE", images.WORKER_IMAGE)
    pinned = swarm.pin_images(local, run)
    if settings.registry is None:
        return {**prepared, **pinned}
    started = time.perf_counter()
    pushed = swarm.push_images(settings.registry, pinned)
    timings["image_push"] = round(time.perf_counter() - started, 3)
    return {**prepared, **pushed}


def _described(settings: Settings, deployed: swarm.SwarmStack, base_url: str) -> dict[str, Any]:
    """The target as the bundle's manifest records it."""
    return {
        "engine": "swarm",
        "stack_files": [str(f) for f in deployed.files],
        "project": deployed.name,
        "service": settings.target.service,
        "port": settings.target.port,
        "health_path": settings.target.health_path,
        "base_url": base_url,
        "registry": settings.registry,
    }


def _wait_healthy(deployed: swarm.SwarmStack, base_url: str, settings: Settings) -> None:
    """Probe the health path until it answers 2xx, at most --codex-startup-timeout."""
    target = settings.target
    deadline = time.monotonic() + settings.startup_timeout
    while not stack.probe(base_url, path=target.health_path):
        if time.monotonic() >= deadline:
            logs = stack.tail(deployed.logs(), 20)
            raise stack.StackError(
                f"codex stack: {base_url}{target.health_path} did not answer 2xx within "
                f"{settings.startup_timeout:.0f} s of `docker stack deploy`; see "
                f"`docker stack ps {deployed.name}` or raise --codex-startup-timeout\n"
                f"last service log lines:\n{logs}"
            )
        time.sleep(HEALTH_PAUSE_S)
