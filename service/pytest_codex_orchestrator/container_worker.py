"""The live worker: one sibling container per job, running the real Codex CLI.

The orchestrator reaches the Docker engine through the mounted socket and starts
`CODEX_WORKER_IMAGE` with the project's workspace bind-mounted at /workspace (the
workspace root is mounted at the same path in the orchestrator, so the host path is
also the path here). The container is the sandbox: non-root, no capabilities,
no-new-privileges, read-only root with a tmpfs home, memory/CPU/pids limits, and a job
timeout after which it is killed. The worker's JSON event stream (its stdout) is kept
under `<WORKSPACE_ROOT>/.jobs/`.

Secrets never enter the worker's container configuration (`docker inspect`, dockerd's
config.v2.json): the container gets only `<NAME>_FILE=/run/codex-secrets/<NAME>` and
`CODEX_SECRETS_STDIN=1`, a 64 KiB tmpfs at /run/codex-secrets owned by the worker's user,
and the values as one JSON object written to its stdin through the Docker attach API,
which is then closed; the entrypoint writes them to the tmpfs (service/worker/
worker_secrets.py has the contract). Non-secret settings (OPENAI_BASE_URL, CODEX_MODEL)
stay plain variables, and so does `CODEX_WORKER_PROXY` (the workers' forwarding proxy
to the model in `openai` mode), handed on as HTTPS_PROXY/HTTP_PROXY. Values are never
logged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions

from pytest_codex_orchestrator.clock import utc_now
from pytest_codex_orchestrator.live_worker import (
    LABEL,
    WORKER_UID,
    LiveWorker,
    docker_reason,
    hand_over,
    read_result,
    secret_values,
)

SECRETS_DIR = "/run/codex-secrets"  # a tmpfs in each worker: the entrypoint's files
SECRETS_TMPFS = "rw,noexec,nosuid,size=64k,mode=0700"
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy")
SEND_TIMEOUT_S = 30.0  # writing the secrets to the worker's stdin, at most

log = logging.getLogger(__name__)


class ContainerWorker(LiveWorker):
    """Runs one job in a fresh worker container and returns its result.json."""

    def run(self, workspace: Path, request: dict[str, Any]) -> dict[str, Any]:
        started = utc_now()
        job_id = str(request.get("job_id", "unknown"))
        try:
            client = docker.from_env(timeout=30)
            client.ping()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
            return self.failure(
                workspace,
                request,
                started,
                "docker_unavailable",
                f"the Docker engine did not answer ({type(error).__name__})",
            )
        try:
            return self._run_container(client, workspace, request, job_id, started)
        finally:
            client.close()

    def _run_container(
        self,
        client: docker.DockerClient,
        workspace: Path,
        request: dict[str, Any],
        job_id: str,
        started: str,
    ) -> dict[str, Any]:
        hand_over(workspace)
        (workspace / ".codex" / "result.json").unlink(missing_ok=True)
        environment, secrets = self._environment()
        container = None
        created = time.perf_counter()
        try:
            container = self._create(client, workspace, request, job_id, environment)
            _start_with_secrets(client, container, secrets)
        except docker.errors.ImageNotFound:
            return self.failure(
                workspace,
                request,
                started,
                "worker_image_missing",
                f"worker image {self.image!r} is not built; build "
                "service/worker or set CODEX_WORKER_IMAGE",
            )
        except docker.errors.DockerException as error:
            if container is not None:  # created but not started: leave nothing behind
                with contextlib.suppress(docker.errors.DockerException):
                    container.remove(force=True)
            log.warning("worker not started", extra={"job_id": job_id, "error": str(error)})
            return self.failure(
                workspace,
                request,
                started,
                "worker_start_failed",
                f"the worker container did not start ({docker_reason(error)})",
            )
        exit_code, problem = self._wait_and_remove(container, job_id, created)
        if problem is None:
            result = read_result(workspace)
            if result is not None:
                return result
            problem = ("worker_crashed", "the worker exited without writing .codex/result.json")
        error_type, message = problem
        return self.failure(workspace, request, started, error_type, message, exit_code)

    def _create(
        self,
        client: docker.DockerClient,
        workspace: Path,
        request: dict[str, Any],
        job_id: str,
        environment: dict[str, str],
    ) -> Any:
        """The job's worker container, created (not started) with the sandbox's limits."""
        return client.containers.create(
            self.image,
            environment=environment,
            volumes={str(workspace): {"bind": "/workspace", "mode": "rw"}},
            labels=self.labels(request, job_id),
            user=f"{WORKER_UID}:{WORKER_UID}",
            mem_limit=self.memory,
            memswap_limit=self.memory,
            nano_cpus=int(self.cpus * 1e9),
            pids_limit=self.pids,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true"],
            read_only=True,
            tmpfs={
                "/home/worker": f"rw,size=512m,uid={WORKER_UID},gid={WORKER_UID}",
                "/tmp": "rw,size=256m,mode=1777",  # noqa: S108 - the container's own
                SECRETS_DIR: f"{SECRETS_TMPFS},uid={WORKER_UID},gid={WORKER_UID}",
            },
            network=self.network,
            stdin_open=True,  # StdinOnce: stdin ends when the one attach closes it
        )

    def _wait_and_remove(
        self, container: Any, job_id: str, created: float
    ) -> tuple[int | None, tuple[str, str] | None]:
        """Wait for the started worker (killed at the job timeout), keep its logs and
        remove it; its exit code and, when it was killed or ran out of memory, the
        failure's type and message."""
        clock = [created, time.perf_counter()]  # created, started, ended, cleaned up
        log.info("worker started", extra={"job_id": job_id, "container": container.short_id})
        exit_code: int | None = None
        timed_out = False
        try:
            try:
                exit_code = int(container.wait(timeout=self.job_timeout_s)["StatusCode"])
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                timed_out = True
                _kill(container)
            clock.append(time.perf_counter())
            container.reload()
            oom = bool(container.attrs.get("State", {}).get("OOMKilled"))
            self._keep_logs(container, job_id)
        finally:
            try:
                container.remove(force=True)
            except docker.errors.DockerException:
                log.warning("worker container not removed", extra={"job_id": job_id})
        clock.append(time.perf_counter())
        log.info(
            "worker finished",
            extra={
                "job_id": job_id,
                "exit_code": exit_code,
                "timed_out": timed_out,
                "start_ms": round((clock[1] - clock[0]) * 1000, 1),
                "run_ms": round((clock[2] - clock[1]) * 1000, 1),
                "cleanup_ms": round((clock[3] - clock[2]) * 1000, 1),
            },
        )
        if timed_out:
            limit = f"{self.job_timeout_s:.0f} s"
            return None, (
                "timeout",
                f"the worker ran past the job timeout of {limit} and was killed",
            )
        if oom:
            return exit_code, (
                "out_of_memory",
                f"the worker exceeded its memory limit ({self.memory})",
            )
        return exit_code, None

    def _environment(self) -> tuple[dict[str, str], dict[str, str]]:
        """The worker's plain variables (its container configuration) and its secrets
        (its stdin only)."""
        environment = self.plain_environment()
        secrets = secret_values(self.environ)
        for name in secrets:
            environment[f"{name}_FILE"] = f"{SECRETS_DIR}/{name}"
        environment["CODEX_SECRETS_STDIN"] = "1"
        proxy = self.environ.get("CODEX_WORKER_PROXY")  # compose.openai.yaml's model-proxy
        if proxy:
            for name in PROXY_VARIABLES:
                environment[name] = proxy
        return environment, secrets

    def reap(self, job_ids: list[str]) -> list[str]:
        """Remove the worker containers of jobs a previous process left running (called
        at start, with the jobs it marked interrupted), keeping each one's logs under
        `.jobs/<job>/` first; the container ids removed."""
        removed: list[str] = []
        try:
            client = docker.from_env(timeout=30)
            for job_id in job_ids:
                for container in client.containers.list(
                    all=True, filters={"label": f"{LABEL}.job={job_id}"}
                ):
                    try:
                        self._keep_logs(container, job_id)
                    except OSError:
                        log.warning("worker logs not kept", extra={"job_id": job_id})
                    container.remove(force=True)
                    removed.append(container.short_id)
            client.close()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
            log.warning("orphaned workers not reaped", extra={"error": type(error).__name__})
        if removed:
            log.warning("orphaned workers removed", extra={"containers": removed})
        return removed

    def _keep_logs(self, container: Any, job_id: str) -> None:
        folder = self.workspace_root / ".jobs" / job_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "events.jsonl").write_bytes(container.logs(stdout=True, stderr=False))
        (folder / "worker.log").write_bytes(container.logs(stdout=False, stderr=True))


def _start_with_secrets(client: Any, container: Any, secrets: dict[str, str]) -> None:
    """Start the worker with its stdin attached, write the secrets there as one JSON
    object and close it (the entrypoint reads to EOF). Nothing of them is in the
    container's configuration."""
    attached = client.api.attach_socket(container.id, params={"stdin": 1, "stream": 1})
    raw = getattr(attached, "_sock", attached)  # the socket under the SocketIO wrapper
    try:
        container.start()
        raw.settimeout(SEND_TIMEOUT_S)
        try:
            raw.sendall(json.dumps(secrets).encode())
            raw.shutdown(socket.SHUT_WR)
        except OSError as error:  # the worker ends with secrets_unavailable
            log.warning("worker secrets not sent", extra={"error": type(error).__name__})
    finally:
        attached.close()
        raw.close()


def _kill(container: Any) -> None:
    # It may have ended on its own between the time-out and the kill.
    with contextlib.suppress(docker.errors.APIError):
        container.kill()
