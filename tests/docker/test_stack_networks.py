"""The bundled live stack keeps its workers off the host by its own networks, with no
pytest-codex in the loop: each stack is brought up with plain docker-compose, as a
user would by hand, and a worker-like container (the worker image, uid 1000, no
capabilities, read-only, on the stack's workers network) tries a host listener on the
network's gateway address and on docker0's. Hermetic: only the model stand-in answers.
`openai`: only the forwarding proxy, which forwards to OPENAI_BASE_URL's host alone."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_codex.target import compose as stack
from pytest_codex.target import leftovers
from tests.conftest import REPO, free_port

SERVICE = REPO / "service"
PROBE = """
import json, socket, sys
found = {}
for name, host, port, send in json.loads(sys.argv[1]):
    try:
        with socket.create_connection((host, port), timeout=5) as sock:
            if not send:
                found[name] = "connected"
                continue
            sock.sendall(send.encode())
            found[name] = sock.recv(200).decode("latin-1").split("\\r\\n")[0]
    except OSError as error:
        found[name] = type(error).__name__
print(json.dumps(found))
"""


def docker(*argv: str) -> str:
    done = subprocess.run(
        ["docker", *argv], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


@pytest.fixture
def host_listener() -> Iterator[tuple[int, list[str]]]:
    """A host service on every address, as a developer's `python3 -m http.server`."""
    listener = socket.create_server(("0.0.0.0", 0))
    listener.settimeout(0.5)
    accepted: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, peer = listener.accept()
            except OSError:
                continue
            accepted.append(peer[0])
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1]), accepted
    stop.set()
    thread.join(timeout=5)
    listener.close()


def by_hand(overlay: str, tmp_path: Path, extra: dict[str, str]) -> stack.Compose:
    root = tmp_path / "workspaces"
    root.mkdir()
    key = f"sk-canary-networks-{secrets.token_hex(6)}"
    env = {
        **os.environ,
        "CODEX_WORKSPACE_ROOT": str(root),
        "CODEX_RUN_ID": leftovers.project_name(),
        "CODEX_HOST_PORT": str(free_port()),
        "OPENAI_API_KEY": key,
        "MODEL_STUB_EXPECTED_KEY": key,
        **extra,
    }
    files = (SERVICE / "compose.yaml", SERVICE / "compose.live.yaml", SERVICE / overlay)
    return stack.Compose(("docker-compose",), files, env["CODEX_RUN_ID"], env)


def probe(network: str, targets: list[tuple[str, str, int, str]]) -> dict[str, str]:
    output = docker(
        "run", "--rm", "--network", network, "--user", "1000:1000", "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges:true", "--read-only",
        "--label", "io.pytest-codex.role=probe", "--entrypoint", "python3",
        "codex-worker:latest", "-c", PROBE, json.dumps(targets),
    )  # fmt: skip
    found: dict[str, str] = json.loads(output.splitlines()[-1])
    return found


def gateway_of(network: str) -> str:
    [info] = json.loads(docker("network", "inspect", network))
    assert info["Internal"] is True
    assert info["Options"]["com.docker.network.bridge.inhibit_ipv4"] == "true"
    gateway: str = info["IPAM"]["Config"][0]["Gateway"]
    return gateway


@pytest.mark.parametrize("overlay", ["compose.hermetic.yaml", "compose.openai.yaml"])
def test_a_stack_brought_up_by_hand_keeps_workers_off_the_host(
    overlay: str,
    tmp_path: Path,
    host_listener: tuple[int, list[str]],
    worker_image: str,
    orchestrator_image: str,
) -> None:
    del worker_image, orchestrator_image  # built as the live stack builds them
    port, accepted = host_listener
    # In `openai` mode the proxy forwards to OPENAI_BASE_URL's host alone; CI has no
    # internet, so the stack's own orchestrator stands in for the model's host here.
    extra = {"OPENAI_BASE_URL": "http://orchestrator:8000/v1"} if "openai" in overlay else {}
    compose = by_hand(overlay, tmp_path, extra)
    try:
        compose.run("up", "-d")
        network = f"pytest-codex-workers-{compose.project}"
        gateway = gateway_of(network)
        orchestrator = json.loads(docker("inspect", compose.run("ps", "-q", "orchestrator")))
        addresses = [
            entry["IPAddress"]
            for entry in orchestrator[0]["NetworkSettings"]["Networks"].values()
            if entry.get("IPAddress")
        ]
        assert addresses
        targets: list[tuple[str, str, int, str]] = []
        if "hermetic" in overlay:
            targets.append(("model", "model-stub", 8080, ""))
        else:
            connect = "CONNECT {}:{} HTTP/1.1\r\nHost: x\r\n\r\n"
            get = "GET http://orchestrator:8000/healthz HTTP/1.1\r\nHost: orchestrator\r\n\r\n"
            targets += [
                ("proxy to the model's host", "model-proxy", 3128, get),
                ("proxy to the host listener", "model-proxy", 3128, connect.format(gateway, port)),
                ("proxy to docker0", "model-proxy", 3128, connect.format("172.17.0.1", port)),
            ]
        targets += [
            ("host listener at the gateway", gateway, port, ""),
            ("host listener at docker0", "172.17.0.1", port, ""),
            *[("orchestrator", address, 8000, "") for address in addresses],
        ]
        found = probe(network, targets)
    finally:
        compose.run("down", "-v", "--remove-orphans", "-t", "5")
    assert found.pop("host listener at the gateway") != "connected", found
    assert found.pop("host listener at docker0") != "connected", found
    assert found.pop("orchestrator") != "connected", found
    if "hermetic" in overlay:
        assert found == {"model": "connected"}
    else:
        assert found == {
            "proxy to the host listener": "HTTP/1.1 403 refused",
            "proxy to docker0": "HTTP/1.1 403 refused",
            "proxy to the model's host": "HTTP/1.1 200 OK",
        }
    assert accepted == []
