"""Which cases of a matrix a case depends on, so that any subset pytest selects (or any
share an xdist worker gets) runs each selected case for real. No pytest import here.

A case depends on
- for each saved value it uses, the last earlier case that saves it, and
- for each saved value it uses, the last earlier state-changing case (POST, PUT, PATCH,
  DELETE) that uses the same value (an edit job before "result.json after the edit"),
- for each saved value it uses, the last earlier case that waits (`poll:`) for a state
  change of something named by the same value (an asynchronous edit job is queued by a
  POST answered 202; the case polling it until `completed` must run before "result.json
  after the edit" reads what the job changed),
and, in turn, on what those depend on. Cases that already ran in this process are not
run again; in a run of the whole file in order nothing runs twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_codex.matrix.files import Case, variables_in

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def uses(case: Case) -> set[str]:
    """The saved values a case refers to."""
    return variables_in({"request": case.request, "expect": case.expect, "poll": case.poll})


class Chains:
    """The dependencies of every case of one matrix file, found in one pass."""

    def __init__(self, cases: Sequence[Case]) -> None:
        self.cases = list(cases)
        self.position = {case.name: index for index, case in enumerate(self.cases)}
        self._direct: list[set[int]] = []
        last_saver: dict[str, int] = {}
        last_changer: dict[str, int] = {}
        last_waiter: dict[str, int] = {}
        for index, case in enumerate(self.cases):
            values = uses(case)
            direct = {last_saver[v] for v in values if v in last_saver}
            direct |= {last_changer[v] for v in values if v in last_changer}
            direct |= {last_waiter[v] for v in values if v in last_waiter}
            self._direct.append(direct)
            if case.method.upper() in STATE_CHANGING:
                for value in values:
                    last_changer[value] = index
            if case.poll is not None:
                for value in values:
                    last_waiter[value] = index
            for value in case.save:
                last_saver[value] = index

    def dependencies(self, case: Case) -> list[Case]:
        """Every case `case` depends on, in file order (not `case` itself)."""
        start = self.position[case.name]
        seen: set[int] = set()
        pending = list(self._direct[start])
        while pending:  # bounded: each index enters `seen` once
            index = pending.pop()
            if index not in seen:
                seen.add(index)
                pending.extend(self._direct[index])
        return [self.cases[index] for index in sorted(seen)]
