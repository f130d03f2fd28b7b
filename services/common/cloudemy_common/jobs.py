"""Runner Job names and labels, shared by the scheduler (which names Jobs), the runner (which finds its own
Job's name in its pod's hostname) and the backend (which reads the attempt from a reported Job name).

A runner Job is named ``runner-{submission id}`` for a submission's first attempt and
``runner-{submission id}-{attempt}`` for a regrade's; its pods are named ``{job name}-{5 characters}``.
"""

import re
from dataclasses import dataclass

from cloudemy_common.ids import OBJECT_ID_HEX

RUNNER_COMPONENT = "runner"
SUBMISSION_ID_LABEL = "cloudemy.io/submission-id"
ATTEMPT_LABEL = "cloudemy.io/attempt"
REPORTED_LABEL = "cloudemy.io/reported"
"""Set to ``"true"`` on a Job by the scheduler once its ending is handled (reported to the backend and accepted,
judged stale, or a success whose slot was freed); the watcher's list and watch leave such Jobs out."""
REPORTED = "true"

JOB_NAME_PREFIX = "runner-"
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
"""What Kubernetes accepts as a Job name (an RFC 1123 label), and so what a status update may name."""

_JOB_NAME = re.compile(
    rf"{JOB_NAME_PREFIX}(?P<id>{OBJECT_ID_HEX})(?:-(?P<attempt>[1-9][0-9]{{0,5}})(?:-(?P<requeue>[1-9][0-9]{{0,2}}))?)?"
)
_POD_NAME = re.compile(r"(?P<job>.+)-[a-z0-9]{5}")


@dataclass(frozen=True)
class RunnerJob:
    """What a runner Job's name says: whose Job it is and for which attempt."""

    submission_id: str
    attempt: int
    requeue: int = 0


def job_name(submission_id: str, attempt: int = 1, requeue: int = 0) -> str:
    """``runner-{id}`` for the first attempt, ``runner-{id}-{attempt}`` after; ``runner-{id}-{attempt}-{requeue}``
    once the attempt was handed back to the queue ``requeue`` times (the LLM was unavailable), so that the next
    try of the same attempt gets a Job of its own whatever the retained Jobs of the earlier tries."""
    if requeue > 0:
        return f"{JOB_NAME_PREFIX}{submission_id}-{attempt}-{requeue}"
    return f"{JOB_NAME_PREFIX}{submission_id}" if attempt <= 1 else f"{JOB_NAME_PREFIX}{submission_id}-{attempt}"


def parse_job_name(name: str | None) -> RunnerJob | None:
    """The submission and attempt of a runner Job name, or None for any other name (``job_name``'s inverse)."""
    match = _JOB_NAME.fullmatch(name or "")
    if match is None:
        return None
    return RunnerJob(match["id"], int(match["attempt"] or 1), int(match["requeue"] or 0))


def is_reported(labels: dict[str, str] | None) -> bool:
    """Whether a Job's labels say its ending was already handled (``REPORTED_LABEL``)."""
    return (labels or {}).get(REPORTED_LABEL) == REPORTED


def unreported(selector: str) -> str:
    """``selector`` narrowed to the Jobs whose ending is still to handle."""
    term = f"{REPORTED_LABEL}!={REPORTED}"
    return f"{selector},{term}" if selector else term


def job_name_of_pod(pod_name: str | None) -> str | None:
    """The runner Job a pod belongs to, from the pod's name (its hostname), or None if it is no runner's pod."""
    match = _POD_NAME.fullmatch(pod_name or "")
    if match is None or parse_job_name(match["job"]) is None:
        return None
    return match["job"]
