"""Submissions: students submit and read their own; course staff read the course's, regrade and grade.

Submitting checks, in order: access to the assignment (404), the course not archived (403 ``closed``), the
code's size (413), the language (422), the window (403 ``not open yet`` / ``closed``; after ``due_at`` and up
to ``late_until`` the submission is accepted as late) and the limit (409 ``submission limit reached``), then
the rate limit (429). Course staff are bound by neither the window nor the limit."""

import hashlib
import logging
from typing import Annotated, Any

from bson import ObjectId
from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from fastapi.responses import JSONResponse

from cloudemy_backend.api.course_access import (
    MEMBERS,
    STAFF,
    CourseAccess,
    closed,
    require_course_role,
    visible_courses,
)
from cloudemy_backend.api.deps import (
    Backend,
    BackendDep,
    CurrentUser,
    PageDep,
    next_cursor,
    not_found,
    too_many_requests,
)
from cloudemy_backend.deadlines import ClosedError, NotOpenError, lateness, window_for, with_penalty
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
from cloudemy_backend.submitting import GradeRefused, code_bytes_within_limit, enqueue_submission, manual_result
from cloudemy_backend.visibility import TestCatalog
from cloudemy_common.lifecycle import can_override, can_regrade
from cloudemy_common.models import MAX_ATTEMPT, ObjectIdStr

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api", tags=["submissions"])

NOT_FOUND = {404: {"model": ErrorOut}}
CONFLICT = {409: {"model": ErrorOut}}


SubmitAccess = Annotated[CourseAccess, require_course_role("assignment", MEMBERS, write=True)]
TestRunAccess = Annotated[CourseAccess, require_course_role("assignment", STAFF, write=True)]
# The status fields only (what a poll needs); the route reads the whole submission when it has to.
PollSubmission = Annotated[CourseAccess, require_course_role("submission-state", MEMBERS)]
GradeSubmission = Annotated[CourseAccess, require_course_role("submission", STAFF, write=True)]


async def shown(backend: Backend, staff: bool, doc: Document) -> SubmissionOut:
    """One submission as this viewer may see it (a student's hidden tests cut down to their verdicts, an
    unreleased result to ``{"released": false}``; staff also get the history), with its regrade requests."""
    tests = await backend.storage.assignment_tests([doc["assignment_id"]])
    catalog = TestCatalog.of(tests.get(doc["assignment_id"]))
    requests = await backend.storage.regrade_requests_of_submission(str(doc["_id"]))
    return submission_out(doc, catalog, staff=staff, regrade_requests=requests)


async def submission_lateness(backend: Backend, access: CourseAccess) -> dict | None:
    """For a student: the submission's lateness now, or 403 outside the window, 409 past the limit. Course
    staff are bound by neither (None)."""
    assignment = access.assignment
    if access.is_staff or assignment is None:
        return None
    assignment_id = str(assignment["_id"])
    window = window_for(assignment, await backend.storage.extension(assignment_id, access.user_id))
    try:
        late = lateness(backend.clock(), window, assignment.get("late_penalty_percent_per_day", 0))
    except NotOpenError:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="not open yet") from None
    except ClosedError:
        raise closed() from None
    if window.allowed is not None:
        used = await backend.storage.counted_submissions(assignment_id, access.user_id)
        if used >= window.allowed:
            raise HTTPException(status.HTTP_409_CONFLICT, detail="submission limit reached")
    return late


def allowed_language(assignment: Document, language: str) -> None:
    if language not in assignment["languages"]:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"language {language!r} is not allowed here; allowed: {', '.join(assignment['languages'])}",
        )


async def accept(
    backend: Backend,
    access: CourseAccess,
    language: str,
    code: str,
    *,
    test_run: bool,
    submission_id: ObjectId | None = None,
    late: dict | None = None,
) -> SubmissionOut:
    """Store the code as ``queued``, then queue it for grading. Accepted even while Redis is down (the sweep
    queues it once Redis is back)."""
    assignment = access.assignment
    assert assignment is not None
    code_bytes = code_bytes_within_limit(backend.settings, code)
    allowed_language(assignment, language)
    doc = await backend.storage.insert_submission(
        assignment_id=str(assignment["_id"]), user_id=access.user_id, language=language, code=code,
        test_run=test_run, submission_id=submission_id, course_id=str(access.course["_id"]), lateness=late,
    )  # fmt: skip
    backend.metrics.submissions_created.inc()
    log.info(
        "test run accepted" if test_run else "submission accepted",
        extra={"submission_id": str(doc["_id"]), "assignment_id": str(assignment["_id"]), "code_bytes": code_bytes},
    )
    await enqueue_submission(backend.storage, backend.queue, backend.metrics, doc, assignment)
    return submission_out(doc, TestCatalog.of(assignment), staff=access.is_staff)


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
        403: {"model": ErrorOut},
        413: {"model": ErrorOut},
        429: {"model": ErrorOut, "description": "over SUBMISSION_RATE_PER_MINUTE; see Retry-After"},
    },
)
async def submit(
    body: SubmissionCreate,
    backend: BackendDep,
    access: SubmitAccess,
    idempotency_key: IdempotencyKey = None,
) -> SubmissionOut:
    """Store the code as ``queued``, then queue it for grading. Accepted even while Redis is down (the sweep
    queues it once Redis is back).

    With an ``Idempotency-Key`` header, a repeat of the request (the same key from the same user within 24
    hours, say a resubmit after a timeout) returns the first submission instead of storing a second one;
    the same key with different code or language is 422. At most ``SUBMISSION_RATE_PER_MINUTE`` new
    submissions per user in any minute (429 with ``Retry-After`` beyond; repeats are not counted). A late
    submission carries ``late``, ``late_days`` and the ``penalty_percent`` its score will get."""
    assignment = access.assignment
    assert assignment is not None
    code_bytes_within_limit(backend.settings, body.code)
    allowed_language(assignment, body.language)
    user_id, submission_id = access.user_id, ObjectId()
    if idempotency_key is not None:
        fingerprint = submission_fingerprint(str(assignment["_id"]), body)
        earlier = await backend.storage.claim_idempotency_key(
            user_id=user_id, key=idempotency_key, fingerprint=fingerprint, submission_id=submission_id
        )
        if earlier is not None:
            return await replayed_submission(backend, access, earlier, fingerprint)
    try:
        late = await submission_lateness(backend, access)
        await reserve_submission_slot(backend, user_id)
        return await accept(
            backend, access, body.language, body.code, test_run=False, submission_id=submission_id, late=late
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


async def replayed_submission(
    backend: Backend, access: CourseAccess, earlier: Document, fingerprint: str
) -> SubmissionOut:
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
    return await shown(backend, access.is_staff, doc)


@router.post(
    "/assignments/{assignment_id}/test-run",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SubmissionOut,
    responses={**NOT_FOUND, 413: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
async def test_run(body: TestRunCreate, backend: BackendDep, access: TestRunAccess) -> SubmissionOut:
    """Grade the reference solution (the code given, or the assignment's stored ``reference_solution``) through
    the normal queue and runner, published or not, so an instructor sees every test's verdict before students
    do. The run is a submission marked ``test_run``: staff-only, never in a gradebook or a student's list."""
    assignment = access.assignment
    assert assignment is not None
    if body.language is not None and body.code is not None:
        language, code = body.language, body.code
    elif assignment.get("reference_solution"):
        language, code = assignment["reference_solution"]["language"], assignment["reference_solution"]["code"]
    else:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail="this assignment has no reference_solution: give language and code",
        )
    return await accept(backend, access, language, code, test_run=True)


@router.get("/submissions", response_model=SubmissionPage)
async def list_submissions(
    backend: BackendDep,
    user: CurrentUser,
    page: PageDep,
    assignment_id: Annotated[ObjectIdStr | None, Query()] = None,
    user_id: Annotated[ObjectIdStr | None, Query(description="students always get their own only")] = None,
    test_runs: Annotated[bool, Query(description="staff: list the test runs (reference solution) instead")] = False,
) -> SubmissionPage:
    """Newest first, without the code: every submission of the courses where the caller is staff, and the
    caller's own (an admin: every submission); test runs are listed only when asked for (``test_runs=true``)."""
    visible = await visible_courses(backend.storage, user)
    staff_courses: list[str] | None = None if visible.everything else visible.staff
    docs = await backend.storage.list_submissions(
        assignment_id=assignment_id.lower() if assignment_id else None,
        user_id=user_id.lower() if user_id else None,
        limit=page.limit,
        before_id=page.before_id,
        test_runs=test_runs,
        staff_course_ids=staff_courses,
        own_user_id=None if visible.everything else str(user["_id"]),
    )
    tests = await backend.storage.assignment_tests([d["assignment_id"] for d in docs])

    def staff_of(doc: Document) -> bool:
        return staff_courses is None or doc.get("course_id") in staff_courses

    items = [submission_summary(d, TestCatalog.of(tests.get(d["assignment_id"])), staff=staff_of(d)) for d in docs]
    return SubmissionPage(items=items, next_cursor=next_cursor(docs, page.limit))


def state_etag(staff: bool, doc: Document) -> str:
    """A weak validator of what this viewer sees of the submission: it changes with every status change,
    result, regrade or grade (each one moves ``updated_at``), and differs between staff and students (who
    see hidden tests differently)."""
    changed = int(doc["updated_at"].timestamp() * 1000)
    return f'W/"{doc["attempt"]}-{doc["status"]}-{changed}-{"staff" if staff else "owner"}"'


def not_modified(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    offered = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in offered or etag.removeprefix("W/") in offered


IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match", max_length=1024)]
NOT_MODIFIED = {304: {"description": "unchanged since the ETag given in If-None-Match"}}


@router.get("/submissions/{submission_id}", response_model=SubmissionOut, responses={**NOT_FOUND, **NOT_MODIFIED})
async def get_submission(
    backend: BackendDep, access: PollSubmission, response: Response, if_none_match: IfNoneMatch = None
) -> Any:
    """The whole submission (its owner and the course's staff; anyone else 404), with an ``ETag``;
    ``If-None-Match`` with that ETag answers 304 (no body) while nothing changed, after reading only the
    submission's status fields."""
    state = access.submission
    assert state is not None
    etag = state_etag(access.is_staff, state)
    if not_modified(if_none_match, etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
    doc = await backend.storage.submission_by_id(str(state["_id"]))
    if doc is None:
        raise not_found("submission")
    response.headers["ETag"] = state_etag(access.is_staff, doc)
    return await shown(backend, access.is_staff, doc)


@router.get(
    "/submissions/{submission_id}/status", response_model=SubmissionState, responses={**NOT_FOUND, **NOT_MODIFIED}
)
async def get_submission_status(access: PollSubmission, if_none_match: IfNoneMatch = None) -> Any:
    """Status, attempt and last change only: what a page polls while a submission is graded (one small
    read, a few dozen bytes), fetching the whole submission when ``updated_at`` moves. ETag and
    ``If-None-Match`` work as on the submission itself."""
    state = access.submission
    assert state is not None
    etag = state_etag(access.is_staff, state)
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
async def regrade(submission_id: str, backend: BackendDep, access: GradeSubmission) -> SubmissionOut:
    """Grade a finished submission again as attempt + 1 (its previous result is kept in history).

    409 while the submission is still queued or in flight: only a terminal submission can be regraded,
    so two attempts never run at once. The new attempt keeps the submission's lateness.
    """
    doc, user = access.submission, access.user
    assert doc is not None
    if not can_regrade(doc["status"]):
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"submission is still {doc['status']}; regrade it later")
    if doc["attempt"] >= MAX_ATTEMPT:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"submission already has {MAX_ATTEMPT} attempts")
    assignment = await backend.storage.assignment_by_id(doc["assignment_id"])
    if assignment is None:
        raise not_found("assignment")
    updated = await backend.storage.start_next_attempt(
        doc["_id"], current_attempt=doc["attempt"], replaced_by=str(user["_id"])
    )
    if updated is None:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="submission changed meanwhile; reload and retry")
    log.info("regrade", extra={"submission_id": submission_id, "attempt": updated["attempt"], "by": str(user["_id"])})
    await enqueue_submission(backend.storage, backend.queue, backend.metrics, updated, assignment)
    return await shown(backend, True, updated)


@router.post(
    "/submissions/{submission_id}/grade",
    response_model=SubmissionOut,
    responses={**NOT_FOUND, **CONFLICT, 422: {"model": ErrorOut}},
)
async def grade(submission_id: str, body: ManualGrade, backend: BackendDep, access: GradeSubmission) -> SubmissionOut:
    """An instructor's grade: turns ``needs_review`` into ``graded``, and overrides any other terminal result
    (graded, error, timeout) the same way. 409 while the submission is queued or in flight. A late
    submission's penalty applies to this score too (``score_before_penalty`` keeps the given one)."""
    doc, user = access.submission, access.user
    assert doc is not None
    if not can_override(doc["status"]):
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"submission is still {doc['status']}; grade it later")
    assignment = await backend.storage.assignment_by_id(doc["assignment_id"])
    if assignment is None:
        raise not_found("assignment")
    updated = await override_result(backend, doc, assignment, body, user)
    if updated is None:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="submission changed meanwhile; reload and retry")
    log.info("manual grade", extra={"submission_id": submission_id, "by": str(user["_id"])})
    return await shown(backend, True, updated)


async def override_result(
    backend: Backend, doc: Document, assignment: Document, body: ManualGrade, user: Document
) -> Document | None:
    """Store an instructor's grade over the submission's terminal result (422 for marks out of range); the
    updated submission, or None when it changed meanwhile."""
    try:
        result = with_penalty(manual_result(doc, assignment, body, user), doc)
    except GradeRefused as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    updated = await backend.storage.replace_terminal_result(
        doc["_id"], attempt=doc["attempt"], result=result, replaced_by=str(user["_id"])
    )
    if updated is not None:
        backend.metrics.results.labels(result.status).inc()
    return updated
