"""Submissions: students submit and read their own; instructors and admins read all, regrade, grade."""

import hashlib
import logging
from typing import Annotated, Any

from bson import ObjectId
from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from fastapi.responses import JSONResponse

from cloudemy_backend.api.deps import (
    Backend,
    BackendDep,
    CurrentUser,
    PageDep,
    StaffUser,
    is_staff,
    next_cursor,
    not_found,
    too_many_requests,
)
from cloudemy_backend.api.routes.assignments import visible_to
from cloudemy_backend.ratelimit import RateLimiter
from cloudemy_backend.schemas import (
    ErrorOut,
    ManualGrade,
    SubmissionCreate,
    SubmissionOut,
    SubmissionPage,
    SubmissionState,
    TestRunCreate,
    submission_out,
    submission_summary,
)
from cloudemy_backend.storage import Document
from cloudemy_backend.submitting import code_bytes_within_limit, enqueue_submission, manual_result
from cloudemy_backend.visibility import TestCatalog
from cloudemy_common.lifecycle import can_override, can_regrade
from cloudemy_common.models import MAX_ATTEMPT, ObjectIdStr

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api", tags=["submissions"])

NOT_FOUND = {404: {"model": ErrorOut}}
CONFLICT = {409: {"model": ErrorOut}}


async def readable_submission(backend: Backend, user: Document, submission_id: str) -> Document:
    """The submission if this user may read it: its owner, instructors, admins. Anyone else gets 404."""
    doc = await backend.storage.submission_by_id(submission_id)
    if doc is None or not may_read(user, doc):
        raise not_found("submission")
    return doc


async def shown(backend: Backend, user: Document, doc: Document) -> SubmissionOut:
    """One submission as this user may see it (a student's hidden tests cut down to their verdicts)."""
    tests = await backend.storage.assignment_tests([doc["assignment_id"]])
    catalog = TestCatalog.of(tests.get(doc["assignment_id"]))
    return submission_out(doc, catalog, staff=is_staff(user))


def allowed_language(assignment: Document, language: str) -> None:
    if language not in assignment["languages"]:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"language {language!r} is not allowed here; allowed: {', '.join(assignment['languages'])}",
        )


async def accept(
    backend: Backend,
    user: Document,
    assignment: Document,
    language: str,
    code: str,
    *,
    test_run: bool,
    submission_id: ObjectId | None = None,
) -> SubmissionOut:
    """Store the code as ``queued``, then queue it for grading. Accepted even while Redis is down (the sweep
    queues it once Redis is back)."""
    code_bytes = code_bytes_within_limit(backend.settings, code)
    allowed_language(assignment, language)
    doc = await backend.storage.insert_submission(
        assignment_id=str(assignment["_id"]), user_id=str(user["_id"]), language=language, code=code,
        test_run=test_run, submission_id=submission_id,
    )  # fmt: skip
    backend.metrics.submissions_created.inc()
    log.info(
        "test run accepted" if test_run else "submission accepted",
        extra={"submission_id": str(doc["_id"]), "assignment_id": str(assignment["_id"]), "code_bytes": code_bytes},
    )
    await enqueue_submission(backend.storage, backend.queue, backend.metrics, doc, assignment)
    return submission_out(doc, TestCatalog.of(assignment), staff=is_staff(user))


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="any unique string (a UUID): the same key within 24 hours returns the first submission",
    ),
]


def submission_fingerprint(assignment_id: str, body: SubmissionCreate) -> str:
    """What an Idempotency-Key stands for: the same key must come with the same submission."""
    digest = hashlib.sha256()
    for part in (assignment_id, body.language, body.code):
        digest.update(part.encode("utf-8", errors="surrogatepass") + b"\x00")
    return digest.hexdigest()


@router.post(
    "/assignments/{assignment_id}/submissions",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SubmissionOut,
    responses={
        **NOT_FOUND,
        **CONFLICT,
        413: {"model": ErrorOut},
        429: {"model": ErrorOut, "description": "over SUBMISSION_RATE_PER_MINUTE; see Retry-After"},
    },
)
async def submit(
    assignment_id: str,
    body: SubmissionCreate,
    backend: BackendDep,
    user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> SubmissionOut:
    """Store the code as ``queued``, then queue it for grading. Accepted even while Redis is down (the sweep
    queues it once Redis is back).

    With an ``Idempotency-Key`` header, a repeat of the request (the same key from the same user within 24
    hours, say a resubmit after a timeout) returns the first submission instead of storing a second one;
    the same key with different code or language is 422. At most ``SUBMISSION_RATE_PER_MINUTE`` new
    submissions per user in any minute (429 with ``Retry-After`` beyond; repeats are not counted)."""
    code_bytes_within_limit(backend.settings, body.code)
    assignment = await backend.storage.assignment_by_id(assignment_id)
    if assignment is None or not visible_to(user, assignment):
        raise not_found("assignment")
    allowed_language(assignment, body.language)
    user_id, submission_id = str(user["_id"]), ObjectId()
    if idempotency_key is not None:
        fingerprint = submission_fingerprint(str(assignment["_id"]), body)
        earlier = await backend.storage.claim_idempotency_key(
            user_id=user_id, key=idempotency_key, fingerprint=fingerprint, submission_id=submission_id
        )
        if earlier is not None:
            return await replayed_submission(backend, user, earlier, fingerprint)
    try:
        await reserve_submission_slot(backend, user_id)
        return await accept(
            backend, user, assignment, body.language, body.code, test_run=False, submission_id=submission_id
        )
    except BaseException:
        if idempotency_key is not None:
            await backend.storage.release_idempotency_key(
                user_id=user_id, key=idempotency_key, submission_id=submission_id
            )
        raise


async def reserve_submission_slot(backend: Backend, user_id: str) -> None:
    """Count one new submission of this user; 429 with Retry-After past SUBMISSION_RATE_PER_MINUTE."""
    limit = backend.settings.submission_rate_per_minute
    decision = await backend.limiter.reserve([RateLimiter.key("submissions", user_id)], limit=limit, window_seconds=60)
    if not decision.allowed:
        backend.metrics.rate_limited.labels("submission").inc()
        raise too_many_requests(
            f"at most {limit} submissions a minute; try again in {decision.retry_after} s", decision.retry_after
        )


async def replayed_submission(backend: Backend, user: Document, earlier: Document, fingerprint: str) -> SubmissionOut:
    """The answer to a repeated Idempotency-Key: the first submission as it is now."""
    if earlier["fingerprint"] != fingerprint:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail="this Idempotency-Key was used for a different submission; use a new key",
        )
    doc = await backend.storage.submission_by_id(str(earlier["submission_id"]))
    if doc is None:  # the first request is still storing it
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail="a request with this Idempotency-Key is in progress; retry shortly"
        )
    log.info("idempotent repeat", extra={"submission_id": str(doc["_id"])})
    return await shown(backend, user, doc)


@router.post(
    "/assignments/{assignment_id}/test-run",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SubmissionOut,
    responses={**NOT_FOUND, 413: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
async def test_run(assignment_id: str, body: TestRunCreate, backend: BackendDep, user: StaffUser) -> SubmissionOut:
    """Grade the reference solution (the code given, or the assignment's stored ``reference_solution``) through
    the normal queue and runner, published or not, so an instructor sees every test's verdict before students
    do. The run is a submission marked ``test_run``: staff-only, never in a gradebook or a student's list."""
    assignment = await backend.storage.assignment_by_id(assignment_id)
    if assignment is None:
        raise not_found("assignment")
    if body.language is not None and body.code is not None:
        language, code = body.language, body.code
    elif assignment.get("reference_solution"):
        language, code = assignment["reference_solution"]["language"], assignment["reference_solution"]["code"]
    else:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail="this assignment has no reference_solution: give language and code",
        )
    return await accept(backend, user, assignment, language, code, test_run=True)


@router.get("/submissions", response_model=SubmissionPage)
async def list_submissions(
    backend: BackendDep,
    user: CurrentUser,
    page: PageDep,
    assignment_id: Annotated[ObjectIdStr | None, Query()] = None,
    user_id: Annotated[ObjectIdStr | None, Query(description="students always get their own only")] = None,
    test_runs: Annotated[bool, Query(description="staff: list the test runs (reference solution) instead")] = False,
) -> SubmissionPage:
    """Newest first, without the code. Students see only their own submissions; test runs are listed only
    when asked for (``test_runs=true``)."""
    staff = is_staff(user)
    if not staff:
        own_id = str(user["_id"])
        if user_id is not None and user_id.lower() != own_id:
            return SubmissionPage(items=[], next_cursor=None)
        user_id = own_id
    docs = await backend.storage.list_submissions(
        assignment_id=assignment_id.lower() if assignment_id else None,
        user_id=user_id.lower() if user_id else None,
        limit=page.limit,
        before_id=page.before_id,
        test_runs=test_runs,
    )
    tests = await backend.storage.assignment_tests([d["assignment_id"] for d in docs])
    items = [submission_summary(d, TestCatalog.of(tests.get(d["assignment_id"])), staff=staff) for d in docs]
    return SubmissionPage(items=items, next_cursor=next_cursor(docs, page.limit))


def may_read(user: Document, doc: Document | None) -> bool:
    return doc is not None and (is_staff(user) or doc["user_id"] == str(user["_id"]))


def state_etag(user: Document, doc: Document) -> str:
    """A weak validator of what this user sees of the submission: it changes with every status change,
    result, regrade or grade (each one moves ``updated_at``), and differs between staff and students (who
    see hidden tests differently)."""
    changed = int(doc["updated_at"].timestamp() * 1000)
    return f'W/"{doc["attempt"]}-{doc["status"]}-{changed}-{"staff" if is_staff(user) else "owner"}"'


def not_modified(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    offered = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in offered or etag.removeprefix("W/") in offered


IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match", max_length=1024)]
NOT_MODIFIED = {304: {"description": "unchanged since the ETag given in If-None-Match"}}


@router.get("/submissions/{submission_id}", response_model=SubmissionOut, responses={**NOT_FOUND, **NOT_MODIFIED})
async def get_submission(
    submission_id: str, backend: BackendDep, user: CurrentUser, response: Response, if_none_match: IfNoneMatch = None
) -> Any:
    """The whole submission, with an ``ETag``; ``If-None-Match`` with that ETag answers 304 (no body) while
    nothing changed, after reading only the submission's status fields."""
    if if_none_match:
        state = await backend.storage.submission_state(submission_id)
        if not may_read(user, state):
            raise not_found("submission")
        if not_modified(if_none_match, state_etag(user, state)):
            return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": state_etag(user, state)})
    doc = await readable_submission(backend, user, submission_id)
    response.headers["ETag"] = state_etag(user, doc)
    return await shown(backend, user, doc)


@router.get(
    "/submissions/{submission_id}/status", response_model=SubmissionState, responses={**NOT_FOUND, **NOT_MODIFIED}
)
async def get_submission_status(
    submission_id: str, backend: BackendDep, user: CurrentUser, if_none_match: IfNoneMatch = None
) -> Any:
    """Status, attempt and last change only: what a page polls while a submission is graded (one small
    read, a few dozen bytes), fetching the whole submission when ``updated_at`` moves. ETag and
    ``If-None-Match`` work as on the submission itself."""
    state = await backend.storage.submission_state(submission_id)
    if not may_read(user, state):
        raise not_found("submission")
    etag = state_etag(user, state)
    if not_modified(if_none_match, etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
    body = SubmissionState(id=str(state["_id"]), status=state["status"], attempt=state["attempt"],
                           updated_at=state["updated_at"])  # fmt: skip
    return JSONResponse(body.model_dump(mode="json"), headers={"ETag": etag})


@router.post(
    "/submissions/{submission_id}/regrade",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SubmissionOut,
    responses={**NOT_FOUND, **CONFLICT},
)
async def regrade(submission_id: str, backend: BackendDep, user: StaffUser) -> SubmissionOut:
    """Grade a finished submission again as attempt + 1 (its previous result is kept in history).

    409 while the submission is still queued or in flight: only a terminal submission can be regraded,
    so two attempts never run at once.
    """
    doc = await readable_submission(backend, user, submission_id)
    if not can_regrade(doc["status"]):
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"submission is still {doc['status']}; regrade it later")
    if doc["attempt"] >= MAX_ATTEMPT:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"submission already has {MAX_ATTEMPT} attempts")
    assignment = await backend.storage.assignment_by_id(doc["assignment_id"])
    if assignment is None:
        raise not_found("assignment")
    updated = await backend.storage.start_next_attempt(doc["_id"], current_attempt=doc["attempt"])
    if updated is None:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="submission changed meanwhile; reload and retry")
    log.info("regrade", extra={"submission_id": submission_id, "attempt": updated["attempt"], "by": str(user["_id"])})
    await enqueue_submission(backend.storage, backend.queue, backend.metrics, updated, assignment)
    return submission_out(updated, TestCatalog.of(assignment), staff=True)


@router.post(
    "/submissions/{submission_id}/grade",
    response_model=SubmissionOut,
    responses={**NOT_FOUND, **CONFLICT, 422: {"model": ErrorOut}},
)
async def grade(submission_id: str, body: ManualGrade, backend: BackendDep, user: StaffUser) -> SubmissionOut:
    """An instructor's grade: turns ``needs_review`` into ``graded``, and overrides any other terminal result
    (graded, error, timeout) the same way. 409 while the submission is queued or in flight."""
    doc = await readable_submission(backend, user, submission_id)
    if not can_override(doc["status"]):
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"submission is still {doc['status']}; grade it later")
    assignment = await backend.storage.assignment_by_id(doc["assignment_id"])
    if assignment is None:
        raise not_found("assignment")
    if body.score > assignment["max_score"]:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"score {body.score} exceeds the assignment's max_score {assignment['max_score']}",
        )
    result = manual_result(doc, assignment, body.score, body.feedback, str(user["_id"]))
    updated = await backend.storage.replace_terminal_result(doc["_id"], attempt=doc["attempt"], result=result)
    if updated is None:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="submission changed meanwhile; reload and retry")
    backend.metrics.results.labels(result.status).inc()
    log.info("manual grade", extra={"submission_id": submission_id, "by": str(user["_id"])})
    return submission_out(updated, TestCatalog.of(assignment), staff=True)
