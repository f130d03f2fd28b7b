"""Reviewing AI grades: release, bulk regrade, regrade requests and the agreement between the LLM and staff.

Every rule goes through ``require_course_role`` (course staff for everything here but opening a regrade
request, which only the submission's owner may do).
"""

import itertools
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status

from cloudemy_backend.api.course_access import STAFF, CourseAccess, authorize, require_course_role
from cloudemy_backend.api.deps import BackendDep, CurrentUser, not_found
from cloudemy_backend.api.routes.submissions import override_result
from cloudemy_backend.schemas import (
    AgreementOut,
    BulkRegrade,
    BulkRegradeOut,
    BulkRegradeProgress,
    CriterionAgreement,
    ErrorOut,
    RegradeRequestCreate,
    RegradeRequestOut,
    RegradeRequestResolve,
    ReleaseOut,
    regrade_request_out,
)
from cloudemy_backend.storage import DuplicateRequestError, history_of
from cloudemy_backend.submitting import enqueue_submission
from cloudemy_common.lifecycle import can_override, is_terminal

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api", tags=["review"])

StaffWrites = Annotated[CourseAccess, require_course_role("assignment", STAFF, write=True)]
StaffReads = Annotated[CourseAccess, require_course_role("assignment", STAFF)]
OwnSubmission = Annotated[
    CourseAccess, require_course_role("submission", frozenset({"student", "instructor", "ta"}), write=True)
]
StaffCourse = Annotated[CourseAccess, require_course_role("course", STAFF)]

EXACT_TOLERANCE = 1e-6
TERMINAL_CHOICES = ["graded", "needs_review", "error", "timeout"]


@router.post("/assignments/{assignment_id}/release", response_model=ReleaseOut)
async def release(backend: BackendDep, access: StaffWrites) -> ReleaseOut:
    """Show the assignment's results to its students, now and for every later result (twice: no change)."""
    assert access.assignment is not None
    assignment, changed = await backend.storage.release_assignment(str(access.assignment["_id"]))
    if assignment is None:
        raise not_found("assignment")
    if changed:
        log.info("grades released", extra={"assignment_id": str(assignment["_id"]), "by": access.user_id})
        await backend.storage.lti.mark_assignment_pending(str(assignment["_id"]))
    return ReleaseOut(id=str(assignment["_id"]), released_at=assignment["released_at"], changed=changed)


@router.post("/assignments/{assignment_id}/regrade", status_code=202, response_model=BulkRegradeOut)
async def bulk_regrade(backend: BackendDep, access: StaffWrites, body: BulkRegrade | None = None) -> BulkRegradeOut:
    """Grade again the latest submission of every student (optionally only those in ``statuses``), through
    the normal queue, so every limit of the platform applies. Submissions still in flight are left alone."""
    assignment = access.assignment
    assert assignment is not None
    statuses = (body.statuses if body and body.statuses else None) or TERMINAL_CHOICES
    targets = await backend.storage.latest_submissions_per_student(str(assignment["_id"]), statuses)
    queued: list[tuple[Any, int]] = []
    for doc in targets:
        updated = await backend.storage.start_next_attempt(
            doc["_id"], current_attempt=doc["attempt"], replaced_by=access.user_id
        )
        if updated is None:  # it changed meanwhile (a result arrived, another regrade): leave it
            continue
        await enqueue_submission(backend.storage, backend.queue, backend.metrics, updated, assignment)
        queued.append((updated["_id"], updated["attempt"]))
    if queued:
        await backend.storage.save_bulk_regrade(str(assignment["_id"]), queued, access.user_id)
    log.info("bulk regrade", extra={"assignment_id": str(assignment["_id"]), "queued": len(queued)})
    return BulkRegradeOut(queued=len(queued))


@router.get("/assignments/{assignment_id}/regrade", response_model=BulkRegradeProgress)
async def bulk_regrade_progress(backend: BackendDep, access: StaffReads) -> BulkRegradeProgress:
    """Progress of the latest bulk regrade: how many of its submissions have their new result."""
    assert access.assignment is not None
    progress = await backend.storage.bulk_regrade_progress(str(access.assignment["_id"]))
    return BulkRegradeProgress(**(progress or {"total": 0, "done": 0, "started_at": None, "by": None}))


@router.post(
    "/submissions/{submission_id}/regrade-requests",
    status_code=201,
    response_model=RegradeRequestOut,
    responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}},
)
async def open_regrade_request(
    body: RegradeRequestCreate, backend: BackendDep, access: OwnSubmission
) -> RegradeRequestOut:
    """The submission's owner asks staff to look again (one open request at a time; only once it is graded)."""
    submission = access.submission
    assert submission is not None
    if submission["user_id"] != access.user_id:
        raise not_found("submission")  # staff cannot ask on a student's behalf; to others it does not exist
    if not is_terminal(submission["status"]):
        raise HTTPException(status.HTTP_409_CONFLICT, detail="ask once the submission has its result")
    try:
        doc = await backend.storage.open_regrade_request(submission, body.message)
    except DuplicateRequestError:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="this submission already has an open request") from None
    return regrade_request_out(doc)


@router.get("/courses/{course_id}/regrade-requests", response_model=list[RegradeRequestOut])
async def list_regrade_requests(
    backend: BackendDep,
    access: StaffCourse,
    state: Annotated[Literal["open", "resolved"] | None, Query()] = None,
) -> list[RegradeRequestOut]:
    """The course's regrade requests, oldest first (the queue staff work through)."""
    docs = await backend.storage.regrade_requests_of_course(str(access.course["_id"]), state)
    return [regrade_request_out(doc) for doc in docs]


@router.post(
    "/regrade-requests/{request_id}/resolve",
    response_model=RegradeRequestOut,
    responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
async def resolve_regrade_request(
    request_id: str, body: RegradeRequestResolve, backend: BackendDep, user: CurrentUser
) -> RegradeRequestOut:
    """Answer a request, optionally overriding the grade in the same step; the student sees the answer."""
    request = await backend.storage.regrade_request(request_id)
    if request is None:
        raise not_found("regrade request")
    course = await backend.storage.course_by_id(request["course_id"] or "")
    await authorize(backend.storage, user, course, STAFF, write=True, what="regrade request")
    if request["state"] != "open":
        raise HTTPException(status.HTTP_409_CONFLICT, detail="this request is already resolved")
    if body.grade is not None:
        submission = await backend.storage.submission_by_id(request["submission_id"])
        assignment = await backend.storage.assignment_by_id(request["assignment_id"])
        if submission is None or assignment is None:
            raise not_found("submission")
        if not can_override(submission["status"]):
            raise HTTPException(status.HTTP_409_CONFLICT, detail=f"submission is {submission['status']}")
        if await override_result(backend, submission, assignment, body.grade, user) is None:
            raise HTTPException(status.HTTP_409_CONFLICT, detail="submission changed meanwhile; reload and retry")
    resolved = await backend.storage.resolve_regrade_request(request["_id"], body.response, str(user["_id"]))
    if resolved is None:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="this request is already resolved")
    return regrade_request_out(resolved)


def _given(result: dict[str, Any]) -> float | None:
    """The score a grader gave (before any late penalty)."""
    value = result.get("score_before_penalty", result.get("score"))
    return float(value) if isinstance(value, int | float) else None


def agreement_pairs(submissions: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(LLM result, the instructor result that replaced it) for every override of an LLM grade."""
    pairs = []
    for doc in submissions:
        entries = history_of(doc)
        for before, after in itertools.pairwise(entries):
            llm, manual = before.get("result") or {}, after.get("result") or {}
            if before.get("reason") == "override" and llm.get("grader") == "llm" and manual.get("grader") == "manual":
                pairs.append((llm, manual))
    return pairs


def agreement(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> AgreementOut:
    diffs = [
        abs(a - b)
        for a, b in ((_given(llm), _given(manual)) for llm, manual in pairs)
        if a is not None and b is not None
    ]
    per: dict[str, list[float]] = {}
    for llm, manual in pairs:
        mine = {c["id"]: float(c["score"]) for c in manual.get("criteria") or []}
        for criterion in llm.get("criteria") or []:
            if criterion["id"] in mine:
                per.setdefault(criterion["id"], []).append(abs(float(criterion["score"]) - mine[criterion["id"]]))
    return AgreementOut(
        pairs=len(diffs),
        mean_abs_diff=round(sum(diffs) / len(diffs), 4) if diffs else None,
        exact_rate=round(sum(d <= EXACT_TOLERANCE for d in diffs) / len(diffs), 4) if diffs else None,
        per_criterion=[
            CriterionAgreement(
                id=cid,
                pairs=len(values),
                mean_abs_diff=round(sum(values) / len(values), 4),
                agreed=sum(v <= EXACT_TOLERANCE for v in values),
            )
            for cid, values in per.items()
        ],
    )


@router.get("/assignments/{assignment_id}/agreement", response_model=AgreementOut)
async def assignment_agreement(backend: BackendDep, access: StaffReads) -> AgreementOut:
    """How far instructors moved the LLM's grades: over every LLM result of the assignment an instructor
    overrode, the mean absolute score difference, the share left unchanged, and the same per criterion."""
    assert access.assignment is not None
    return agreement(agreement_pairs(await backend.storage.overridden_submissions(str(access.assignment["_id"]))))
