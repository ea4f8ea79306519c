"""The shipped traversal corpora are tagged escapes / inside as `cases.traversal` decides,
and the policy sets the statuses each must get (no server needed)."""

from __future__ import annotations

import pytest

from pytest_codex.cases import traversal
from pytest_codex.matrix.files import load_matrix
from tests.conftest import REPO

SHIPPED = ("traversal.yaml", "traversal-corpus.yaml")


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_payload_is_tagged_as_the_classifier_says(name: str) -> None:
    payloads = [c for c in load_matrix(REPO / "matrices" / name).cases if c.family]
    assert payloads
    for case in payloads:
        assert case.traversal == traversal.tag(case.path), case.name
    tags = {case.traversal for case in payloads}
    assert tags == {"escapes", "inside"}


@pytest.mark.parametrize(
    ("path", "escapes"),
    [
        ("/api/v1/{project_id}/files/../OUTSIDE-CANARY.txt", True),
        ("/api/v1/{project_id}/files/%2e%2e%2fOUTSIDE-CANARY.txt", True),  # decoded once
        ("/api/v1/{project_id}/files/tests/../../OUTSIDE-CANARY.txt", True),
        ("/api/v1/{project_id}/files/%2fetc%2fpasswd", True),  # absolute
        ("/api/v1/{project_id}/files/..", True),
        ("/api/v1/{project_id}/files/tests/../app.py", False),  # back inside
        ("/api/v1/{project_id}/files/%252e%252e/OUTSIDE-CANARY.txt", False),  # a literal %2e
        ("/api/v1/{project_id}/files/..\\OUTSIDE-CANARY.txt", False),  # one odd name
        ("/api/v1/{project_id}/files/app.py%0a", False),
        ("/api/v1/{project_id}/files/...", False),
        ("/api/v1/../files/OUTSIDE-CANARY.txt", True),  # the project id position
        ("/api/v1/%252e%252e/files", False),
    ],
)
def test_escapes_are_told_from_odd_names_inside(path: str, escapes: bool) -> None:
    assert traversal.escapes_workspace(path) is escapes


def test_the_policy_sets_the_status_of_tagged_payloads_only() -> None:
    expect = {"status": 400}
    assert traversal.apply_policy(expect, "inside", "strict") == {"status": 400}
    assert traversal.apply_policy(expect, "inside", "resolve") == {"status": [400, 404]}
    assert traversal.apply_policy(expect, "escapes", "resolve") == {"status": 400}
    assert traversal.apply_policy(expect, None, "resolve") == {"status": 400}
    id_position = {"status": [400, 404]}
    assert traversal.apply_policy(id_position, "escapes", "resolve") == id_position


def test_a_2xx_is_an_escape_served_or_a_finding_of_its_own() -> None:
    escape = traversal.served("escapes", 200, "/x/../y")
    finding = traversal.served("inside", 200, "/files/app.py%0a")
    assert escape is not None
    assert escape.what == "escape served"
    assert finding is not None
    assert finding.what == "finding: odd name served"
    assert traversal.served("inside", 404, "/x") is None
    assert traversal.served(None, 200, "/x") is None
