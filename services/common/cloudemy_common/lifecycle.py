"""The submission lifecycle and every rule that changes a submission's status.

``queued -> dispatched -> running -> one terminal status`` (graded, needs_review, error, timeout), by four rules:

1. **Reports** (``can_transition``): the scheduler's ``dispatched``, the runner's ``running``, a result posted by
   the runner or the scheduler, the sweep's ``lost`` error. Progress only moves forward (a late ``dispatched``
   after ``running`` is refused); any non-terminal status may end in a terminal one; a terminal status never
   changes through a report, so the first result wins.
2. **The instructor's override** (``can_override``): a manual grade replaces the result of any terminal
   submission with a ``graded`` one. The common case turns ``needs_review`` into ``graded``; a ``graded``,
   ``error`` or ``timeout`` result is corrected the same way. The replaced result is kept in history.
3. **A regrade** (``can_regrade``): a terminal submission starts its next attempt as ``queued``.
4. **A requeue** (``can_requeue``): an in-flight attempt whose runner could not reach a usable LLM goes back to
   ``queued`` (the same attempt, a bounded number of times, with a delay) instead of ending in ``error``.

Nothing else changes a status; the backend's storage layer derives the statuses each of its conditional
updates may start from these rules.
"""

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
IN_FLIGHT_STATUSES: frozenset[SubmissionStatus] = frozenset({SubmissionStatus.DISPATCHED, SubmissionStatus.RUNNING})
"""A Job exists (or is being created) for the submission: the statuses the sweep watches for lost Jobs."""
OVERRIDE_STATUS = SubmissionStatus.GRADED
"""The status an instructor's manual grade gives."""

# Progress statuses are ordered; a submission only moves forward through them.
_PROGRESS_ORDER = {SubmissionStatus.QUEUED: 0, SubmissionStatus.DISPATCHED: 1, SubmissionStatus.RUNNING: 2}


def is_terminal(status: str) -> bool:
    return SubmissionStatus(status) in TERMINAL_STATUSES


def can_transition(current: str, new: str) -> bool:
    """Rule 1: whether a report may move a submission in ``current`` to ``new``."""
    cur, nxt = SubmissionStatus(current), SubmissionStatus(new)
    if cur in TERMINAL_STATUSES:
        return False
    if nxt in TERMINAL_STATUSES:
        return True
    return _PROGRESS_ORDER[nxt] > _PROGRESS_ORDER[cur]


def can_override(current: str, new: str = OVERRIDE_STATUS) -> bool:
    """Rule 2: whether an instructor's grade may replace the result of a submission in ``current`` with ``new``."""
    return is_terminal(current) and SubmissionStatus(new) is OVERRIDE_STATUS


def can_regrade(current: str) -> bool:
    """Rule 3: whether a submission in ``current`` may start its next attempt."""
    return is_terminal(current)


def can_requeue(current: str) -> bool:
    """Rule 4: whether the attempt of a submission in ``current`` may be handed back to ``queued``."""
    return SubmissionStatus(current) in IN_FLIGHT_STATUSES
