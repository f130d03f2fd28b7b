import pytest

from cloudemy_common.lifecycle import (
    IN_FLIGHT_STATUSES,
    TERMINAL_STATUSES,
    SubmissionStatus,
    can_override,
    can_regrade,
    can_requeue,
    can_transition,
    is_terminal,
)

S = SubmissionStatus


def test_terminal_set():
    assert {s.value for s in TERMINAL_STATUSES} == {"graded", "needs_review", "error", "timeout"}
    assert not is_terminal("running")
    assert is_terminal("timeout")


@pytest.mark.parametrize(
    ("cur", "new"),
    [
        (S.QUEUED, S.DISPATCHED),
        (S.QUEUED, S.RUNNING),
        (S.DISPATCHED, S.RUNNING),
        (S.QUEUED, S.ERROR),
        (S.RUNNING, S.GRADED),
        (S.DISPATCHED, S.TIMEOUT),
    ],
)
def test_allowed(cur, new):
    assert can_transition(cur, new)


@pytest.mark.parametrize(
    ("cur", "new"),
    [
        (S.RUNNING, S.DISPATCHED),
        (S.DISPATCHED, S.QUEUED),
        (S.RUNNING, S.RUNNING),
        (S.GRADED, S.RUNNING),
        (S.GRADED, S.ERROR),
        (S.TIMEOUT, S.GRADED),
        (S.ERROR, S.QUEUED),
        (S.NEEDS_REVIEW, S.ERROR),
        (S.NEEDS_REVIEW, S.GRADED),  # only through the instructor's override
    ],
)
def test_illegal(cur, new):
    assert not can_transition(cur, new)


@pytest.mark.parametrize("cur", sorted(TERMINAL_STATUSES))
def test_an_instructor_grade_overrides_any_terminal_result_with_graded(cur):
    assert can_override(cur, S.GRADED)
    assert can_override(cur)
    assert can_regrade(cur)
    for other in TERMINAL_STATUSES - {S.GRADED}:
        assert not can_override(cur, other)


@pytest.mark.parametrize("cur", [S.QUEUED, S.DISPATCHED, S.RUNNING])
def test_no_override_or_regrade_before_a_result(cur):
    assert not can_override(cur, S.GRADED)
    assert not can_regrade(cur)


@pytest.mark.parametrize("cur", list(S))
def test_only_an_attempt_in_flight_goes_back_to_the_queue(cur):
    assert can_requeue(cur) is (cur in {S.DISPATCHED, S.RUNNING})
    assert not can_transition(cur, S.QUEUED), "a report never moves back to queued"


def test_in_flight_set():
    assert {s.value for s in IN_FLIGHT_STATUSES} == {"dispatched", "running"}


def test_unknown_status_rejected():
    with pytest.raises(ValueError, match="pending"):
        can_transition("queued", "pending")
