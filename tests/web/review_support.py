"""Arranging what the review UI's tests look at: an instructor's assignment, an enrolled student's submission, and
the AI grader's result posted through the internal API as the runner would; and the bounded, patient waits of the
browser tests that use it."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import expect
from ui_harness import Api, User

CODE = "def reverse(xs):\n    return xs[::-1]\n"
AI_FEEDBACK = "Correct for every input; the name `xs` could say more."


@pytest.fixture
def patient_expect() -> Iterator[None]:
    """Waits generous enough for a loaded machine (Playwright's default is 5 s), still bounded."""
    expect.set_options(timeout=20_000)
    yield
    expect.set_options(timeout=5_000)


@dataclass
class Reviewed:
    instructor: User
    student: User
    assignment: dict[str, Any]
    submission: dict[str, Any]


def graded_by_the_ai(api: Api, *, instructor_name: str, student_name: str, **assignment: Any) -> Reviewed:
    """A submission the LLM graded 8 / 10 (correct 6 / 6, style 2 / 4) in a new instructor's assignment."""
    instructor = api.create_user("instructor", name=instructor_name)
    created = api.create_assignment(instructor, **assignment)
    student = api.create_user("student", name=student_name)
    api.enrol(created, student)
    submission = api.submit(student, created["id"], CODE)
    api.post_status(submission["id"], "running")
    api.post_result(
        submission["id"],
        status="graded",
        score=8,
        max_score=10,
        fail_tags=[],
        feedback=AI_FEEDBACK,
        metrics={"model": "fake-model"},
        criteria=[
            {"id": "correct", "score": 6, "max_score": 6, "feedback": "Right for empty lists too."},
            {"id": "style", "score": 2, "max_score": 4, "feedback": "Names could be clearer."},
        ],
        grader="llm",
    )
    return Reviewed(instructor, student, created, submission)
