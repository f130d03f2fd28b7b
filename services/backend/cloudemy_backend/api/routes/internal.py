"""The internal API the scheduler and runners call (under /internal; the Ingress never routes it).

Auth: header ``X-Result-Token`` holding the master INTERNAL_RESULT_TOKEN, this submission's attempt token (one
attempt, with an expiry: what runner Jobs get) or its per-submission token (cloudemy_common.tokens), compared
in constant time; anything else is 401 before the body is looked at. An attempt token reporting about another
attempt than its own is 401 too, whatever the body.

Attempts: a regrade makes attempt n+1 while a runner of attempt n may still post. Callers may say which
attempt they report with ``?attempt=n`` (the runner knows it from the payload hash, the scheduler from the
Job's label); a status update's ``job_name`` (``runner-{id}-{n}``) says it too. A report for an earlier
attempt never changes the current one: a status is ignored (``applied: false``) and a result is 409. A result
without ``?attempt`` is taken as the current attempt's; since only terminal submissions can be regraded,
that can mix attempts only when a runner re-sends after the regrade — callers should pass the attempt.
"""

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, status
from redis.exceptions import RedisError

from cloudemy_backend.api.deps import BackendDep, not_found
from cloudemy_backend.deadlines import with_penalty
from cloudemy_backend.schemas import ErrorOut, ResultOut, StatusAck, reject_invalid_text
from cloudemy_backend.storage import Document
from cloudemy_backend.submitting import delete_payload_quietly, posted_result, same_result
from cloudemy_common.jobs import parse_job_name
from cloudemy_common.lifecycle import is_terminal
from cloudemy_common.models import MAX_ATTEMPT, QueueMessage, RequeueAnswer, RequeueRequest, ResultBody, StatusUpdate
from cloudemy_common.retry import full_jitter
from cloudemy_common.tokens import ResultGrant, result_grant

log = logging.getLogger(__name__)


async def result_token_guard(
    backend: BackendDep,
    submission_id: Annotated[str, Path(max_length=64)],
    x_result_token: Annotated[str | None, Header(max_length=256)] = None,
) -> ResultGrant:
    """What the token allows; 401 unless it is the master token or a valid token of this submission."""
    master = backend.settings.internal_result_token.get_secret_value()
    grant = result_grant(master, submission_id, x_result_token)
    if grant is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="missing or invalid X-Result-Token")
    return grant


GrantDep = Annotated[ResultGrant, Depends(result_token_guard)]


def require_attempt(grant: ResultGrant, attempt: int) -> None:
    """401 when the token belongs to another attempt (a runner of attempt n never reports for n+1)."""
    if not grant.allows_attempt(attempt):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="X-Result-Token is for another attempt")


router = APIRouter(
    prefix="/internal/submissions",
    tags=["internal"],
    dependencies=[Depends(result_token_guard)],
    responses={401: {"model": ErrorOut}, 404: {"model": ErrorOut}},
)

READ_WRITE_ROUNDS = 3

AttemptQuery = Annotated[
    int | None, Query(ge=1, le=MAX_ATTEMPT, description="the attempt this report is about (default: the current one)")
]


def attempt_of_job(job_name: str | None, submission_id: str) -> int | None:
    """The attempt a Job name encodes (``runner-{id}`` is 1, ``runner-{id}-{n}`` is n), if it is this submission's."""
    job = parse_job_name(job_name)
    return job.attempt if job is not None and job.submission_id == submission_id else None


async def existing_submission(backend: BackendDep, submission_id: str) -> Document:
    doc = await backend.storage.submission_by_id(submission_id)
    if doc is None:
        raise not_found("submission")
    return doc


@router.post("/{submission_id}/status", response_model=StatusAck)
async def report_status(
    submission_id: str, body: StatusUpdate, backend: BackendDep, grant: GrantDep, attempt: AttemptQuery = None
) -> StatusAck:
    """Move a submission forward to dispatched or running. Never backwards, never out of a terminal status,
    never for an earlier attempt: those answer 200 with ``applied: false`` and the current status."""
    doc = await existing_submission(backend, submission_id)
    reported = attempt or attempt_of_job(body.job_name, str(doc["_id"])) or grant.attempt or doc["attempt"]
    require_attempt(grant, reported)
    updated = None
    if reported == doc["attempt"]:
        updated = await backend.storage.apply_progress(
            doc["_id"], body.status, attempt=reported, job_name=body.job_name
        )
    current = updated or await existing_submission(backend, submission_id)
    log.info(
        "status report",
        extra={"submission_id": str(doc["_id"]), "status": body.status, "attempt": reported, "applied": bool(updated)},
    )
    return StatusAck(
        id=str(doc["_id"]), status=current["status"], attempt=current["attempt"], applied=updated is not None
    )


@router.post("/{submission_id}/result", response_model=ResultOut, responses={409: {"model": ErrorOut}})
async def report_result(
    submission_id: str, body: ResultBody, backend: BackendDep, grant: GrantDep, attempt: AttemptQuery = None
) -> ResultOut:
    """Store the terminal result. The first one wins: an identical repeat is 200 and changes nothing, a
    different one is 409, as is a result for an attempt other than the current one. A late submission's
    score is reduced by its penalty here (``score_before_penalty`` keeps the posted score)."""
    try:
        reject_invalid_text(body.model_dump())
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    # Read, then write conditionally; if the write finds the submission changed in between (a
    # concurrent post won, or a regrade landed), read again and answer from what is stored then.
    for _ in range(READ_WRITE_ROUNDS):
        doc = await existing_submission(backend, submission_id)
        sid, reported = str(doc["_id"]), attempt or grant.attempt or doc["attempt"]
        require_attempt(grant, reported)
        if reported != doc["attempt"]:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail=f"result is for attempt {reported}; the submission is on attempt {doc['attempt']}",
            )
        if is_terminal(doc["status"]):
            if not same_result(doc["result"], body):
                raise HTTPException(
                    status.HTTP_409_CONFLICT, detail=f"a different {doc['status']} result is already stored"
                )
            await delete_payload_quietly(backend.queue, sid)
            return ResultOut.model_validate(doc["result"])
        stored = await backend.storage.store_first_result(
            doc["_id"], attempt=reported, result=with_penalty(posted_result(body, reported), doc)
        )
        if stored is not None:
            backend.metrics.observe_result(body.status, doc.get("created_at"), body.metrics or {})
            await delete_payload_quietly(backend.queue, sid)
            log.info("result stored", extra={"submission_id": sid, "status": body.status, "attempt": reported})
            return ResultOut.model_validate(stored["result"])
    raise HTTPException(status.HTTP_409_CONFLICT, detail="the submission kept changing; post the result again")


@router.post("/{submission_id}/requeue", response_model=RequeueAnswer, responses={409: {"model": ErrorOut}})
async def requeue_attempt(
    submission_id: str, body: RequeueRequest, backend: BackendDep, grant: GrantDep, attempt: AttemptQuery = None
) -> RequeueAnswer:
    """Hand the current attempt back to the queue with a delay (the runner could not reach a usable LLM).

    The same attempt, at most ``LLM_REQUEUE_LIMIT`` times; the delay is full jitter over an exponential
    backoff with the runner's ``retry_after_seconds`` as its floor. 409 when the attempt is not the current
    one, the submission ended, or the limit is reached: the runner then posts its result. 503 when Redis is
    unreachable (nothing changed). The message goes to the delayed set first, so a submission is never
    ``queued`` without a message on its way.
    """
    settings = backend.settings
    doc = await existing_submission(backend, submission_id)
    sid, reported = str(doc["_id"]), attempt or grant.attempt or doc["attempt"]
    require_attempt(grant, reported)
    done = doc.get("requeues", 0)
    if reported != doc["attempt"] or is_terminal(doc["status"]) or done >= settings.llm_requeue_limit:
        backend.metrics.requeue_refused.inc()
        detail = (
            f"attempt {reported} has gone back to the queue {done} times (limit {settings.llm_requeue_limit})"
            if reported == doc["attempt"] and not is_terminal(doc["status"])
            else f"attempt {reported} is not in flight (the submission is {doc['status']} on attempt {doc['attempt']})"
        )
        raise HTTPException(status.HTTP_409_CONFLICT, detail=detail)
    delay = min(
        full_jitter(
            done + 1,
            base=settings.llm_requeue_delay_seconds,
            cap=settings.llm_requeue_max_delay_seconds,
            floor=body.retry_after_seconds,
        ),
        settings.llm_requeue_max_delay_seconds + body.retry_after_seconds,
    )
    message = QueueMessage(submission_id=sid, language=doc["language"], attempt=reported, requeue=done + 1)
    try:
        await backend.queue.enqueue_later(message, delay)
    except RedisError as exc:
        log.warning("requeue impossible, redis unreachable", extra={"submission_id": sid, "reason": type(exc).__name__})
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="queue unavailable, try again") from None
    updated = await backend.storage.requeue_attempt(doc["_id"], attempt=reported, limit=settings.llm_requeue_limit)
    if updated is None:  # a result or another requeue won the race: take the message back
        await backend.queue.withdraw_delayed(message)
        backend.metrics.requeue_refused.inc()
        raise HTTPException(status.HTTP_409_CONFLICT, detail="the submission changed meanwhile")
    backend.metrics.requeued.labels(body.reason).inc()
    log.warning(
        "attempt handed back to the queue",
        extra={
            "submission_id": sid,
            "attempt": reported,
            "requeue": message.requeue,
            "reason": body.reason,
            "delay_seconds": round(delay, 1),
        },
    )
    return RequeueAnswer(requeued=True, requeue=message.requeue, delay_seconds=round(delay, 3))
