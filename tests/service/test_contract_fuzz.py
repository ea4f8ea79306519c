"""Contract fuzzing: Schemathesis generates requests from the running server's
/openapi.json (valid and invalid, single calls and stateful sequences that follow the
ids one call returns into the next), sends them over real HTTP and runs all of its
standard checks: no 5xx, every status and body as documented, 405 for undeclared
methods. Examples per operation are bounded and the seed is fixed so CI is repeatable;
`schemathesis run <url>/openapi.json` without a seed explores further."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import Orchestrator

EXAMPLES_PER_OPERATION = "25"
SEED = "20261125"


def test_the_contract_holds_under_schemathesis(orchestrator: Orchestrator, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{orchestrator.url}/openapi.json",
            "--max-examples",
            EXAMPLES_PER_OPERATION,
            "--seed",
            SEED,
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,  # its state folder (.schemathesis/) goes there
    )
    summary = done.stdout[-3000:]
    assert done.returncode == 0, summary
    generated = re.search(r"(\d+) generated, (\d+) passed", done.stdout)
    assert generated is not None, summary
    assert int(generated.group(1)) >= 200
    assert generated.group(1) == generated.group(2)
