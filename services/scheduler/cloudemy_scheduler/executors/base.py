"""What the dispatcher needs from an executor: create a Job, say whether one finished, and report endings."""

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from cloudemy_scheduler.job_endings import JobEnding

Handled = bool | Future[bool] | None
"""What ``on_finished`` says about an ending: True (or None) when it is handled, a Future that resolves to that
(the backend's answer to a report), False when it is not (the watcher hands it over again later)."""
OnFinished = Callable[[JobEnding], Handled]


@dataclass(frozen=True)
class JobView:
    """The unfinished runner Jobs an executor knows, as of ``staleness`` seconds ago (how long before now a Job
    may have been created and still be missing from ``names``); ``generation`` counts completed syncs."""

    names: frozenset[str]
    generation: int
    staleness: float


class Created(StrEnum):
    CREATED = "created"
    EXISTS = "exists"  # 409 AlreadyExists: this submission attempt's Job is already there


class TransientError(Exception):
    """The API failed in a way worth retrying (5xx, 429, timeout, unreachable, RBAC not yet in place)."""


class JobRejected(Exception):
    """The API refused the Job itself (400/422): retrying the same body cannot succeed."""


class Executor(Protocol):
    def start(self, on_finished: OnFinished) -> None:
        """Begin watching Jobs; ``on_finished`` is called once per Job that ends (from another thread)."""

    def create(self, job: dict[str, Any]) -> Created:
        """Create the Job; raises TransientError or JobRejected."""

    def is_finished(self, job_name: str) -> bool:
        """Whether an existing Job has already ended (after a 409); raises TransientError."""

    def unfinished_view(self) -> JobView | None:
        """Runner Jobs not yet ended with the view's freshness, or None while that is not known (the watch has
        not synced, or its last watch or list failed: never a stale set)."""

    def healthy(self) -> tuple[bool, str]: ...

    def close(self) -> None: ...
