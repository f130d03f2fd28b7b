import pytest

from cloudemy_common.lifecycle import TERMINAL_STATUSES, SubmissionStatus, can_transition, is_terminal

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
        (S.NEEDS_REVIEW, S.GRADED),
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
    ],
)
def test_illegal(cur, new):
    assert not can_transition(cur, new)


def test_unknown_status_rejected():
    with pytest.raises(ValueError, match="pending"):
        can_transition("queued", "pending")
