"""The bundled stack on Docker Swarm (`--codex-engine=swarm`): `docker stack deploy` of
compose files the swarm accepts (no `build:`; the images are built locally first), the
orchestrator's published port, its health, the services' logs, and `docker stack rm`
with a bounded wait until nothing of the stack is left. The OPENAI_* secrets reach the
stack as Docker secrets created from stdin (never a file, never a service's env) and
removed with it. No pytest import here.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pytest_codex.target import docker as runner
from pytest_codex.target.compose import StackError
from pytest_codex.target.leftovers import PROJECT, alive, dead_projects

COMMAND_TIMEOUT = 300.0  # one docker command, at most
PUSH_TIMEOUT = 600.0  # one image pushed to the registry, at most
REMOVE_TIMEOUT = 60.0  # for a removed stack's services, networks and secrets to go
POLL_S = 0.25  # between two looks while waiting
LOCK_TIMEOUT = 180.0  # for another process to finish creating or leaving the swarm
STATE_DIR = Path(tempfile.gettempdir()) / "pytest-codex-swarm"  # who uses the test swarm
MAX_LOG_BYTES = 16 * 1024 * 1024  # one service's log kept, at most
# The stack's secrets: the variable they come from, the name the stack files give them.
STACK_SECRETS = (
    ("OPENAI_API_KEY", "openai_api_key"),
    ("OPENAI_ORG_ID", "openai_org_id"),
    ("OPENAI_PROJECT", "openai_project"),
    ("MODEL_STUB_EXPECTED_KEY", "stub_key"),
)
SECRET_VARIABLES = frozenset(variable for variable, _ in STACK_SECRETS)
# A secret cannot be empty: an unset variable is a newline, which its readers strip to
# nothing (the orchestrator, the worker entrypoint and the model stub take it as unset).
UNSET = b"\n"
SWARM_FILES = {"compose.yaml": "swarm.yaml", "compose.live.yaml": "swarm.live.yaml"}
SWARM_FILES["compose.hermetic.yaml"] = "swarm.hermetic.yaml"


def docker(
    *argv: str,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    timeout: float = COMMAND_TIMEOUT,
) -> str:
    """`docker ...` through the one runner (target/docker.py); its stdout, or StackError."""
    text = None if stdin is None else stdin.decode("utf-8")
    return runner.docker(*argv, timeout=timeout, env=env, stdin=text).stdout


def swarm_state() -> str:
    """The engine's swarm state: `active` (a manager or worker), `inactive`, ..."""
    info = docker("info", "--format", "{{json .Swarm}}", timeout=30)
    swarm = json.loads(info) if info.strip() else {}
    if swarm.get("LocalNodeState") == "active" and not swarm.get("ControlAvailable"):
        return "worker"
    return str(swarm.get("LocalNodeState") or "inactive")


@contextlib.contextmanager
def single_node_swarm(advertise: str = "127.0.0.1", state_dir: Path = STATE_DIR) -> Iterator[bool]:
    """The engine as a swarm manager for the block: `docker swarm init` when it is in no
    swarm, and `docker swarm leave --force` when the last user of a swarm that a user of
    this function created is done (processes on this machine count each other in
    `state_dir`, under a lock: xdist workers and parallel sessions never pull the swarm
    from under each other). Yields whether the swarm is one made here. Used by the tests
    and the benchmark, never by the plugin: a swarm changes the engine for everyone."""
    users = state_dir / "users"
    users.mkdir(parents=True, exist_ok=True)
    marker = state_dir / "created"
    me = users / f"{os.getpid()}-{secrets.token_hex(4)}"
    with _locked(state_dir / "lock"):
        state = swarm_state()
        if state == "worker":
            raise StackError("swarm: this engine is a swarm worker node; run on a manager node")
        if state != "active":
            marker.unlink(missing_ok=True)
            docker("swarm", "init", "--advertise-addr", advertise, timeout=60)
            marker.touch()
        me.touch()
        created = marker.exists()
    try:
        yield created
    finally:
        with _locked(state_dir / "lock"):
            me.unlink(missing_ok=True)
            others = 0
            for entry in users.iterdir():
                pid = entry.name.partition("-")[0]
                if pid.isdigit() and alive(int(pid)):
                    others += 1
                else:
                    entry.unlink(missing_ok=True)  # a killed user's entry
            if marker.exists() and others == 0:
                docker("swarm", "leave", "--force", timeout=60)
                marker.unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(path: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """An exclusive lock on `path` (flock), waited for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    with path.open("a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StackError(
                        f"swarm: {path} stayed locked for {timeout:.0f} s; another run is "
                        "creating or leaving the swarm, retry when it is done"
                    ) from None
                time.sleep(POLL_S)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pin_images(images: Mapping[str, str], run: str) -> dict[str, str]:
    """Each local image (variable -> tag) tagged `<repository>:<run>` at once, so the stack
    runs what this run built even when another run on the engine rebuilds the shared tag
    meanwhile (seen here); the same variables naming the run's tags, which `remove`
    takes away again."""
    pinned = {}
    for variable, image in images.items():
        name, _, tag = image.rpartition(":")
        repository = name if name and "/" not in tag else image
        docker("tag", image, f"{repository}:{run}", timeout=60)
        pinned[variable] = f"{repository}:{run}"
    return pinned


def push_images(registry: str, images: Mapping[str, str]) -> dict[str, str]:
    """Tag each local image (variable -> tag) as `<registry>/<tag>` and push it; the same
    variables naming the pushed images (for the stack files and the orchestrator)."""
    pushed = {}
    for variable, image in images.items():
        remote = f"{registry}/{image}"
        docker("tag", image, remote, timeout=60)
        docker("push", remote, timeout=PUSH_TIMEOUT)
        pushed[variable] = remote
    return pushed


def swarm_files(files: tuple[Path, ...]) -> tuple[Path, ...]:
    """The swarm twins of the bundled compose files (`swarm.yaml` beside `compose.yaml`)."""
    twins = []
    for path in files:
        twin = SWARM_FILES.get(path.name)
        if twin is None or not (path.parent / twin).is_file():
            raise StackError(
                f"codex stack: {path} has no swarm twin; --codex-engine=swarm deploys the "
                "bundled stack only (its swarm.*.yaml files); drop --codex-compose-file or "
                "use --codex-engine=compose"
            )
        twins.append(path.parent / twin)
    return tuple(twins)


@dataclass
class SwarmStack:
    """One stack on the swarm: its files, name and the environment deploy sees."""

    files: tuple[Path, ...]
    name: str
    env: Mapping[str, str] = field(default_factory=dict)

    def deploy(self, values: Mapping[str, str], *, from_registry: bool = False) -> None:
        """Create the stack's secrets from `values` (through stdin) and deploy it; the
        stack files name a secret `${CODEX_RUN_ID}-<name>`, external. `from_registry`:
        the images were pushed (`push_images`); each node pulls them by digest."""
        for variable, short in STACK_SECRETS:
            value = values.get(variable, "")
            name = f"{self.name}-{short}"
            docker(
                "secret",
                "create",
                "--label",
                f"io.pytest-codex.run={self.name}",
                name,
                "-",
                stdin=value.encode() if value else UNSET,
            )
        # From a registry every node pins the same digest; local images are not looked up.
        resolve = "always" if from_registry else "never"
        argv = ["stack", "deploy", "--resolve-image", resolve, "--prune"]
        for path in self.files:
            argv += ["-c", str(path)]
        docker(*argv, self.name, env=self.env)

    def services(self) -> list[str]:
        out = docker("stack", "services", "--format", "{{.Name}}", self.name, timeout=60)
        return sorted(out.split())

    def logs(self) -> str:
        """Every service's log, each line prefixed `<service> | ` as compose prints them
        (best effort: a failure is reported in the text)."""
        lines: list[str] = []
        try:
            names = self.services()
        except StackError as error:
            return f"[logs unavailable: {error}]\n"
        for name in names:
            short = name.removeprefix(f"{self.name}_")
            try:
                text = docker(
                    "service",
                    "logs",
                    "--raw",
                    "--timestamps",
                    "--no-task-ids",
                    name,
                    timeout=60,
                )
            except StackError as error:
                text = f"[logs unavailable: {error}]\n"
            lines += [f"{short} | {line}" for line in text[-MAX_LOG_BYTES:].splitlines()]
        return "".join(f"{line}\n" for line in lines)

    def _tags(self) -> list[str]:
        listed = docker("images", "--format", "{{.Repository}}:{{.Tag}}", timeout=60)
        return [tag for tag in listed.split() if tag.endswith(f":{self.name}")]

    def remove(self) -> None:
        """`docker stack rm`, then wait until its services, networks, volumes and the
        run's image tags are gone (at most REMOVE_TIMEOUT), and remove its secrets:
        nothing of the run is left."""
        with contextlib.suppress(StackError):
            docker("stack", "rm", self.name, timeout=120)
        run_label = f"label=io.pytest-codex.run={self.name}"
        # Job services the orchestrator started and had no time to remove, with their
        # containers (a finished job's container outlives its service).
        jobs = docker("service", "ls", "-q", "--filter", run_label, timeout=60).split()
        if jobs:
            with contextlib.suppress(StackError):
                docker("service", "rm", *jobs, timeout=60)
        containers = docker("ps", "-aq", "--filter", run_label, timeout=60).split()
        if containers:
            with contextlib.suppress(StackError):
                docker("rm", "-f", *containers, timeout=60)
        deadline = time.monotonic() + REMOVE_TIMEOUT
        label = f"label=com.docker.stack.namespace={self.name}"
        while time.monotonic() < deadline:
            left = docker("service", "ls", "-q", "--filter", label, timeout=60).split()
            left += docker("network", "ls", "-q", "--filter", label, timeout=60).split()
            # `stack rm` keeps the stack's volumes; each goes once its container has, and
            # so do the run's own image tags (pin_images, push_images; the images stay).
            volumes = docker("volume", "ls", "-q", "--filter", label, timeout=60).split()
            for kind, name in [("volume", v) for v in volumes] + [
                ("image", tag) for tag in self._tags()
            ]:
                with contextlib.suppress(StackError):  # still in use: the next look
                    docker(kind, "rm", name, timeout=60)
            if not left and not volumes and not self._tags():
                break
            time.sleep(POLL_S)
        for secret in docker("secret", "ls", "-q", "--filter", run_label, timeout=60).split():
            with contextlib.suppress(StackError):  # still held: a last look below
                docker("secret", "rm", secret, timeout=60)
        left = docker("secret", "ls", "-q", "--filter", run_label, timeout=60).split()
        if left:
            raise StackError(
                f"codex stack: {len(left)} secret(s) of stack {self.name} are left; "
                f"remove them with `docker secret rm` ({', '.join(left)})"
            )


def clean_stale() -> list[str]:
    """Remove the stacks (and their secrets and job services) of this host's killed runs,
    found by name as `leftovers` finds compose projects; the names removed. A run whose
    process lives, or another host's, is never touched."""
    names = set(docker("stack", "ls", "--format", "{{.Name}}", timeout=60).split())
    for secret in docker("secret", "ls", "--format", "{{.Name}}", timeout=60).split():
        names.add(secret.rpartition("-")[0])
    stale = dead_projects({name for name in names if PROJECT.fullmatch(name)})
    for name in stale:
        SwarmStack((), name).remove()
    return stale
