"""Assignments belong to a course: its instructors write them, its staff see drafts, its students see the
published ones. Extensions give one student other deadlines or more submissions (course staff)."""

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from cloudemy_backend.api.course_access import (
    INSTRUCTORS,
    MEMBERS,
    STAFF,
    CourseAccess,
    course_role,
    require_course_role,
    visible_courses,
)
from cloudemy_backend.api.deps import Backend, BackendDep, CurrentUser, PageDep, next_cursor, not_found
from cloudemy_backend.deadlines import window_for
from cloudemy_backend.schemas import (
    CLEARABLE_FIELDS,
    AssignmentCreate,
    AssignmentOut,
    AssignmentPage,
    AssignmentUpdate,
    ErrorOut,
    ExtensionIn,
    ExtensionOut,
    MySubmissions,
    assignment_out,
    check_grading,
    check_schedule,
    extension_out,
)
from cloudemy_backend.storage import Document
from cloudemy_backend.submitting import code_bytes_within_limit
from cloudemy_common.models import ObjectIdStr, RubricCriterion
from cloudemy_common.program_tests import ProgramTest, total_test_points

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/assignments", tags=["assignments"])

ERRORS = {403: {"model": ErrorOut}, 404: {"model": ErrorOut}}

ReadAssignment = Annotated[CourseAccess, require_course_role("assignment", MEMBERS)]
EditAssignment = Annotated[CourseAccess, require_course_role("assignment", INSTRUCTORS, write=True)]
StaffWrites = Annotated[CourseAccess, require_course_role("assignment", STAFF, write=True)]
StaffReads = Annotated[CourseAccess, require_course_role("assignment", STAFF)]


def max_score(rubric: list[RubricCriterion], tests: list[ProgramTest]) -> float:
    """The rubric's points plus the tests' points."""
    return float(sum(criterion.points for criterion in rubric) + total_test_points(tests))


def stored_rubric(assignment: Document) -> list[RubricCriterion]:
    return [RubricCriterion.model_validate(criterion) for criterion in assignment.get("rubric") or []]


def stored_tests(assignment: Document) -> list[ProgramTest]:
    return [ProgramTest.model_validate(test) for test in assignment.get("tests") or []]


SCHEDULE_TIMES = ("opens_at", "due_at", "late_until")


def with_times(fields: Document, body: AssignmentCreate | AssignmentUpdate) -> Document:
    """A JSON-mode dump with the schedule's times put back as datetimes (stored as BSON dates, compared in UTC)."""
    for name in SCHEDULE_TIMES:
        if name in fields:
            fields[name] = getattr(body, name)
    return fields


async def mine(backend: Backend, user: Document, assignment: Document) -> MySubmissions:
    """The caller's deadlines (their extension applied) and how many of their submissions count."""
    assignment_id, user_id = str(assignment["_id"]), str(user["_id"])
    window = window_for(assignment, await backend.storage.extension(assignment_id, user_id))
    return MySubmissions(
        used=await backend.storage.counted_submissions(assignment_id, user_id),
        allowed=window.allowed,
        due_at=window.due_at,
        late_until=window.late_until,
        extended=window.extended,
    )


async def assignment_page(
    backend: Backend, user: Document, docs: list[Document], staff_courses: set[str] | None
) -> list[AssignmentOut]:
    """``staff_courses``: the course ids whose staff the caller is (None: every course, an admin)."""
    return [
        assignment_out(
            doc, await mine(backend, user, doc), staff=staff_courses is None or doc.get("course_id") in staff_courses
        )
        for doc in docs
    ]


async def create_in_course(backend: Backend, access: CourseAccess, body: AssignmentCreate) -> AssignmentOut:
    """``max_score`` is the rubric's points plus the tests' points."""
    if body.reference_solution is not None:
        code_bytes_within_limit(backend.settings, body.reference_solution.code)
    fields = with_times(body.model_dump(mode="json"), body)
    fields.update(
        max_score=max_score(body.rubric, body.tests), owner_id=access.user_id, course_id=str(access.course["_id"])
    )
    doc = await backend.storage.insert_assignment(fields)
    log.info("assignment created", extra={"assignment_id": str(doc["_id"]), "by": access.user_id})
    return assignment_out(doc, staff=True)


@router.get("", response_model=AssignmentPage, responses=ERRORS)
async def list_assignments(
    backend: BackendDep,
    user: CurrentUser,
    page: PageDep,
    course_id: Annotated[ObjectIdStr | None, Query(description="only this course's")] = None,
) -> AssignmentPage:
    """Newest first, over the caller's courses (or one of them); students see published assignments only."""
    storage = backend.storage
    if course_id is not None:
        role = await course_role(storage, user, course_id)
        if role is None:
            raise not_found("course")
        staff: list[str] | None = [course_id] if role in STAFF or role == "admin" else []
        student = [course_id]
    else:
        visible = await visible_courses(storage, user)
        staff, student = (None, []) if visible.everything else (visible.staff, visible.student)
    docs = await storage.list_assignments(
        staff_course_ids=staff, student_course_ids=student, limit=page.limit, before_id=page.before_id
    )
    items = await assignment_page(backend, user, docs, None if staff is None else set(staff))
    return AssignmentPage(items=items, next_cursor=next_cursor(docs, page.limit))


@router.get("/{assignment_id}", response_model=AssignmentOut, responses=ERRORS)
async def get_assignment(backend: BackendDep, access: ReadAssignment) -> AssignmentOut:
    assert access.assignment is not None
    return assignment_out(access.assignment, await mine(backend, access.user, access.assignment), staff=access.is_staff)


@router.patch("/{assignment_id}", response_model=AssignmentOut, responses={**ERRORS, 422: {"model": ErrorOut}})
async def update_assignment(body: AssignmentUpdate, backend: BackendDep, access: EditAssignment) -> AssignmentOut:
    """Change the fields given (course instructors); a new rubric or new tests recompute ``max_score`` (existing
    submissions keep theirs). The assignment as changed must still have a rubric criterion or a test, test ids
    distinct from rubric ids, and a schedule in order (422 otherwise). ``opens_at``, ``due_at``, ``late_until``,
    ``max_submissions`` and ``reference_solution`` may be set to null."""
    assert access.assignment is not None
    current = access.assignment
    if body.reference_solution is not None:
        code_bytes_within_limit(backend.settings, body.reference_solution.code)
    changes = with_times(body.model_dump(mode="json", exclude_unset=True), body)
    changes = {name: value for name, value in changes.items() if value is not None or name in CLEARABLE_FIELDS}
    if "rubric" in changes or "tests" in changes:
        rubric = body.rubric if body.rubric is not None else stored_rubric(current)
        tests = body.tests if body.tests is not None else stored_tests(current)
        try:
            check_grading(rubric, tests)
        except ValueError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
        changes["max_score"] = max_score(rubric, tests)
    schedule = {name: changes.get(name, current.get(name)) for name in SCHEDULE_TIMES}
    try:
        check_schedule(schedule["opens_at"], schedule["due_at"], schedule["late_until"])
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    assignment_id = str(current["_id"])
    doc = await backend.storage.update_assignment(assignment_id, changes) if changes else current
    if doc is None:
        raise not_found("assignment")
    log.info("assignment updated", extra={"assignment_id": assignment_id, "fields": ",".join(sorted(changes))})
    return assignment_out(doc, await mine(backend, access.user, doc), staff=True)


# --- extensions ----------------------------------------------------------------------------------------------


@router.get("/{assignment_id}/extensions", response_model=list[ExtensionOut], responses=ERRORS)
async def list_extensions(backend: BackendDep, access: StaffReads) -> list[ExtensionOut]:
    """Every extension granted on this assignment (course staff)."""
    assert access.assignment is not None
    return [extension_out(doc) for doc in await backend.storage.list_extensions(str(access.assignment["_id"]))]


async def _student_of_course(backend: Backend, access: CourseAccess, user_id: str) -> None:
    member = await backend.storage.membership(str(access.course["_id"]), user_id)
    if member is None or member["role"] != "student":
        raise not_found("student in this course")


@router.put(
    "/{assignment_id}/extensions/{user_id}",
    response_model=ExtensionOut,
    responses={**ERRORS, 422: {"model": ErrorOut}},
)
async def put_extension(user_id: str, body: ExtensionIn, backend: BackendDep, access: StaffWrites) -> ExtensionOut:
    """Give one student of the course their own ``due_at`` (and ``late_until``, ``extra_submissions``); replaces
    an earlier extension. Submissions already made keep their lateness."""
    assert access.assignment is not None
    await _student_of_course(backend, access, user_id)
    assignment_id = str(access.assignment["_id"])
    doc = await backend.storage.put_extension(
        assignment_id, user_id, {**body.model_dump(), "granted_by": access.user_id}
    )
    log.info("extension granted", extra={"assignment_id": assignment_id, "user_id": user_id, "by": access.user_id})
    return extension_out(doc)


@router.delete("/{assignment_id}/extensions/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
async def delete_extension(user_id: str, backend: BackendDep, access: StaffWrites) -> Response:
    """Withdraw a student's extension; the assignment's own deadlines apply to them again."""
    assert access.assignment is not None
    if not await backend.storage.delete_extension(str(access.assignment["_id"]), user_id):
        raise not_found("extension")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
