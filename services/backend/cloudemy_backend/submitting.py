"""What happens to a submission outside a single route: its Redis payload, enqueueing, and result documents."""

import logging
from typing import TYPE_CHECKING

from fastapi import HTTPException, status
from redis.exceptions import RedisError

from cloudemy_backend.core.config import Settings
from cloudemy_backend.metrics import Metrics
from cloudemy_backend.queue import SubmissionQueue
from cloudemy_backend.storage import Document, Storage, utcnow

if TYPE_CHECKING:
    from cloudemy_backend.schemas import ManualGrade
from cloudemy_common.lifecycle import OVERRIDE_STATUS, SubmissionStatus
from cloudemy_common.models import AssignmentSpec, ResultBody, StoredResult, SubmissionPayload

log = logging.getLogger(__name__)

LOST_FAIL_TAG = "lost"
QUEUE_TIMEOUT_FAIL_TAG = "queue-timeout"


def code_bytes_within_limit(settings: Settings, code: str) -> int:
    """The code's size in UTF-8 bytes; 413 over MAX_CODE_BYTES."""
    size = len(code.encode("utf-8", errors="surrogatepass"))
    if size > settings.max_code_bytes:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            detail=f"code is {size} bytes; the limit is {settings.max_code_bytes} (MAX_CODE_BYTES)",
        )
    return size


def build_payload(submission: Document, assignment: Document) -> SubmissionPayload:
    """The runner's view of one attempt: the submission plus the assignment (rubric, tests, limits), and the attempt.
    The reference solution never goes to a runner."""
    spec = AssignmentSpec(
        title=assignment["title"],
        description=assignment["description"],
        rubric=assignment["rubric"],
        max_score=assignment["max_score"],
        fail_tags=assignment["fail_tags"],
        tests=assignment.get("tests") or [],
        limits=assignment.get("limits") or {},
    )
    return SubmissionPayload(
        submission_id=str(submission["_id"]),
        user_id=submission["user_id"],
        assignment_id=submission["assignment_id"],
        language=submission["language"],
        code=submission["code"],
        attempt=submission["attempt"],
        assignment=spec,
    )


async def enqueue_submission(
    storage: Storage, queue: SubmissionQueue, metrics: Metrics, submission: Document, assignment: Document
) -> bool:
    """Push one stored, queued submission; False (logged, counted) when Redis is unreachable.

    The submission is already in Mongo as ``queued``, so a failure here loses nothing: the sweep finds it.
    """
    try:
        await queue.enqueue(build_payload(submission, assignment))
    except RedisError as exc:
        metrics.enqueue_failures.inc()
        log.warning(
            "redis unreachable; submission stored and left for the sweep",
            extra={"submission_id": str(submission["_id"]), "reason": type(exc).__name__},
        )
        return False
    await storage.mark_enqueued(submission["_id"], submission["attempt"], expected=None)
    return True


async def delete_payload_quietly(queue: SubmissionQueue, submission_id: str) -> None:
    """Drop the payload hash of a finished submission; if Redis is away its TTL removes it later."""
    try:
        await queue.delete_payload(submission_id)
    except RedisError as exc:
        log.warning(
            "payload hash not deleted; it expires by TTL",
            extra={"submission_id": submission_id, "reason": type(exc).__name__},
        )


def same_result(stored: Document, body: ResultBody) -> bool:
    """Whether a posted result repeats the stored one (compares the contract fields only; a field absent from
    either side counts as null; a late submission's stored score is compared as it was posted, before the
    penalty)."""
    posted = body.model_dump(mode="json")
    as_posted = dict(stored)
    if stored.get("score_before_penalty") is not None:
        as_posted["score"] = stored["score_before_penalty"]
    return all(as_posted.get(name) == posted.get(name) for name in ResultBody.model_fields)


def posted_result(body: ResultBody, attempt: int) -> StoredResult:
    """A result posted to the internal API (by a runner or the scheduler), as stored for ``attempt``."""
    return StoredResult.from_body(body, attempt=attempt, received_at=utcnow())


def lost_result(submission: Document, stuck_after_seconds: int) -> StoredResult:
    """The sweep's verdict on a submission whose Job never reported: ``error`` with fail tag ``lost``."""
    return StoredResult(
        status=SubmissionStatus.ERROR.value,
        fail_tags=[LOST_FAIL_TAG],
        feedback=(
            f"Grading did not finish: the submission stayed {submission['status']} for more than "
            f"{stuck_after_seconds} seconds. An instructor can regrade it."
        ),
        grader="sweep",
        attempt=submission["attempt"],
        received_at=utcnow(),
    )


def queue_timeout_result(submission: Document, queued_timeout_seconds: int) -> StoredResult:
    """The sweep's verdict on a submission that never left the queue: ``error`` with fail tag ``queue-timeout``."""
    return lost_result(submission, queued_timeout_seconds).model_copy(
        update={
            "fail_tags": [QUEUE_TIMEOUT_FAIL_TAG],
            "feedback": (
                f"Grading did not start: the submission waited in the queue for more than {queued_timeout_seconds} "
                "seconds. An instructor can regrade it."
            ),
        }
    )


class GradeRefused(ValueError):
    """A manual grade outside what the assignment allows (the route answers 422 with the message)."""


def manual_result(submission: Document, assignment: Document, grade: "ManualGrade", grader: Document) -> StoredResult:
    """An instructor's grade over the current result: ``graded`` (the override status), by ``grader``.

    A single ``score`` replaces the score; marks per criterion and per test replace those marks, the ones not
    named keep the replaced result's, and the score is then their sum. The test verdicts and compiler output stay
    on show: they are what the program did, whoever gives the grade. Raises GradeRefused for an unknown id or a
    mark outside 0..its points."""
    replaced = submission.get("result") or {}
    rubric = {c["id"]: float(c["points"]) for c in assignment.get("rubric") or []}
    test_points = {t["id"]: float(t.get("points", 0)) for t in assignment.get("tests") or []}
    criteria = {c["id"]: dict(c) for c in replaced.get("criteria") or [] if c.get("id") in rubric}
    for given in grade.criteria or []:
        if given.id not in rubric:
            raise GradeRefused(f"criterion {given.id!r} is not in the assignment's rubric")
        if given.score > rubric[given.id] + 1e-9:
            raise GradeRefused(f"criterion {given.id!r}: {given.score} exceeds its {rubric[given.id]:g} points")
        criteria[given.id] = {
            "id": given.id,
            "score": given.score,
            "max_score": rubric[given.id],
            "feedback": given.feedback,
        }
    tests = [dict(t) for t in replaced.get("tests") or []]
    by_id = {t.get("id"): t for t in tests}
    for given in grade.tests or []:
        if given.id not in test_points:
            raise GradeRefused(f"test {given.id!r} is not one of the assignment's tests")
        if given.points > test_points[given.id] + 1e-9:
            raise GradeRefused(f"test {given.id!r}: {given.points} exceeds its {test_points[given.id]:g} points")
        if given.id in by_id:
            by_id[given.id].update(points=given.points, marked_by=str(grader["_id"]))
        else:
            raise GradeRefused(f"test {given.id!r} has no outcome in this result to re-mark")
    max_score = float(assignment["max_score"])
    if grade.criteria or grade.tests:
        score = sum(float(c["score"]) for c in criteria.values()) + sum(float(t.get("points") or 0) for t in tests)
    else:
        assert grade.score is not None  # the body's validator asks for one of the three
        score = float(grade.score)
    if score > max_score + 1e-9:
        raise GradeRefused(f"score {score:g} exceeds the assignment's max_score {max_score:g}")
    ordered = [criteria[cid] for cid in rubric if cid in criteria]
    return StoredResult(
        status=OVERRIDE_STATUS.value,
        score=round(score, 4),
        max_score=max_score,
        feedback=grade.feedback,
        criteria=ordered or None,
        grader="manual",
        attempt=submission["attempt"],
        received_at=utcnow(),
        graded_by=str(grader["_id"]),
        graded_by_name=(grader.get("name") or grader.get("email") or "")[:200] or None,
        tests=tests or None,
        compile_output=replaced.get("compile_output"),
    )
