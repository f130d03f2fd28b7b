"""What each viewer may see of an assignment's tests and of their outcomes.

Staff (instructors, admins) see everything: every test's stdin and expected output, every outcome's stdout,
stderr, exit code and timing. A student sees visible tests in full, and of a hidden test only that it exists,
its verdict and its points: ``{"id", "name": "Hidden test", "hidden": true, "verdict", "points", "max_points"}``
in results, ``{"id", "name": "Hidden test", "hidden": true, "points"}`` on the assignment. Whether an outcome's
test is hidden is decided by the assignment as it is now; an outcome whose test no longer exists counts as
hidden, so a test removed or renamed after grading never exposes what its run printed.

Every response model that carries tests is built through these functions; they work on stored documents
(plain dicts) so that every route, whatever model it answers with, filters the same way.
"""

from dataclasses import dataclass, field
from typing import Any

HIDDEN_TEST_NAME = "Hidden test"
VERDICT_FIELDS = ("id", "verdict", "points", "max_points")

Document = dict[str, Any]


def assignment_tests_for(tests: list[Document], *, staff: bool) -> list[Document]:
    """An assignment's tests as this viewer may see them."""
    if staff:
        return [dict(test) for test in tests]
    return [
        {"id": test["id"], "name": HIDDEN_TEST_NAME, "hidden": True, "points": test.get("points", 0)}
        if test.get("hidden")
        else dict(test)
        for test in tests
    ]


@dataclass(frozen=True)
class TestCatalog:
    """The tests of one assignment by id (name and hidden flag only), to label and filter its outcomes."""

    __test__ = False  # not a pytest class, despite the name

    tests: dict[str, Document] = field(default_factory=dict)
    released: bool = True
    """False while the assignment's grades wait for staff to release them (``release: manual``)."""

    @classmethod
    def of(cls, assignment: Document | None) -> "TestCatalog":
        tests = (assignment or {}).get("tests") or []
        return cls(
            {test["id"]: {"name": test.get("name") or "", "hidden": bool(test.get("hidden"))} for test in tests},
            released=grades_released(assignment),
        )

    def outcomes_for(self, outcomes: list[Document], *, staff: bool, brief: bool = False) -> list[Document]:
        """Outcomes labelled with their test's name and hidden flag; a student's hidden ones cut to the verdict.
        ``brief`` (lists of submissions): every outcome cut to its verdict and points, whoever looks."""
        shown = []
        for outcome in outcomes:
            test = self.tests.get(outcome.get("id", ""))
            hidden = test is None or test["hidden"]
            if staff or not hidden:
                name = (test["name"] if test else "") or outcome.get("id", "")
                full = {**outcome, "name": name, "hidden": hidden}
                shown.append({key: full.get(key) for key in (*VERDICT_FIELDS, "name", "hidden")} if brief else full)
            else:
                hidden_view = {key: outcome.get(key) for key in VERDICT_FIELDS}
                shown.append({**hidden_view, "name": HIDDEN_TEST_NAME, "hidden": True})
        return shown


def grades_released(assignment: Document | None) -> bool:
    """Whether students may see this assignment's results: ``release: immediate``, or released by staff."""
    if not assignment or assignment.get("release") != "manual":
        return True
    return assignment.get("released_at") is not None


def result_for(
    result: Document | None, catalog: TestCatalog | None, *, staff: bool, brief: bool = False
) -> Document | None:
    """A stored result as this viewer may see it. Without a catalog every test counts as hidden. ``brief``: as in
    a list of submissions (verdicts and points only, no compiler output). Before the grades are released a student
    sees ``{"released": false}`` only: no score, feedback, criteria or tests."""
    if result and not staff and catalog is not None and not catalog.released:
        return {"released": False}
    if not result:
        return result
    if brief:
        result = {key: value for key, value in result.items() if key != "compile_output"}
    if result.get("tests") is None:
        return result
    outcomes = (catalog or TestCatalog()).outcomes_for(result["tests"], staff=staff, brief=brief)
    return {**result, "tests": outcomes}
