"""The host guard on its own, with real Docker and iptables: on an internal network like
the hermetic workers', a worker container reaches a host listener at the bridge gateway
until the guard's rule is in, and again once it is removed (so the rule is what closes
it). CI runs as root; the guard records why it did nothing otherwise."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import threading
from collections.abc import Iterator

import pytest

from pytest_codex.target import hostguard

PROBE = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()
    print("connected")
except OSError as error:
    print(type(error).__name__)
"""


def docker(*argv: str) -> str:
    done = subprocess.run(
        ["docker", *argv], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


@pytest.fixture
def internal_network() -> Iterator[str]:
    name = f"pytest-codex-guard-test-{secrets.token_hex(4)}"
    docker("network", "create", "--internal", name)
    try:
        yield name
    finally:
        docker("network", "rm", name)


@pytest.fixture
def host_listener() -> Iterator[int]:
    listener = socket.create_server(("0.0.0.0", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.5)
        while not stop.is_set():
            try:
                listener.accept()[0].close()
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def probe(worker_image: str, network: str, host: str, port: int) -> str:
    return docker(
        "run",
        "--rm",
        "--network",
        network,
        "--user",
        "1000:1000",
        "--cap-drop",
        "ALL",
        "--entrypoint",
        "python3",
        worker_image,
        "-c",
        PROBE,
        host,
        str(port),
    ).splitlines()[-1]


def test_the_rule_is_what_closes_the_gateway(
    worker_image: str, internal_network: str, host_listener: int
) -> None:
    [info] = json.loads(docker("network", "inspect", internal_network))
    gateway = info["IPAM"]["Config"][0]["Gateway"]
    assert probe(worker_image, internal_network, gateway, host_listener) == "connected"
    guard = hostguard.install(internal_network, "guard-test")
    try:
        assert guard.active, guard.reason
        assert guard.interface == hostguard.bridge_of(internal_network)[0]  # type: ignore[index]
        assert probe(worker_image, internal_network, gateway, host_listener) != "connected"
    finally:
        hostguard.remove(guard)
    assert probe(worker_image, internal_network, gateway, host_listener) == "connected"
    rules = subprocess.run(
        ["iptables", "-S", "INPUT"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert "pytest-codex:guard-test" not in rules


def test_a_network_that_does_not_exist_is_recorded_not_guarded() -> None:
    guard = hostguard.install("pytest-codex-workers-no-such-run", "no-such-run")
    assert guard.active is False
    assert "not found" in guard.reason
    hostguard.remove(guard)  # nothing to remove, no error


def test_a_killed_runs_rule_is_swept_by_the_next_guard(internal_network: str) -> None:
    stale = [
        "INPUT",
        "-i",
        "br-0000deadbeef",
        "-s",
        "10.254.254.0/24",
        "-m",
        "comment",
        "--comment",
        "pytest-codex:killed-run",
        "-j",
        "DROP",
    ]
    subprocess.run(["iptables", "-A", *stale], check=True, timeout=30)
    guard = hostguard.install(internal_network, "sweeper")
    try:
        assert guard.active, guard.reason
        rules = subprocess.run(
            ["iptables", "-S", "INPUT"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
        assert "pytest-codex:killed-run" not in rules
        assert "pytest-codex:sweeper" in rules  # a live bridge's rule stays
    finally:
        hostguard.remove(guard)
        subprocess.run(["iptables", "-D", *stale], timeout=30, check=False, capture_output=True)
