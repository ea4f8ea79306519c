"""Tests that run INSIDE a live harness session (copied into a pytester folder by
tests/docker/test_live_sandbox.py as test_live_session.py): they use the stack the
plugin started, with its generated token and its host guard, while it runs.

The probes run from a real worker container: the worker image, on the run's workers
network, with the worker's own restrictions (uid 1000, no capabilities, read-only)."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from pytest_codex.adapter.harness import Stack

WORKER_IMAGE = "codex-worker:latest"
PROBE = """
import json, socket, sys
found = {}
for name, host, port in json.loads(sys.argv[1]):
    try:
        with socket.create_connection((host, port), timeout=3):
            found[name] = "connected"
    except OSError as error:
        found[name] = type(error).__name__
print(json.dumps(found))
"""


def docker(*argv: str) -> str:
    done = subprocess.run(
        ["docker", *argv], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def inspect(kind: str, name: str) -> dict[str, Any]:
    [info] = json.loads(docker(kind, "inspect", name))
    assert isinstance(info, dict)
    return info


def container_of(codex_stack: Stack, service: str) -> str:
    assert codex_stack.compose is not None
    return codex_stack.compose.run("ps", "-q", service).strip().splitlines()[-1]


def probe_from_worker(network: str, targets: list[tuple[str, str, int]]) -> dict[str, str]:
    """Connect to each (name, host, port) from a worker container on `network`."""
    output = docker(
        "run",
        "--rm",
        "--network",
        network,
        "--user",
        "1000:1000",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges:true",
        "--read-only",
        "--label",
        "io.pytest-codex.role=probe",
        "--entrypoint",
        "python3",
        WORKER_IMAGE,
        "-c",
        PROBE,
        json.dumps(targets),
    )
    found: dict[str, str] = json.loads(output.splitlines()[-1])
    return found


def test_a_worker_reaches_the_model_and_nothing_else(codex_stack: Stack) -> None:
    assert codex_stack.compose is not None
    network = f"pytest-codex-workers-{codex_stack.compose.project}"
    config = inspect("network", network)["IPAM"]["Config"][0]
    subnet = ipaddress.ip_network(config["Subnet"])
    gateway = config.get("Gateway") or str(next(subnet.hosts()))
    orchestrator = inspect("container", container_of(codex_stack, "orchestrator"))
    orchestrator_ips = [
        entry["IPAddress"]
        for entry in orchestrator["NetworkSettings"]["Networks"].values()
        if entry.get("IPAddress")
    ]
    assert orchestrator_ips
    # A host service on every address, as a developer's own server would be.
    listener = socket.create_server(("0.0.0.0", 0))
    host_port = listener.getsockname()[1]
    accepted: list[str] = []

    def accept() -> None:
        listener.settimeout(30)
        try:
            connection, peer = listener.accept()
            accepted.append(peer[0])
            connection.close()
        except OSError:
            pass

    threading.Thread(target=accept, daemon=True).start()
    try:
        found = probe_from_worker(
            network,
            [
                ("model", "model-stub", 8080),
                ("orchestrator by name", "orchestrator", 8000),
                *[(f"orchestrator at {ip}", ip, 8000) for ip in orchestrator_ips],
                ("host listener at the gateway", gateway, host_port),
                ("host docker0 listener", "172.17.0.1", host_port),
            ],
        )
    finally:
        listener.close()
    assert found.pop("model") == "connected"
    assert found, "no probe besides the model ran"
    assert all(outcome != "connected" for outcome in found.values()), found
    assert accepted == []


def test_the_api_needs_the_generated_token(codex_stack: Stack, codex_api_token: str) -> None:
    assert codex_stack.api_token is not None
    assert codex_api_token == codex_stack.api_token
    assert len(codex_api_token) >= 32
    # For the outer test only, which looks for it in the bundle and the output.
    Path("generated-token.txt").write_text(codex_api_token)
    request = urllib.request.Request(
        f"{codex_stack.base_url}/api/v1/projects",
        data=b'{"instruction": "Create it"}',
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401
    # Published on 127.0.0.1 only, at the port the harness chose.
    orchestrator = inspect("container", container_of(codex_stack, "orchestrator"))
    [binding] = orchestrator["HostConfig"]["PortBindings"]["8000/tcp"]
    assert binding["HostIp"] == "127.0.0.1"
    assert codex_stack.base_url == f"http://127.0.0.1:{binding['HostPort']}"


def test_where_the_key_is_while_the_stack_runs(codex_stack: Stack) -> None:
    """The key is in the containers' configuration (docker inspect, and dockerd's
    config.v2.json on disk) while they exist; not in the images. Never printed."""
    key = Path(".env.live").read_text().split("=", 1)[1].strip()
    root = Path(docker("info", "--format", "{{.DockerRootDir}}"))
    held: dict[str, bool] = {}
    ids: list[str] = []
    for service in ("orchestrator", "model-stub"):
        container = container_of(codex_stack, service)
        info = inspect("container", container)
        ids.append(info["Id"])
        held[f"{service}: docker inspect"] = any(
            entry.endswith(f"={key}") for entry in info["Config"]["Env"]
        )
        config = root / "containers" / info["Id"] / "config.v2.json"
        held[f"{service}: config.v2.json"] = key in config.read_text()
        image = inspect("image", info["Image"])
        held[f"{service}: image"] = key in json.dumps(image)
    assert held == {
        "orchestrator: docker inspect": True,
        "orchestrator: config.v2.json": True,
        "orchestrator: image": False,
        "model-stub: docker inspect": True,
        "model-stub: config.v2.json": True,
        "model-stub: image": False,
    }
    # For the outer test, which checks that these configurations are gone afterwards.
    Path("container-ids.txt").write_text("\n".join(ids))


def test_the_model_stand_in_has_its_own_health_check(codex_stack: Stack) -> None:
    container = container_of(codex_stack, "model-stub")
    deadline = time.monotonic() + 40
    status = ""
    while time.monotonic() < deadline:
        status = inspect("container", container)["State"]["Health"]["Status"]
        if status != "starting":
            break
        time.sleep(1)
    assert status == "healthy"
    test = inspect("container", container)["Config"]["Healthcheck"]["Test"]
    assert any("8080/healthz" in part for part in test)


def api(codex_stack: Stack, token: str, path: str, body: bytes | None = None) -> Any:
    request = urllib.request.Request(
        f"{codex_stack.base_url}{path}",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST" if body is not None else "GET",
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


def wait_for(what: str, check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def test_a_restart_mid_job_fails_it_in_the_api_and_in_result_json(
    codex_stack: Stack, codex_api_token: str
) -> None:
    assert codex_stack.compose is not None
    assert codex_stack.workspace_root is not None
    run = codex_stack.compose.project
    body = json.dumps({"instruction": "Create the Fibonacci CLI. [model-stub:hang]"}).encode()
    # The request dies with the orchestrator; its thread only has to end.
    thread = threading.Thread(
        target=_swallow, args=(codex_stack, codex_api_token, body), daemon=True
    )
    thread.start()
    labels = wait_for(
        "a worker container of this run",
        lambda: docker(
            "ps",
            "--filter",
            f"label=io.pytest-codex.run={run}",
            "--filter",
            "label=io.pytest-codex.role=worker",
            "--format",
            '{{.Label "io.pytest-codex.project"}} {{.Label "io.pytest-codex.job"}}',
        ),
    )
    project_id, job_id = labels.split()[:2]
    time.sleep(1)  # the worker has written its first lines
    codex_stack.compose.run("restart", "-t", "5", "orchestrator")
    # The same URL answers again: the harness chose the published port.
    wait_for("/healthz after the restart", lambda: healthy(codex_stack.base_url))
    thread.join(timeout=30)
    project = api(codex_stack, codex_api_token, f"/api/v1/projects/{project_id}")
    assert project["status"] == "failed"
    assert project["job"]["status"] == "failed"
    assert project["job"]["error"]["type"] == "interrupted"
    read = api(codex_stack, codex_api_token, f"/api/v1/{project_id}/files/.codex/result.json")
    result = json.loads(read["content"])
    assert result["status"] == "failed"
    assert result["error"]["type"] == "interrupted"
    assert result["error"]["message"] == project["job"]["error"]["message"]
    on_disk = codex_stack.workspace_root / project_id / ".codex" / "result.json"
    assert json.loads(on_disk.read_text()) == result
    # The worker is gone; its logs stay with the job.
    assert docker("ps", "-aq", "--filter", f"label=io.pytest-codex.job={job_id}") == ""
    worker_log = codex_stack.workspace_root / ".jobs" / job_id / "worker.log"
    assert f"job {job_id}" in worker_log.read_text()


def _swallow(codex_stack: Stack, token: str, body: bytes) -> None:
    with contextlib.suppress(OSError):
        api(codex_stack, token, "/api/v1/projects", body)


def test_the_model_stand_in_stops_on_sigterm_within_a_second(codex_stack: Stack) -> None:
    """Last: the stand-in is not needed after it (the rollback is mocked)."""
    container = container_of(codex_stack, "model-stub")
    started = time.monotonic()
    docker("stop", "-t", "5", container)
    seconds = time.monotonic() - started
    state = inspect("container", container)["State"]
    assert state["ExitCode"] == 0  # it ended itself: SIGKILL would give 137
    assert seconds < 2.0  # a second for the stand-in, the rest for docker's own calls
