"""What a swarm job service is made of: its spec (the container worker's hardening as a
swarm `ContainerSpec`, a one-shot `replicated-job`), and its secrets (one Docker secret per
OPENAI_* value, mounted for uid 1000 and named to the entrypoint by `<VARIABLE>_FILE`).
No value ever enters the spec. Used by `swarm_worker.SwarmWorker`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import docker
from docker.types import (
    ContainerSpec,
    EndpointSpec,
    Mount,
    Resources,
    RestartPolicy,
    SecretReference,
    ServiceMode,
    TaskTemplate,
)
from docker.utils import parse_bytes

from pytest_codex_orchestrator.live_worker import WORKER_UID

SECRET_DIR = "/run/secrets"  # noqa: S105 - a folder, not a password


def service_spec(
    *,
    image: str,
    name: str,
    workspace: Path,
    labels: dict[str, str],
    environment: dict[str, str],
    secret_refs: list[SecretReference],
    network: str | None,
    memory: str,
    cpus: float,
    pids: int,
) -> dict[str, Any]:
    """The arguments of `APIClient.create_service` for one job (no secret value in it)."""
    resources = Resources(cpu_limit=int(cpus * 1e9), mem_limit=parse_bytes(memory))
    resources["Limits"]["Pids"] = pids  # API 1.41; the SDK has no argument for it
    container = ContainerSpec(
        image,
        env=[f"{key}={value}" for key, value in sorted(environment.items())],
        user=f"{WORKER_UID}:{WORKER_UID}",
        labels=labels,
        mounts=[
            Mount("/workspace", str(workspace), type="bind"),
            # A swarm tmpfs has no uid option: sticky and open to all, as /tmp is.
            Mount("/home/worker", None, type="tmpfs", tmpfs_size=512 << 20, tmpfs_mode=0o1777),
            Mount("/tmp", None, type="tmpfs", tmpfs_size=256 << 20, tmpfs_mode=0o1777),  # noqa: S108
        ],
        secrets=secret_refs,
        read_only=True,
        cap_drop=["ALL"],
        stop_grace_period=2_000_000_000,
    )
    template = TaskTemplate(
        container,
        resources=resources,
        restart_policy=RestartPolicy(condition="none", max_attempts=0),
        networks=[network] if network else None,
    )
    return {
        "task_template": template,
        "name": name,
        "labels": labels,
        "mode": ServiceMode("replicated-job", replicas=1, concurrency=1),
        # Nothing connects to a worker: no virtual IP (it needs the kernel's IPVS).
        "endpoint_spec": EndpointSpec(mode="dnsrr"),
    }


def create_job_secrets(
    client: docker.DockerClient,
    prefix: str,
    labels: dict[str, str],
    values: Mapping[str, str],
    created: list[str],
) -> tuple[list[SecretReference], dict[str, str]]:
    """One Docker secret per value (`<prefix>-<variable>`), its id appended to `created`
    at once (so a failure half-way leaves nothing the caller cannot remove); the
    references for the spec and the `<VARIABLE>_FILE` variables naming the files."""
    refs = []
    files = {}
    for variable, value in values.items():
        name = f"{prefix}-{variable.lower()}"
        secret = client.api.create_secret(name, value.encode(), labels=labels)
        created.append(secret["ID"])
        filename = variable.lower()
        refs.append(
            SecretReference(
                secret["ID"],
                name,
                filename=filename,
                uid=str(WORKER_UID),
                gid=str(WORKER_UID),
                mode=0o400,
            )
        )
        files[f"{variable}_FILE"] = f"{SECRET_DIR}/{filename}"
    return refs, files


def slug(text: str) -> str:
    """Text fit for a service or secret name ([a-zA-Z0-9-])."""
    return re.sub(r"[^a-zA-Z0-9-]", "-", text) or "job"
