"""Bringing the target up for a session and down again: the compose stack (pytest-docker),
or an orchestrator already running at `--codex-base-url`. Used by the `codex_stack`
fixture and, under pytest-xdist, by the controller, which starts one target for all
workers. A target that cannot be started or reached raises `stack.StackError`; the
plugin turns that into one stop of the session.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_codex.adapter import harness, swarmstart
from pytest_codex.adapter.harness import Stack
from pytest_codex.bundle import signing
from pytest_codex.bundle.record import STACK_FAILURE, RunRecord
from pytest_codex.bundle.writer import EvidenceBundle
from pytest_codex.config.envfile import LiveEnv
from pytest_codex.config.settings import Settings
from pytest_codex.secrets import patterns
from pytest_codex.target import compose as stack
from pytest_codex.target import images, leftovers, preflight, stackfiles
from pytest_codex.target import workspaces as snapshots
from pytest_codex.target.rollback import roll_back

NO_SAME_PATH_MOUNT = (
    "the compose service does not mount $CODEX_WORKSPACE_ROOT at the same path: add "
    "`- ${CODEX_WORKSPACE_ROOT}:${CODEX_WORKSPACE_ROOT}` to its volumes and use it as "
    "its workspace root"
)
NOT_RUN_WITHOUT_WORKSPACES = (
    "outside canary: no content planted beside the workspaces (the response is still "
    "checked for /etc/passwd lines)",
    "result.json on disk: not compared with the API's copy",
    "workspace snapshots: no listing or result.json of the projects in the bundle",
)


@dataclass(frozen=True)
class ComposeParts:
    """What a compose start needs beyond the settings (each part a fixture of its own)."""

    workspace_root: Path
    command: tuple[str, ...]
    files: tuple[Path, ...]
    project: str
    rollback_files: tuple[Path, ...] = ()
    api_token: str | None = None  # required by a live stack (harness.live_api_token)
    # Where the image preparation's progress lines go (default stderr).
    progress: Callable[[str], None] | None = None


@dataclass(frozen=True)
class LiveStack:
    """What the rollback needs of the live stack it replaces: its compose command and
    parts, the leak markers its cases used, and when the run began (its workers)."""

    compose: stack.Compose
    parts: ComposeParts
    markers: tuple[str, ...]
    run_started: float


@contextlib.contextmanager
def target_session(
    settings: Settings,
    live_env: LiveEnv | None,
    evidence: EvidenceBundle,
    record: RunRecord,
    parts: ComposeParts | None,
    signing_key: Any = None,
) -> Iterator[Stack]:
    """The target for the session's cases; `parts` None means `--codex-base-url`;
    `signing_key` also signs the rollback bundle of a live run. A live run against a
    real model asks the model endpoint once first (`preflight`): before images, stack or
    case, a rejected or unreachable endpoint stops the session with the cause."""
    if settings.mode == "live" and settings.live_model == "openai" and live_env is not None:
        record.model_preflight = preflight.check_model_endpoint(live_env.values)
    if parts is None:
        with _running_target(settings, evidence, record) as running:
            yield running
    elif settings.engine == "swarm":
        prepared = _prepare_images(settings, parts, record.timings)
        with swarmstart.swarm_target(settings, live_env, evidence, record, parts, prepared) as on:
            yield on
    else:
        with _compose_target(settings, live_env, evidence, record, parts, signing_key) as started:
            yield started


@contextlib.contextmanager
def _running_target(
    settings: Settings, evidence: EvidenceBundle, record: RunRecord
) -> Iterator[Stack]:
    """An orchestrator the harness did not start: its workspaces are checked only when
    `--codex-workspace-root` says where they are on this host."""
    target = settings.target
    base_url = str(settings.base_url)
    if not stack.probe(base_url, settings.request_timeout, target.health_path):
        raise stack.StackError(
            f"codex stack: {base_url}{target.health_path} does not answer 2xx; start the "
            "orchestrator, fix --codex-base-url, or set --codex-health-path to its "
            "readiness path"
        )
    record.target = {"base_url": base_url, "health_path": target.health_path}
    record.target_version = stack.health(base_url, 10, target.health_path).get("version")
    root = target.workspace_root
    if root is None:
        record.checks_not_run = [
            f"{line} (give --codex-workspace-root)" for line in NOT_RUN_WITHOUT_WORKSPACES
        ]
        yield Stack(base_url=base_url)
        return
    canary = stack.plant_outside_canary(root)
    record.target["workspace_root"] = str(root)
    try:
        yield Stack(
            base_url=base_url,
            workspace_root=root,
            leak_markers=(*harness.LEAK_MARKERS, canary),
        )
        seen = snapshots.snapshot_workspaces(evidence, root)
        record.worker_versions = list(seen.get("worker_versions", []))
    finally:
        (root / stack.OUTSIDE_CANARY_NAME).unlink(missing_ok=True)


@contextlib.contextmanager
def _compose_target(
    settings: Settings,
    live_env: LiveEnv | None,
    evidence: EvidenceBundle,
    record: RunRecord,
    parts: ComposeParts,
    signing_key: Any,
) -> Iterator[Stack]:
    target = settings.target
    # Leftovers of killed runs (their pid is gone) are removed, the engine's version read
    # and the bundle's pattern detectors loaded while this run's stack starts: none touches
    # it (saves ~0.4 s a run).
    housekeeping = ThreadPoolExecutor(max_workers=3)
    removed = housekeeping.submit(leftovers.clean)
    docker_version = housekeeping.submit(stack.docker_server_version)
    housekeeping.submit(patterns.detectors)
    timings = record.timings
    try:
        compose = _compose(settings, live_env, parts, timings)
    except stack.StackError:
        housekeeping.shutdown()
        raise
    record.target = {
        "compose_files": [str(f) for f in parts.files],
        "project": parts.project,
        "service": target.service,
        "port": target.port,
        "health_path": target.health_path,
    }
    run_started = time.time()  # the rollback looks for the run's workers from here
    try:
        with harness.compose_stack(settings, compose, evidence, timings) as base_url:
            record.leftovers_removed = removed.result()
            record.docker_version = docker_version.result()
            record.target["base_url"] = base_url
            record.target_version = stack.health(base_url, 10, target.health_path).get("version")
            root = _visible_workspaces(compose, target.service, parts.workspace_root, record)
            markers: tuple[str, ...] = harness.LEAK_MARKERS
            if root is not None:
                markers = (*markers, stack.plant_outside_canary(root))
            cases_started = time.perf_counter()
            yield Stack(
                base_url=base_url,
                workspace_root=root,
                compose=compose,
                leak_markers=markers,
                api_token=parts.api_token,
            )
            timings["cases"] = round(time.perf_counter() - cases_started, 3)
            teardown_started = time.perf_counter()
            if root is not None:
                seen = snapshots.snapshot_workspaces(evidence, root)
                record.worker_versions = list(seen.get("worker_versions", []))
            if settings.mode == "live":
                live = LiveStack(compose, parts, markers, run_started)
                _roll_back(record, settings, evidence, live, signing_key)
        timings["teardown"] = round(time.perf_counter() - teardown_started, 3)
    finally:
        housekeeping.shutdown(wait=False)
        (parts.workspace_root / stack.OUTSIDE_CANARY_NAME).unlink(missing_ok=True)


def _compose(
    settings: Settings, live_env: LiveEnv | None, parts: ComposeParts, timings: dict[str, float]
) -> stack.Compose:
    """The stack's images prepared and its compose command with the run's environment;
    the workspace root made before `up` mounts it."""
    prepared = _prepare_images(settings, parts, timings)
    env = harness.stack_environment(
        settings, live_env, parts.workspace_root, parts.project, parts.api_token
    )
    parts.workspace_root.mkdir(parents=True, exist_ok=True)
    return stack.Compose(
        parts.command, parts.files, parts.project, {**os.environ, **prepared, **env}
    )


def _visible_workspaces(
    compose: stack.Compose, service: str, root: Path, record: RunRecord
) -> Path | None:
    """`root` when the service sees it at the same path (or that cannot be told); else
    None, with the checks that need it listed as not run, as for a base-URL run."""
    if stack.workspace_mount(compose, service, root) is not False:
        return root
    record.checks_not_run = [
        *record.checks_not_run,
        *(f"{line} ({NO_SAME_PATH_MOUNT})" for line in NOT_RUN_WITHOUT_WORKSPACES),
    ]
    return None


def _prepare_images(
    settings: Settings, parts: ComposeParts, timings: dict[str, float]
) -> dict[str, str]:
    """Base image, wheelhouses and, for the bundled stack, its images (one progress line
    per step, timed); the variables compose needs (CODEX_BASE_IMAGE...)."""
    try:
        context = stackfiles.bundled_context(parts.files)
        prepared = images.prepare(
            context, live=settings.mode == "live", progress=parts.progress or images.to_stderr
        )
    except (stack.StackError, stackfiles.StackFilesError) as error:  # ImagePrepError too
        details = f"\n{error.details}" if isinstance(error, images.ImagePrepError) else ""
        raise stack.StackError(f"codex stack: {error}{details.rstrip()}") from None
    timings.update(prepared.timings)
    return prepared.env


def _roll_back(
    run: RunRecord,
    settings: Settings,
    live: EvidenceBundle,
    stack_: LiveStack,
    signing_key: Any,
) -> None:
    """The live stack replaced by the mocked one and the smoke cases run against it, into
    a `mocked` bundle beside the live one (signed when the live one is)."""
    parts = stack_.parts
    mocked = EvidenceBundle(
        settings.evidence_dir, "mocked", live.redactor, timestamp=live.path.parent.name
    )
    outcome = roll_back(
        stack_.compose,
        parts.rollback_files,
        mocked,
        workspace_root=parts.workspace_root,
        leak_markers=stack_.markers,
        startup_timeout=settings.startup_timeout,
        request_timeout=settings.request_timeout,
        target=settings.target,
        run_started=stack_.run_started,
        keep=settings.keep_stack,
    )
    run.rollback = {**outcome.as_dict(), "bundle": "../mocked"}
    smoke = len(outcome.cases)
    record = RunRecord(collected=smoke, selected=smoke)
    if not outcome.restarted:
        record.stop(STACK_FAILURE, outcome.error or "the mocked stack did not start")
    mocked.will_sign = signing_key is not None
    mocked.finalize(
        {
            "rollback_of": "live",
            "rollback": outcome.as_dict(),
            "session": record.session(run=smoke),
        }
    )
    if signing_key is not None:
        signing.sign_bundle(mocked.path, signing_key)
    if not outcome.passed:
        pytest.fail(
            "codex rollback to mocked mode failed: "
            f"{outcome.error or outcome.problems or outcome.cases}",
            pytrace=False,
        )
