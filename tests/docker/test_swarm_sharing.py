"""The test swarm is shared safely: processes that use `swarm.single_node_swarm` count each
other, so the one that created the swarm leaving first does not take it away from one
still using it, and the last one out leaves it (only when one of them created it)."""

from __future__ import annotations

import subprocess
import sys

from pytest_codex.target import swarm

HOLDER = """
import sys
from pytest_codex.target import swarm
with swarm.single_node_swarm() as created:
    print("created" if created else "joined", flush=True)
    sys.stdin.read()
"""


def test_the_creator_leaving_first_does_not_take_the_swarm_from_a_later_user() -> None:
    before = swarm.swarm_state()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdin is not None
    try:
        said = holder.stdout.readline().strip()
        assert said == ("joined" if before == "active" else "created")
        with swarm.single_node_swarm():
            holder.stdin.close()  # the holder, maybe the creator, leaves first
            assert holder.wait(timeout=120) == 0
            assert swarm.swarm_state() == "active"
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert swarm.swarm_state() == before
