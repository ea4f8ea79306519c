"""The live worker on Docker Swarm: one `replicated-job` service per job.

The same contract as `container_worker.ContainerWorker` (the worker image, the workspace
at /workspace, result.json read back, a structured error when the worker could not write
one), with the swarm placing the task on any node that has the image and the workspace
path. The OPENAI_* secrets never enter the service spec: each becomes a Docker secret
created for the job, mounted at /run/secrets/<name> (uid 1000, mode 0400) and named to
the entrypoint by `<VARIABLE>_FILE`; the service and its secrets are removed after the
job, a timed-out one too. Hardening as the container worker's: uid 1000, no
capabilities, read-only root, tmpfs home and /tmp, memory/CPU/pids limits, labels, no
restart. Not available on a swarm service before Docker API 1.44: no-new-privileges
(docs/scale-out.md says what stands in for it) and a swap limit.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions

from pytest_codex_orchestrator.clock import utc_now
from pytest_codex_orchestrator.live_worker import (
    LABEL,
    LiveWorker,
    docker_reason,
    hand_over,
    read_result,
    secret_values,
)
from pytest_codex_orchestrator.swarm_spec import create_job_secrets, service_spec, slug

POLL_S = 0.2  # between two looks at the job's task
REMOVE_TRIES = 50  # looks for a secret still held by a removed service (POLL_S apart)
TERMINAL = frozenset({"complete", "failed", "rejected", "shutdown", "orphaned", "remove"})

log = logging.getLogger(__name__)


class SwarmWorker(LiveWorker):
    """Runs one job as a swarm job service and returns its result.json."""

    def run(self, workspace: Path, request: dict[str, Any]) -> dict[str, Any]:
        started = utc_now()
        try:
            client = docker.from_env(timeout=30)
            swarm = client.info().get("Swarm") or {}
        except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
            return self.failure(
                workspace,
                request,
                started,
                "docker_unavailable",
                f"the Docker engine did not answer ({type(error).__name__})",
            )
        try:
            if not swarm.get("ControlAvailable"):
                return self.failure(
                    workspace,
                    request,
                    started,
                    "swarm_unavailable",
                    "the Docker engine is not a swarm manager; run the orchestrator on a "
                    "manager node or set CODEX_WORKER_BACKEND=container",
                )
            return self._run_job(client, workspace, request, started)
        finally:
            client.close()

    def _run_job(
        self,
        client: docker.DockerClient,
        workspace: Path,
        request: dict[str, Any],
        started: str,
    ) -> dict[str, Any]:
        job_id = str(request.get("job_id", "unknown"))
        hand_over(workspace)
        (workspace / ".codex" / "result.json").unlink(missing_ok=True)
        labels = self.labels(request, job_id)
        suffix = f"{slug(job_id)[:24]}-{secrets.token_hex(3)}"
        created: list[str] = []  # secret ids
        service_id: str | None = None
        clock = time.perf_counter()
        try:
            refs, files = create_job_secrets(
                client, f"codex-{suffix}", labels, secret_values(self.environ), created
            )
            spec = service_spec(
                image=self.image,
                name=f"codex-job-{suffix}",
                workspace=workspace,
                labels=labels,
                environment={**self.plain_environment(), **files},
                secret_refs=refs,
                network=self.network,
                memory=self.memory,
                cpus=self.cpus,
                pids=self.pids,
            )
            service_id = str(client.api.create_service(**spec)["ID"])
        except docker.errors.DockerException as error:
            self._remove(client, service_id, created, job_id)
            log.warning("worker not started", extra={"job_id": job_id, "error": str(error)})
            return self.failure(
                workspace,
                request,
                started,
                "worker_start_failed",
                f"the worker job service did not start ({docker_reason(error)})",
            )
        log.info("worker started", extra={"job_id": job_id, "service": service_id[:12]})
        try:
            task = self._wait(client, service_id)
            run_ms = round((time.perf_counter() - clock) * 1000, 1)
            oom = _oom_killed(client, task)
            if task is not None:
                self._keep_logs(client, service_id, job_id)
        finally:
            self._remove(client, service_id, created, job_id)
        status = (task or {}).get("Status") or {}
        state = str(status.get("State", "pending"))
        exit_code = (status.get("ContainerStatus") or {}).get("ExitCode")
        log.info(
            "worker finished",
            extra={"job_id": job_id, "state": state, "exit_code": exit_code, "run_ms": run_ms},
        )
        return self._outcome(workspace, request, started, state, status, exit_code, oom)

    def _outcome(
        self,
        workspace: Path,
        request: dict[str, Any],
        started: str,
        state: str,
        status: dict[str, Any],
        exit_code: int | None,
        oom: bool,
    ) -> dict[str, Any]:
        if state not in TERMINAL:
            return self.failure(
                workspace,
                request,
                started,
                "timeout",
                f"the worker ran past the job timeout of {self.job_timeout_s:.0f} s "
                f"(its task was {state}) and was removed",
            )
        if state == "rejected" and "No such image" in str(status.get("Err", "")):
            return self.failure(
                workspace,
                request,
                started,
                "worker_image_missing",
                f"worker image {self.image!r} is not on the node the swarm chose; build it "
                "there, push it to the swarm's registry, or set CODEX_WORKER_IMAGE",
            )
        if oom:
            return self.failure(
                workspace,
                request,
                started,
                "out_of_memory",
                f"the worker exceeded its memory limit ({self.memory})",
                exit_code=exit_code,
            )
        result = read_result(workspace)
        if result is None:
            why = str(status.get("Err") or f"its task ended {state}")[:300]
            return self.failure(
                workspace,
                request,
                started,
                "worker_crashed",
                f"the worker exited without writing .codex/result.json ({why})",
                exit_code=exit_code,
            )
        return result

    def _wait(self, client: docker.DockerClient, service_id: str) -> dict[str, Any] | None:
        """The job's task once it ended, or its last look when the job timeout ran out
        (None: never scheduled); polled every POLL_S up to the job timeout."""
        deadline = time.monotonic() + self.job_timeout_s
        task: dict[str, Any] | None = None
        while True:
            tasks = client.api.tasks(filters={"service": service_id})
            if tasks:
                task = max(tasks, key=lambda t: str(t.get("CreatedAt", "")))
                if str((task.get("Status") or {}).get("State")) in TERMINAL:
                    return task
            if time.monotonic() >= deadline:
                return task
            time.sleep(POLL_S)

    def _remove(
        self, client: docker.DockerClient, service_id: str | None, created: list[str], job_id: str
    ) -> None:
        """The service, its task's container where it ran on this node (the swarm
        leaves a finished job's container behind, Docker 20.10 at least), then its
        secrets (refused while a service holds them: up to REMOVE_TRIES looks)."""
        if service_id is not None:
            with contextlib.suppress(docker.errors.NotFound):
                try:
                    client.api.remove_service(service_id)
                except docker.errors.APIError:
                    log.warning("worker service not removed", extra={"job_id": job_id})
            label = {"label": f"{LABEL}.job={job_id}"}
            for container in client.api.containers(all=True, filters=label):
                with contextlib.suppress(docker.errors.NotFound):
                    try:
                        client.api.remove_container(container["Id"], force=True)
                    except docker.errors.APIError:
                        log.warning("worker container not removed", extra={"job_id": job_id})
        for secret_id in created:
            for _ in range(REMOVE_TRIES):
                try:
                    client.api.remove_secret(secret_id)
                    break
                except docker.errors.NotFound:
                    break
                except docker.errors.APIError:
                    time.sleep(POLL_S)
            else:
                log.warning("worker secret not removed", extra={"job_id": job_id})

    def reap(self, job_ids: list[str]) -> list[str]:
        """Remove the job services and secrets of jobs a previous process left behind
        (called at start with the jobs it marked interrupted), keeping each one's logs
        under `.jobs/<job>/` first; the service ids removed."""
        removed: list[str] = []
        try:
            client = docker.from_env(timeout=30)
            for job_id in job_ids:
                label = {"label": f"{LABEL}.job={job_id}"}
                for service in client.api.services(filters=label):
                    with contextlib.suppress(OSError, docker.errors.APIError):
                        self._keep_logs(client, service["ID"], job_id)
                    secret_ids = [s["ID"] for s in client.api.secrets(filters=label)]
                    self._remove(client, service["ID"], secret_ids, job_id)
                    removed.append(service["ID"][:12])
            client.close()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
            log.warning("orphaned workers not reaped", extra={"error": type(error).__name__})
        if removed:
            log.warning("orphaned workers removed", extra={"services": removed})
        return removed

    def _keep_logs(self, client: docker.DockerClient, service_id: str, job_id: str) -> None:
        folder = self.workspace_root / ".jobs" / job_id
        folder.mkdir(parents=True, exist_ok=True)
        for name, stdout in (("events.jsonl", True), ("worker.log", False)):
            chunks = client.api.service_logs(
                service_id, stdout=stdout, stderr=not stdout, follow=False
            )
            (folder / name).write_bytes(b"".join(chunks))


def _oom_killed(client: docker.DockerClient, task: dict[str, Any] | None) -> bool:
    """Whether the task's container was killed for memory (known only when it ran on
    this node; elsewhere the exit code 137 is all there is)."""
    container_id = ((task or {}).get("Status") or {}).get("ContainerStatus", {}).get("ContainerID")
    if not container_id:
        return False
    try:
        state = client.api.inspect_container(container_id).get("State") or {}
    except docker.errors.APIError:
        return False
    return bool(state.get("OOMKilled"))
