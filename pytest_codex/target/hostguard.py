"""A second layer keeping a live run's workers off the host: one iptables rule on the
run's workers bridge.

The bundled stack's workers network already keeps them off (internal, and no host
address on its bridge: compose.live.yaml). A plain bridge network, internal or not, as a
compose file of your own may declare, still lets a container open connections to the
host's own address on its bridge (the gateway, e.g. 172.18.0.1), so any host service
listening on 0.0.0.0 answers a worker. While the harness runs as root with iptables
present, it inserts

    iptables -I INPUT -i <bridge> -s <subnet> -m comment --comment pytest-codex:<run> -j DROP

after `compose up` and deletes it at teardown. Traffic between containers on the bridge
(worker to model stand-in) does not pass INPUT and is untouched. Without root or
iptables nothing is changed and the reason is recorded; the host's listeners on the
bridge address then stay reachable from a worker. A rule left by a killed run (its
bridge is gone) is deleted the next time a guard is installed. No pytest import here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from pytest_codex.target import docker

WORKERS_NETWORK = "pytest-codex-workers-{run_id}"  # as compose.live.yaml names it
COMMAND_TIMEOUT_S = 15.0
COMMENT_PREFIX = "pytest-codex:"
MAX_RULES_SWEPT = 1000  # INPUT rules looked at for ones left by killed runs, at most
NET_CLASS = Path("/sys/class/net")


@dataclass
class HostGuard:
    """What was done for one run's workers network (recorded in the evidence)."""

    network: str
    active: bool = False
    interface: str | None = None
    subnet: str | None = None
    reason: str = ""
    rule: list[str] | None = None  # the iptables arguments after -I/-D

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """`docker` or `iptables` through the one runner; the exit code is the caller's to
    judge, a missing command or no answer within COMMAND_TIMEOUT_S is a StackError."""
    return docker.run(argv, timeout=COMMAND_TIMEOUT_S, check=False)


def bridge_of(network: str) -> tuple[str, str] | None:
    """The host interface and the IPv4 subnet of a bridge network, or None."""
    done = _run(["docker", "network", "inspect", network])
    if done.returncode != 0:
        return None
    try:
        [info] = json.loads(done.stdout)
        subnet = str(info["IPAM"]["Config"][0]["Subnet"])
        network_id = str(info["Id"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    options = info.get("Options") or {}
    interface = options.get("com.docker.network.bridge.name") or f"br-{network_id[:12]}"
    return str(interface), subnet


def install(network: str, run_id: str) -> HostGuard:
    """Insert the DROP rule for `network`; an inactive guard with the reason otherwise."""
    guard = HostGuard(network=network)
    if os.geteuid() != 0:
        guard.reason = "not root: no rule added; the host's bridge address stays reachable"
        return guard
    iptables = shutil.which("iptables")
    if iptables is None:
        guard.reason = "iptables not found: no rule added; the bridge address stays reachable"
        return guard
    try:
        _insert(guard, iptables, run_id)
    except docker.StackError as error:  # docker or iptables did not answer in time
        guard.reason = f"no rule added: {error}"
    return guard


def _insert(guard: HostGuard, iptables: str, run_id: str) -> None:
    network = guard.network
    bridge = bridge_of(network)
    if bridge is None:
        guard.reason = f"network {network!r} not found (a compose file of your own?): no rule"
        return
    guard.interface, guard.subnet = bridge
    sweep_stale(iptables)
    rule = [
        "INPUT",
        "-i",
        guard.interface,
        "-s",
        guard.subnet,
        "-m",
        "comment",
        "--comment",
        f"{COMMENT_PREFIX}{run_id}",
        "-j",
        "DROP",
    ]
    done = _run([iptables, "-I", *rule])
    if done.returncode != 0:
        guard.reason = f"iptables -I failed: {done.stderr.strip()[:200]}"
        return
    guard.active = True
    guard.rule = rule
    guard.reason = "workers' packets to any host address are dropped"


def sweep_stale(iptables: str) -> list[str]:
    """Delete the rules of killed runs: ours (by comment) whose bridge is gone. Returns
    the comments of the rules deleted."""
    listed = _run([iptables, "-S", "INPUT"])
    swept: list[str] = []
    for line in listed.stdout.splitlines()[:MAX_RULES_SWEPT]:
        try:
            words = shlex.split(line)  # the comment is quoted
        except ValueError:
            continue
        if words[:2] != ["-A", "INPUT"] or "-i" not in words or "--comment" not in words:
            continue
        comment = words[words.index("--comment") + 1]
        interface = words[words.index("-i") + 1]
        stale = comment.startswith(COMMENT_PREFIX) and not (NET_CLASS / interface).exists()
        if stale and _run([iptables, "-D", *words[1:]]).returncode == 0:
            swept.append(comment)
    return swept


def remove(guard: HostGuard) -> None:
    """Delete the rule `install` added (nothing when it added none)."""
    iptables = shutil.which("iptables")
    if not guard.active or guard.rule is None or iptables is None:
        return
    with contextlib.suppress(docker.StackError):  # left behind: the next guard sweeps it
        _run([iptables, "-D", *guard.rule])


@contextlib.contextmanager
def guarded(run_id: str) -> Iterator[HostGuard]:
    """The rule for the run's workers network while the block runs."""
    guard = install(WORKERS_NETWORK.format(run_id=run_id), run_id)
    try:
        yield guard
    finally:
        remove(guard)
