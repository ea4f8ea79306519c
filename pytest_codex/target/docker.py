"""The one way the harness runs `docker` (and compose, and iptables beside them): an
argument list, a timeout that is always given, and one `StackError` whose text says where
it happened, what went wrong and how to fix it. Images, rollback, leftovers, the compose
stack and the host guard all call `run`; none calls subprocess for the engine itself.
No pytest import here.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence

ENGINE_FIX = "check the engine (`docker info`; in a checkout: bash scripts/ensure-docker.sh)"
MISSING_FIX = "install it (in a checkout: bash scripts/ensure-docker.sh) or pass --codex-base-url"
FAILURE_TAIL_LINES = 30  # lines of a failed command's output kept in the error


class StackError(Exception):
    """The stack could not be started, reached or stopped; the text says why."""


def tail(text: str, lines: int) -> str:
    """The last `lines` lines of `text`, without trailing blank space."""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    where: str | None = None,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    tail_lines: int = FAILURE_TAIL_LINES,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `argv` for at most `timeout` seconds and return what it printed; `stdin` is
    written to its standard input (a secret's value: never in the argument list).

    `where` names the step in the error (default: the command and its first argument).
    A missing command and a command past its timeout (killed) always raise StackError;
    a non-zero exit raises it only when `check`, with the last `tail_lines` lines of the
    output. The command's output is never echoed anywhere else.
    """
    where = where or " ".join(argv[:2])
    try:
        return _completed(argv, timeout, where, check, env, tail_lines, stdin)
    except FileNotFoundError:
        missing = f"the `{argv[0]}` command was not found"
        raise StackError(f"{where}: {missing}; {MISSING_FIX}") from None
    except subprocess.TimeoutExpired:
        raise StackError(f"{where}: no answer within {timeout:g} s; {ENGINE_FIX}") from None


def _completed(
    argv: Sequence[str],
    timeout: float,
    where: str,
    check: bool,
    env: Mapping[str, str] | None,
    tail_lines: int,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        list(argv),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=None if env is None else dict(env),
        check=False,
    )
    if check and done.returncode != 0:
        output = tail(done.stdout + done.stderr, tail_lines) or "no output"
        raise StackError(f"{where} failed (exit {done.returncode}):\n{output}")
    return done


def docker(
    *args: str,
    timeout: float,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """`docker <args>` through `run`; the error names `docker <first argument>`."""
    where = f"docker {args[0]}"
    return run(["docker", *args], timeout=timeout, where=where, check=check, env=env, stdin=stdin)
