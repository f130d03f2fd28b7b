"""How a runner Job ended (``JobEnding``), and the result the scheduler reports for a Job that ended without grading.

The bodies are deterministic (no timestamps), so two scheduler replicas reporting the same failure send the same
result and the backend's identical-repeat rule answers 200 without change.
"""

import re
from dataclasses import dataclass
from enum import StrEnum

from cloudemy_common.models import ResultBody


class Ending(StrEnum):
    SUCCEEDED = "succeeded"  # the runner posted its own result
    TIMEOUT = "timeout"  # DeadlineExceeded: reported as result ``timeout``
    ERROR = "error"  # any other failure: reported as result ``error`` with a fail tag naming the cause


@dataclass(frozen=True)
class JobEnding:
    job_name: str
    submission_id: str
    attempt: int
    ending: Ending
    cause: str = ""  # a fail tag: deadline-exceeded, started-late, pod-unschedulable, image-pull-failed, ...
    detail: str = ""  # one human sentence about what happened
    deadline_seconds: float | None = None


FEEDBACK = {
    "deadline-exceeded": "Grading did not finish within its time limit{limit}, so this submission was not graded.",
    "backoff-limit-exceeded": "The grading job failed{detail}, so this submission was not graded.",
    "pod-evicted": "The grading job was evicted by the cluster{detail}, so this submission was not graded.",
    "oom-killed": "The grading job ran out of memory{detail}, so this submission was not graded.",
    "image-pull-failed": "The grading job could not start because its container image could not be pulled{detail}.",
    "pod-unschedulable": "The cluster had no room to start the grading job{detail}, so this submission was not graded.",
    "pod-not-created": (
        "The cluster did not create the grading job's pod{detail} (a resource quota or an admission policy refused"
        " it), so this submission was not graded."
    ),
    "started-late": (
        "The cluster started the grading job too late for it to finish within its time limit{limit}{detail}, so"
        " this submission was not graded; the delay was the cluster's, not the submission's."
    ),
    "runner-failed": "The grader stopped with an error{detail}, so this submission was not graded.",
    "cluster-refused": "The cluster refused to run the grading job{detail}, so this submission was not graded.",
    "language-unavailable": (
        "This installation has no runner image for the submission's language{detail}, so it was not graded."
        " An administrator can add one (runner.languages in the chart)."
    ),
}
GENERIC_FEEDBACK = "The grading job failed ({cause}){detail}, so this submission was not graded."
CLOSING = " You can resubmit, or ask your instructor to regrade it."


def tag_for_reason(reason: str | None, default: str = "job-failed") -> str:
    """A Kubernetes reason (``BackoffLimitExceeded``) as a fail tag (``backoff-limit-exceeded``)."""
    if not reason:
        return default
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", reason).lower()
    tag = re.sub(r"[^a-z0-9]+", "-", words).strip("-")[:64]
    return tag or default


def result_for(ended: JobEnding) -> ResultBody:
    """The terminal result to report for a Job that did not succeed."""
    if ended.ending is Ending.SUCCEEDED:
        raise ValueError("a succeeded Job has no result to report: the runner posted it")
    cause = ended.cause or ("deadline-exceeded" if ended.ending is Ending.TIMEOUT else "job-failed")
    limit = f" ({ended.deadline_seconds:g} s)" if ended.deadline_seconds else ""
    detail = f": {ended.detail}" if ended.detail else ""
    template = FEEDBACK.get(cause, GENERIC_FEEDBACK)
    feedback = template.format(limit=limit, detail=detail, cause=cause) + CLOSING
    metrics: dict[str, str | int | float | bool | None] = {
        "reported_by": "scheduler",
        "job_name": ended.job_name,
        "attempt": ended.attempt,
    }
    if ended.deadline_seconds:
        metrics["deadline_seconds"] = ended.deadline_seconds
    return ResultBody(
        status="timeout" if ended.ending is Ending.TIMEOUT else "error",
        fail_tags=[cause],
        feedback=feedback[:2000],
        metrics=metrics,
    )
