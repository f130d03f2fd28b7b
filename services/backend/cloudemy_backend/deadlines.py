"""Deadlines, late penalties and submission limits: pure rules over stored documents and the server's clock.

- A submission before ``opens_at`` is refused (``not open yet``); up to ``due_at`` it is on time; after it
  and up to ``late_until`` it is late by ``late_days`` = the number of started days (24 h) after ``due_at``;
  after ``late_until`` (or after ``due_at`` when there is no ``late_until``) the assignment is ``closed``.
- A late submission's penalty is ``late_days * late_penalty_percent_per_day`` percent, at most 100; it is
  fixed when the student submits (a regrade keeps it) and applied by the backend to every score that
  arrives for it: ``score`` is the final score, ``score_before_penalty`` what the grader gave.
- An extension replaces the student's ``due_at``; its ``late_until`` replaces the assignment's, and
  without one the assignment's ``late_until`` still applies when it is later than the extended ``due_at``.
  ``extra_submissions`` adds to ``max_submissions``.
- Course staff are not bound by the window or the limit (their submissions try the assignment out).
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cloudemy_backend.storage import Document
from cloudemy_common.models import StoredResult

DAY = timedelta(days=1)


class NotOpenError(Exception):
    """Before ``opens_at``."""


class ClosedError(Exception):
    """After the last moment a submission is accepted."""


@dataclass(frozen=True)
class Window:
    """One student's deadlines and attempts for one assignment (their extension applied)."""

    opens_at: datetime | None
    due_at: datetime | None
    late_until: datetime | None
    allowed: int | None
    extended: bool


def as_utc(value: datetime) -> datetime:
    """Aware UTC whether the driver hands back aware or naive (UTC) datetimes."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def window_for(assignment: Document, extension: Document | None) -> Window:
    due_at, late_until = _utc(assignment.get("due_at")), _utc(assignment.get("late_until"))
    allowed = assignment.get("max_submissions")
    if extension is not None:
        extended_due = as_utc(extension["due_at"])
        own_late = _utc(extension.get("late_until"))
        late_until = own_late or (late_until if late_until is not None and late_until > extended_due else None)
        due_at = extended_due
        if allowed is not None:
            allowed += int(extension.get("extra_submissions") or 0)
    return Window(_utc(assignment.get("opens_at")), due_at, late_until, allowed, extension is not None)


def lateness(now: datetime, window: Window, penalty_percent_per_day: float) -> Document:
    """The ``late``, ``late_days`` and ``penalty_percent`` of a submission made ``now``; raises NotOpenError
    or ClosedError when it cannot be made."""
    if window.opens_at is not None and now < window.opens_at:
        raise NotOpenError
    if window.due_at is None or now <= window.due_at:
        return {"late": False, "late_days": 0, "penalty_percent": 0.0}
    if window.late_until is None or now > window.late_until:
        raise ClosedError
    days = math.ceil((now - window.due_at) / DAY)
    return {"late": True, "late_days": days, "penalty_percent": min(100.0, days * float(penalty_percent_per_day))}


def with_penalty(result: StoredResult, submission: Document) -> StoredResult:
    """A grader's result (score as given) as stored: ``score_before_penalty`` is the given score, ``score`` the
    final one, reduced by the submission's late penalty."""
    given, percent = result.score, float(submission.get("penalty_percent") or 0)
    final = given if given is None or percent <= 0 else round(float(given) * (1 - percent / 100), 4)
    return result.model_copy(update={"score_before_penalty": given, "score": final})


def counted_submissions(submissions: Iterable[Document], counted: str) -> dict[str, Document]:
    """Per user: the counted submission (``last``: the newest scored one; ``best``: the highest score)."""
    chosen: dict[str, Document] = {}
    for doc in submissions:
        score = (doc.get("result") or {}).get("score")
        if score is None:
            continue
        current = chosen.get(doc["user_id"])
        if current is None:
            chosen[doc["user_id"]] = doc
        elif counted == "best":
            if score > current["result"]["score"]:
                chosen[doc["user_id"]] = doc
        elif doc["_id"] > current["_id"]:
            chosen[doc["user_id"]] = doc
    return chosen


def counted_scores(submissions: Iterable[Document], counted: str) -> dict[str, float]:
    """Per user: the counted submission's final score."""
    return {
        user_id: float(doc["result"]["score"]) for user_id, doc in counted_submissions(submissions, counted).items()
    }
