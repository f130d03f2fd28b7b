"""Assignments: instructors and admins write them; students see the published ones."""

import logging

from fastapi import APIRouter, HTTPException, status

from cloudemy_backend.api.deps import BackendDep, CurrentUser, PageDep, StaffUser, is_staff, next_cursor, not_found
from cloudemy_backend.schemas import (
    AssignmentCreate,
    AssignmentOut,
    AssignmentPage,
    AssignmentUpdate,
    ErrorOut,
    assignment_out,
    check_grading,
)
from cloudemy_backend.storage import Document
from cloudemy_backend.submitting import code_bytes_within_limit
from cloudemy_common.models import RubricCriterion
from cloudemy_common.program_tests import ProgramTest, total_test_points

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/assignments", tags=["assignments"])

NOT_FOUND = {404: {"model": ErrorOut}}


def max_score(rubric: list[RubricCriterion], tests: list[ProgramTest]) -> float:
    """The rubric's points plus the tests' points."""
    return float(sum(criterion.points for criterion in rubric) + total_test_points(tests))


def stored_rubric(assignment: Document) -> list[RubricCriterion]:
    return [RubricCriterion.model_validate(criterion) for criterion in assignment.get("rubric") or []]


def stored_tests(assignment: Document) -> list[ProgramTest]:
    return [ProgramTest.model_validate(test) for test in assignment.get("tests") or []]


def visible_to(user: Document, assignment: Document | None) -> bool:
    return assignment is not None and (assignment["published"] or is_staff(user))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=AssignmentOut,
    responses={413: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
async def create_assignment(body: AssignmentCreate, backend: BackendDep, user: StaffUser) -> AssignmentOut:
    """``max_score`` is the rubric's points plus the tests' points."""
    if body.reference_solution is not None:
        code_bytes_within_limit(backend.settings, body.reference_solution.code)
    fields = body.model_dump(mode="json")
    fields.update(max_score=max_score(body.rubric, body.tests), owner_id=str(user["_id"]))
    doc = await backend.storage.insert_assignment(fields)
    log.info("assignment created", extra={"assignment_id": str(doc["_id"]), "by": str(user["_id"])})
    return assignment_out(doc, staff=True)


@router.get("", response_model=AssignmentPage)
async def list_assignments(backend: BackendDep, user: CurrentUser, page: PageDep) -> AssignmentPage:
    """Newest first; students see published assignments only."""
    staff = is_staff(user)
    docs = await backend.storage.list_assignments(published_only=not staff, limit=page.limit, before_id=page.before_id)
    items = [assignment_out(d, staff=staff) for d in docs]
    return AssignmentPage(items=items, next_cursor=next_cursor(docs, page.limit))


@router.get("/{assignment_id}", response_model=AssignmentOut, responses=NOT_FOUND)
async def get_assignment(assignment_id: str, backend: BackendDep, user: CurrentUser) -> AssignmentOut:
    doc = await backend.storage.assignment_by_id(assignment_id)
    if doc is None or not visible_to(user, doc):
        raise not_found("assignment")
    return assignment_out(doc, staff=is_staff(user))


@router.patch("/{assignment_id}", response_model=AssignmentOut, responses=NOT_FOUND)
async def update_assignment(
    assignment_id: str, body: AssignmentUpdate, backend: BackendDep, user: StaffUser
) -> AssignmentOut:
    """Change the fields given; a new rubric or new tests recompute ``max_score`` (existing submissions keep
    theirs). The assignment as changed must still have a rubric criterion or a test, and test ids distinct from
    rubric ids (422 otherwise)."""
    if body.reference_solution is not None:
        code_bytes_within_limit(backend.settings, body.reference_solution.code)
    changes = body.model_dump(mode="json", exclude_unset=True)
    clears_reference = "reference_solution" in changes and changes["reference_solution"] is None
    changes = {name: value for name, value in changes.items() if value is not None}
    if clears_reference:
        changes["reference_solution"] = None
    current = await backend.storage.assignment_by_id(assignment_id)
    if current is None:
        raise not_found("assignment")
    if "rubric" in changes or "tests" in changes:
        rubric = body.rubric if body.rubric is not None else stored_rubric(current)
        tests = body.tests if body.tests is not None else stored_tests(current)
        try:
            check_grading(rubric, tests)
        except ValueError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
        changes["max_score"] = max_score(rubric, tests)
    doc = await backend.storage.update_assignment(assignment_id, changes) if changes else current
    if doc is None:
        raise not_found("assignment")
    log.info("assignment updated", extra={"assignment_id": assignment_id, "fields": ",".join(sorted(changes))})
    return assignment_out(doc, staff=True)
