"""The submission lifecycle: queued -> dispatched -> running -> one terminal status."""

from enum import StrEnum


class SubmissionStatus(StrEnum):
    QUEUED = "queued"
    DISPATCHED = "dispatched"
    RUNNING = "running"
    GRADED = "graded"
    NEEDS_REVIEW = "needs_review"
    ERROR = "error"
    TIMEOUT = "timeout"


TERMINAL_STATUSES: frozenset[SubmissionStatus] = frozenset(
    {SubmissionStatus.GRADED, SubmissionStatus.NEEDS_REVIEW, SubmissionStatus.ERROR, SubmissionStatus.TIMEOUT}
)

# Progress statuses are ordered; a submission only moves forward through them.
_PROGRESS_ORDER = {SubmissionStatus.QUEUED: 0, SubmissionStatus.DISPATCHED: 1, SubmissionStatus.RUNNING: 2}


def is_terminal(status: str) -> bool:
    return SubmissionStatus(status) in TERMINAL_STATUSES


def can_transition(current: str, new: str) -> bool:
    """Whether a submission in ``current`` may move to ``new``.

    Progress only moves forward (a late ``dispatched`` after ``running`` is refused); any
    non-terminal status may end in a terminal one; a terminal status never changes, except
    ``needs_review``, which an instructor's manual grade turns into ``graded``. A regrade
    starts a new attempt and resets the status to ``queued`` outside these rules.
    """
    cur, nxt = SubmissionStatus(current), SubmissionStatus(new)
    if cur in TERMINAL_STATUSES:
        return cur is SubmissionStatus.NEEDS_REVIEW and nxt is SubmissionStatus.GRADED
    if nxt in TERMINAL_STATUSES:
        return True
    return _PROGRESS_ORDER[nxt] > _PROGRESS_ORDER[cur]
