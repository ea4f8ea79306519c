"""The swarm worker backend for real, on a single-node swarm this module creates when the
engine is in none (and leaves only then): a job is a `replicated-job` service with the
container worker's hardening, the key reaches it as a Docker secret only (in no service
spec, no container's configuration, no log), and the service and its secrets are gone
after the job, a timed-out one too. Every name here is unique to the run, so other tests
on the same engine are never touched."""

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

from codex_orchestrator.swarm_worker import SwarmWorker
from pytest_codex import schemas
from pytest_codex.review import cli as verify
from pytest_codex.target import leftovers, swarm
from tests.conftest import REPO, free_port

KEY = f"sk-canary-swarm-{secrets.token_hex(6)}"
WAIT_S = 60  # for a service or task to show up
HEALTH = (
    'python3 -c "import urllib.request; '
    "urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)\""
)


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


@pytest.fixture(scope="module")
def swarm_engine() -> Iterator[bool]:
    """The engine as a swarm manager for this module (created and left here if needed)."""
    with swarm.single_node_swarm() as created:
        yield created


@pytest.fixture
def stub_network(swarm_engine: bool, orchestrator_image: str) -> Iterator[str]:
    """An internal overlay network holding the model stand-in as `model-stub`, its
    expected key a Docker secret, as in the hermetic swarm stack."""
    name = f"pytest-codex-swarmtest-{secrets.token_hex(4)}"
    label = f"io.pytest-codex.run={name}"
    docker("network", "create", "-d", "overlay", "--internal", "--label", label, name)
    docker("secret", "create", "--label", label, f"{name}-stub-key", "-", stdin=KEY)
    try:
        docker(
            "service", "create", "--detach", "--name", f"{name}-stub",
            "--network", f"name={name},alias=model-stub", "--endpoint-mode", "dnsrr",
            "--health-cmd", HEALTH, "--health-interval", "1s", "--health-start-period", "1s",
            "--secret", f"source={name}-stub-key,target=stub_key",
            "--env", "MODEL_STUB_EXPECTED_KEY_FILE=/run/secrets/stub_key",
            "--env", "MODEL_STUB_TURN_DELAY_S=1",
            "--label", label, "--container-label", "io.pytest-codex.role=model-stub",
            orchestrator_image,
            "python3", "-m", "model_stub", "serve", "--host", "0.0.0.0", "--port", "8080",
        )  # fmt: skip
        wait_for(
            "the model stand-in, healthy",
            lambda: (
                "Running"
                in docker("service", "ps", "--format", "{{.CurrentState}}", f"{name}-stub")
            ),
        )
        yield name
    finally:
        docker("service", "rm", f"{name}-stub", check=False)
        time.sleep(1)  # the task lets go of the secret and the network
        docker("secret", "rm", f"{name}-stub-key", check=False)
        docker("network", "rm", name, check=False)


def make_workspace(root: Path, job_id: str, instruction: str) -> tuple[Path, dict[str, Any]]:
    workspace = root / ("d" * 32)
    (workspace / ".codex").mkdir(parents=True)
    request = {
        "job_id": job_id,
        "project_id": "d" * 32,
        "job_type": "create",
        "instruction": instruction,
    }
    (workspace / ".codex" / "request.json").write_text(json.dumps(request))
    return workspace, request


def left_of_job(job_id: str) -> str:
    label = f"label=io.pytest-codex.job={job_id}"
    return (
        docker("service", "ls", "-q", "--filter", label)
        + docker("secret", "ls", "-q", "--filter", label)
        + docker("ps", "-aq", "--filter", label)
    ).strip()


def test_a_swarm_job_is_sandboxed_gets_the_key_as_a_secret_only_and_leaves_nothing(
    worker_image: str, stub_network: str, tmp_path: Path
) -> None:
    root = tmp_path / "workspaces"
    job_id = f"swarm-{secrets.token_hex(4)}"
    workspace, request = make_workspace(root, job_id, "Create a Fibonacci CLI")
    worker = SwarmWorker(
        image=worker_image,
        workspace_root=root,
        job_timeout_s=60,
        network=stub_network,
        environ={
            "OPENAI_API_KEY": KEY,
            "OPENAI_BASE_URL": "http://model-stub:8080/v1",
            "CODEX_RUN_ID": stub_network,
        },
    )
    outcome: list[dict[str, Any]] = []
    thread = threading.Thread(target=lambda: outcome.append(worker.run(workspace, request)))
    thread.start()
    label = f"label=io.pytest-codex.job={job_id}"
    service_id = wait_for(
        "the job service", lambda: docker("service", "ls", "-q", "--filter", label)
    )
    container_id = wait_for("the job's container", lambda: docker("ps", "-q", "--filter", label))
    service_text = docker("service", "inspect", service_id)
    container_text = docker("inspect", container_id)
    inside = docker(
        "exec", container_id, "sh", "-c",
        "id -u; test -e /var/run/docker.sock && echo socket || echo no-socket; "
        "touch /etc/x 2>/dev/null && echo writable || echo read-only; "
        "stat -c %u:%a /run/secrets/openai_api_key",
    )  # fmt: skip
    thread.join(timeout=120)

    [spec] = [entry["Spec"] for entry in json.loads(service_text)]
    assert spec["Mode"] == {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}}
    task = spec["TaskTemplate"]
    assert task["RestartPolicy"]["Condition"] == "none"
    assert task["Resources"]["Limits"] == {
        "NanoCPUs": 10**9,
        "MemoryBytes": 1024**3,
        "Pids": 256,
    }
    container = task["ContainerSpec"]
    assert container["User"] == "1000:1000"
    assert container["ReadOnly"] is True
    assert container["CapabilityDrop"] == ["ALL"]
    assert sorted(m["Target"] for m in container["Mounts"]) == [
        "/home/worker",
        "/tmp",
        "/workspace",
    ]
    assert [s["File"]["Name"] for s in container["Secrets"]] == ["openai_api_key"]
    assert "OPENAI_API_KEY_FILE=/run/secrets/openai_api_key" in container["Env"]
    assert spec["Labels"]["io.pytest-codex.run"] == stub_network
    [info] = json.loads(container_text)
    assert info["HostConfig"]["CapDrop"] == ["ALL"]
    assert info["HostConfig"]["ReadonlyRootfs"] is True
    assert info["HostConfig"]["PidsLimit"] == 256
    assert inside.split() == ["1000", "no-socket", "read-only", "1000:400"]
    assert KEY not in service_text
    assert KEY not in container_text

    [result] = outcome
    assert schemas.errors("result", result) == [], result
    assert result["status"] == "success", result
    assert "app.py" in result["created_files"]
    assert result["logs"]["env"]["OPENAI_API_KEY"] == "present"
    assert left_of_job(job_id) == ""
    for name in ("events.jsonl", "worker.log"):
        kept = (root / ".jobs" / job_id / name).read_text()
        assert KEY not in kept
    assert "turn.completed" in (root / ".jobs" / job_id / "events.jsonl").read_text()


def test_a_swarm_job_past_its_timeout_is_removed_and_leaves_a_structured_error(
    worker_image: str, stub_network: str, tmp_path: Path
) -> None:
    root = tmp_path / "workspaces"
    job_id = f"swarm-{secrets.token_hex(4)}"
    workspace, request = make_workspace(root, job_id, "Create it [model-stub:hang]")
    worker = SwarmWorker(
        image=worker_image,
        workspace_root=root,
        job_timeout_s=4,  # the entrypoint's own limit (5 s at least) comes later
        network=stub_network,
        environ={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": "http://model-stub:8080/v1"},
    )
    started = time.monotonic()
    result = worker.run(workspace, request)

    assert time.monotonic() - started < 30
    assert schemas.errors("result", result) == []
    assert result["error"]["type"] == "timeout", result
    assert "removed" in result["error"]["message"]
    assert json.loads((workspace / ".codex" / "result.json").read_text()) == result
    assert left_of_job(job_id) == ""


def test_a_swarm_job_whose_image_is_missing_is_a_structured_error(
    swarm_engine: bool, tmp_path: Path
) -> None:
    root = tmp_path / "workspaces"
    job_id = f"swarm-{secrets.token_hex(4)}"
    workspace, request = make_workspace(root, job_id, "Create it")
    worker = SwarmWorker(
        image=f"pytest-codex/no-such-image:{secrets.token_hex(4)}",
        workspace_root=root,
        job_timeout_s=60,
        environ={"OPENAI_API_KEY": KEY},
    )
    result = worker.run(workspace, request)

    assert schemas.errors("result", result) == []
    assert result["error"]["type"] == "worker_image_missing", result
    assert left_of_job(job_id) == ""


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
            if count % 10 == 0:
                for service in docker(
                    "service", "ls", "-q", "--filter", stack, check=False
                ).split():
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
    pushed = f'"Image": "{local_registry}/pytest-codex/orchestrator:latest@sha256:'
    assert any(pushed in text for text in watcher.seen.values()), "not deployed from there"
    [bundle] = sorted((pytester.path / "evidence").glob("*/mocked"))
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["target"]["registry"] == local_registry
    assert manifest["timings_s"]["image_push"] > 0
    assert docker("stack", "ps", run, check=False).strip() == ""
