"""The harness on Docker Swarm (`--codex-engine=swarm`), for real on a single-node swarm
(created and left by the `swarm_engine` fixture only when the engine is in none): a
hermetic live matrix through the swarm backend with the canary keys visible nowhere
Docker shows them, a stack that never gets healthy, a killed run's stack removed at the
next start, images pushed to a local registry, the run's images pinned to its own tags.
Every name is unique to the run."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_codex.adapter import swarmstart
from pytest_codex.config.settings import RawOption, resolve
from pytest_codex.review import cli as verify
from pytest_codex.target import leftovers, swarm
from tests.conftest import REPO, free_port

WAIT_S = 60  # for the registry to answer


def docker(*argv: str, check: bool = True, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["docker", *argv], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done.stdout


def wait_for(what: str, look: Any) -> str:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = look()
        if found:
            return str(found).strip()
        time.sleep(0.1)
    raise AssertionError(f"{what} did not show up within {WAIT_S} s")


def nothing_of_the_stack(name: str) -> str:
    """The ids of whatever the stack `name` left: services, networks, volumes, secrets,
    and the image tags of the run."""
    label = f"label=com.docker.stack.namespace={name}"
    run_label = f"label=io.pytest-codex.run={name}"
    tags = docker("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    return (
        " ".join(tag for tag in tags if tag.endswith(f":{name}"))
        + "".join(
            docker(kind, "ls", "-q", "--filter", which)
            for kind, which in (
                ("service", label),
                ("network", label),
                ("volume", label),
                ("secret", run_label),
            )
        ).strip()
    )


class Watcher(threading.Thread):
    """Everything Docker shows about a run's swarm while it runs: `docker service
    inspect` of the stack's services and of every job service, `docker inspect` of their
    containers, and their logs; polled until stopped (bounded by MAX_LOOKS)."""

    MAX_LOOKS = 20_000

    def __init__(self, run: str) -> None:
        super().__init__(daemon=True)
        self.run_name = run
        self.stop = threading.Event()
        self.seen: dict[str, str] = {}  # what -> text
        self.job_services: set[str] = set()
        self.job_containers: set[str] = set()
        self.stack_services: set[str] = set()

    def look(self, what: str, *argv: str) -> None:
        text = docker(*argv, check=False)
        if text.strip():
            self.seen[what] = text

    def run(self) -> None:
        stack = f"label=com.docker.stack.namespace={self.run_name}"
        jobs = f"label=io.pytest-codex.run={self.run_name}"
        for count in range(self.MAX_LOOKS):
            if self.stop.is_set():
                return
            for service in docker("service", "ls", "-q", "--filter", jobs, check=False).split():
                self.job_services.add(service)
                self.look(f"service {service}", "service", "inspect", service)
                self.look(f"service logs {service}", "service", "logs", "--raw", service)
            for container in docker("ps", "-aq", "--filter", jobs, check=False).split():
                self.job_containers.add(container)
                self.look(f"container {container}", "inspect", container)
            # The stack's own services at every look until they are seen, then every tenth.
            if count % 10 == 0 or not self.stack_services:
                for service in docker(
                    "service", "ls", "-q", "--filter", stack, check=False
                ).split():
                    self.stack_services.add(service)
                    self.look(f"service {service}", "service", "inspect", service)
                    self.look(f"service logs {service}", "service", "logs", "--raw", service)
                names = docker("ps", "-q", "--filter", f"name={self.run_name}_", check=False)
                for container in names.split():
                    self.look(f"container {container}", "inspect", container)
            time.sleep(0.1)


def test_a_live_matrix_through_the_swarm_backend_shows_the_key_nowhere(
    swarm_engine: bool, pytester: pytest.Pytester
) -> None:
    canaries = {
        "OPENAI_API_KEY": f"canary-swarm-key-{secrets.token_hex(12)}",
        "OPENAI_ORG_ID": f"canary-swarm-org-{secrets.token_hex(6)}",
        "OPENAI_PROJECT": f"canary-swarm-proj-{secrets.token_hex(6)}",
    }
    run = f"pytest-codex-swarmtest-{secrets.token_hex(4)}"
    pytester.path.joinpath(".env.live").write_text(
        "".join(f"{name}={value}\n" for name, value in canaries.items())
    )
    pytester.makeconftest(
        f'''
import pytest

@pytest.fixture(scope="session")
def codex_compose_project_name() -> str:
    return "{run}"
'''
    )
    watcher = Watcher(run)
    watcher.start()
    try:
        result = pytester.runpytest_subprocess(
            "--codex-mode=live",
            "--codex-engine=swarm",
            f"--codex-matrix={REPO / 'matrices' / 'live.yaml'}",
            "--codex-evidence-dir=evidence",
            "--codex-env-file=.env.live",
            "-v",
            "-p",
            "no:cacheprovider",
            timeout=900,
        )
    finally:
        watcher.stop.set()
        watcher.join(timeout=60)
    output = result.stdout.str() + result.stderr.str()
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0, output
    assert outcomes.get("errors", 0) == 0, output
    assert outcomes["passed"] >= 19, output
    result.stdout.fnmatch_lines(
        ["*::worker-result PASSED*", "*::model-hangs-until-the-job-timeout PASSED*"]
    )

    assert len(watcher.job_services) >= 5, "too few job services were seen to prove much"
    assert watcher.job_containers, "no job container was seen"
    jobs = [text for what, text in watcher.seen.items() if what.startswith("service ")]
    assert any('"ReplicatedJob"' in text for text in jobs)
    # What this run built, by tags of its own (another run may rebuild :latest meanwhile).
    images = {
        line.strip().rstrip(",")
        for text in jobs
        for line in text.splitlines()
        if '"Image"' in line
    }
    assert f'"Image": "codex-worker:{run}"' in images, images
    assert f'"Image": "pytest-codex/orchestrator:{run}"' in images, images
    [live] = sorted((pytester.path / "evidence").glob("*/live"))
    manifest = json.loads((live / "manifest.json").read_text())
    assert manifest["target"]["engine"] == "swarm"
    assert manifest["live"]["env"] == dict.fromkeys(canaries, "present")
    assert any("rollback" in line for line in manifest["checks_not_run"])
    assert verify.main(["verify", str(live), "--env-file", ".env.live"]) == 0
    written = [p for p in pytester.path.rglob("*") if p.is_file() and p.name != ".env.live"]
    for value in canaries.values():
        for what, text in watcher.seen.items():
            assert value not in text, f"a canary is visible in {what}"
        assert value not in output, "a canary reached pytest's output"
        for path in written:
            assert value.encode() not in path.read_bytes(), f"a canary reached {path}"

    label = f"label=io.pytest-codex.run={run}"
    assert docker("service", "ls", "-q", "--filter", label).strip() == ""
    assert docker("ps", "-aq", "--filter", label).strip() == ""
    assert docker("secret", "ls", "-q", "--filter", label).strip() == ""
    assert docker("stack", "ps", run, check=False).strip() == ""
    assert nothing_of_the_stack(run) == ""


def test_a_killed_runs_stack_is_removed_at_the_next_start_and_a_live_runs_is_not(
    swarm_engine: bool, base_image: str, tmp_path: Path
) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    here = leftovers.host_tag()
    dead = f"pytest-codex-{here}-{gone.pid}-{secrets.token_hex(3)}"
    live = f"pytest-codex-{here}-{os.getpid()}-{secrets.token_hex(3)}"
    stack_file = tmp_path / "idle.yaml"
    stack_file.write_text(
        'version: "3.8"\nservices:\n  idle:\n'
        f"    image: {base_image}\n"
        '    command: ["sleep", "300"]\n'
        "    stop_grace_period: 1s\n"
        "    deploy: {endpoint_mode: dnsrr}\n"
    )
    try:
        for name in (dead, live):
            label = f"io.pytest-codex.run={name}"
            docker("secret", "create", "--label", label, f"{name}-openai_api_key", "-", stdin="k")
            docker("stack", "deploy", "--resolve-image", "never", "-c", str(stack_file), name)
        removed = swarm.clean_stale()
        assert dead in removed
        assert live not in removed
        stacks = docker("stack", "ls", "--format", "{{.Name}}").split()
        assert dead not in stacks
        assert live in stacks
        assert docker("secret", "ls", "-q", "--filter", f"name={dead}-").strip() == ""
    finally:
        for name in (dead, live):
            swarm.SwarmStack((), name).remove()


def test_a_swarm_stack_that_never_gets_healthy_is_one_stop_and_leaves_nothing(
    swarm_engine: bool, pytester: pytest.Pytester
) -> None:
    run = f"pytest-codex-swarmtest-{secrets.token_hex(4)}"
    pytester.makeconftest(
        "import pytest\n\n"
        '@pytest.fixture(scope="session")\n'
        "def codex_compose_project_name() -> str:\n"
        f'    return "{run}"\n'
    )
    pytester.mkdir("matrices")
    pytester.path.joinpath("matrices", "one.yaml").write_text(
        "name: one\ncases:\n  - name: health\n    request: {path: /healthz}\n"
        "    expect: {status: 200}\n"
    )
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        "--codex-engine=swarm",
        "--codex-health-path=/never-ready",
        "--codex-startup-timeout=8",
        "--codex-evidence-dir=evidence",
        "matrices",
        timeout=600,
    )
    assert result.ret == 1
    assert result.stdout.str().count("SESSION STOPPED") == 1
    result.stdout.fnmatch_lines(
        [
            "SESSION STOPPED: codex stack: http://127.0.0.1:*/never-ready did not answer 2xx "
            "within 8 s of `docker stack deploy`*",
            "*last service log lines:*",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    assert docker("stack", "ps", run, check=False).strip() == ""
    assert nothing_of_the_stack(run) == ""
    label = f"label=io.pytest-codex.run={run}"
    assert docker("secret", "ls", "-q", "--filter", label).strip() == ""
    assert docker("network", "ls", "-q", "--filter", f"name={run}").strip() == ""


@pytest.fixture
def local_registry(tmp_path: Path) -> Iterator[str]:
    """Debian's docker-registry on a free loopback port (the engine pushes to 127.0.0.1
    without TLS), its storage under tmp_path; installed by scripts/ensure-registry.sh."""
    subprocess.run(["bash", str(REPO / "scripts" / "ensure-registry.sh")], check=True, timeout=600)
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\nlog: {level: error}\n"
        f"storage: {{filesystem: {{rootdirectory: {tmp_path / 'registry'}}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n"
    )
    server = subprocess.Popen(["docker-registry", "serve", str(config)])
    try:
        wait_for(
            "the registry",
            lambda: (
                subprocess.run(
                    ["curl", "-sf", f"http://127.0.0.1:{port}/v2/"],
                    capture_output=True,
                    check=False,
                ).returncode
                == 0
            ),
        )
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)
        # The tags pointing at it (untagged only: the local images keep their own tags).
        tags = docker("images", "--format", "{{.Repository}}:{{.Tag}}", f"127.0.0.1:{port}/*/*")
        for tag in tags.split():
            docker("image", "rm", tag, check=False)


def test_the_swarm_stack_runs_from_images_pushed_to_a_local_registry(
    swarm_engine: bool, local_registry: str, pytester: pytest.Pytester
) -> None:
    run = f"pytest-codex-swarmtest-{secrets.token_hex(4)}"
    pytester.makeconftest(
        "import pytest\n\n"
        '@pytest.fixture(scope="session")\n'
        "def codex_compose_project_name() -> str:\n"
        f'    return "{run}"\n'
    )
    pytester.mkdir("matrices")
    pytester.path.joinpath("matrices", "one.yaml").write_text(
        "name: one\ncases:\n  - name: health\n    request: {path: /healthz}\n"
        "    expect: {status: 200}\n"
    )
    watcher = Watcher(run)
    watcher.start()
    try:
        result = pytester.runpytest_subprocess(
            "--codex-mode=mocked",
            "--codex-engine=swarm",
            f"--codex-registry={local_registry}",
            "--codex-evidence-dir=evidence",
            "matrices",
            timeout=600,
        )
    finally:
        watcher.stop.set()
        watcher.join(timeout=60)
    assert result.ret == 0, result.stdout.str()
    pushed = f'"Image": "{local_registry}/pytest-codex/orchestrator:{run}@sha256:'
    assert any(pushed in text for text in watcher.seen.values()), "not deployed from there"
    [bundle] = sorted((pytester.path / "evidence").glob("*/mocked"))
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["target"]["registry"] == local_registry
    assert manifest["timings_s"]["image_push"] > 0
    assert docker("stack", "ps", run, check=False).strip() == ""
    assert nothing_of_the_stack(run) == ""


def test_the_run_pins_the_orchestrator_image_it_was_given(tmp_path: Path, base_image: str) -> None:
    """`CODEX_ORCHESTRATOR_IMAGE` names the image the stack runs: the swarm engine pins
    that one to the run's tag, not the default `pytest-codex/orchestrator:latest`."""
    repository = f"pytest-codex-test/orchestrator-{secrets.token_hex(4)}"
    run = f"pytest-codex-pintest-{secrets.token_hex(4)}"
    docker("tag", base_image, f"{repository}:given")
    settings = resolve(
        {"mode": RawOption(None, "mocked")}, invocation_dir=tmp_path, rootdir=tmp_path
    )
    try:
        prepared = {"CODEX_ORCHESTRATOR_IMAGE": f"{repository}:given"}
        pinned = swarmstart._pushed(settings, prepared, run, {})
        assert pinned["CODEX_ORCHESTRATOR_IMAGE"] == f"{repository}:{run}"
        given_id, pinned_id = (
            docker("image", "inspect", "-f", "{{.Id}}", tag).strip()
            for tag in (f"{repository}:given", f"{repository}:{run}")
        )
        assert pinned_id == given_id
    finally:
        docker("rmi", f"{repository}:given", f"{repository}:{run}", check=False)
