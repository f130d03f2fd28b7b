"""Assignments: instructors and admins write them; students see the published ones."""

import logging

from fastapi import APIRouter, status

from cloudemy_backend.api.deps import BackendDep, CurrentUser, PageDep, StaffUser, is_staff, next_cursor, not_found
from cloudemy_backend.schemas import (
    AssignmentCreate,
    AssignmentOut,
    AssignmentPage,
    AssignmentUpdate,
    ErrorOut,
    assignment_out,
)
from cloudemy_backend.storage import Document

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/assignments", tags=["assignments"])

NOT_FOUND = {404: {"model": ErrorOut}}


def max_score(rubric: list[dict]) -> float:
    return float(sum(criterion["points"] for criterion in rubric))


def visible_to(user: Document, assignment: Document | None) -> bool:
    return assignment is not None and (assignment["published"] or is_staff(user))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=AssignmentOut)
async def create_assignment(body: AssignmentCreate, backend: BackendDep, user: StaffUser) -> AssignmentOut:
    """``max_score`` is the sum of the rubric's points."""
    fields = body.model_dump(mode="json")
    fields.update(max_score=max_score(fields["rubric"]), owner_id=str(user["_id"]))
    doc = await backend.storage.insert_assignment(fields)
    log.info("assignment created", extra={"assignment_id": str(doc["_id"]), "by": str(user["_id"])})
    return assignment_out(doc)


@router.get("", response_model=AssignmentPage)
async def list_assignments(backend: BackendDep, user: CurrentUser, page: PageDep) -> AssignmentPage:
    """Newest first; students see published assignments only."""
    docs = await backend.storage.list_assignments(
        published_only=not is_staff(user), limit=page.limit, before_id=page.before_id
    )
    return AssignmentPage(items=[assignment_out(d) for d in docs], next_cursor=next_cursor(docs, page.limit))


@router.get("/{assignment_id}", response_model=AssignmentOut, responses=NOT_FOUND)
async def get_assignment(assignment_id: str, backend: BackendDep, user: CurrentUser) -> AssignmentOut:
    doc = await backend.storage.assignment_by_id(assignment_id)
    if doc is None or not visible_to(user, doc):
        raise not_found("assignment")
    return assignment_out(doc)


@router.patch("/{assignment_id}", response_model=AssignmentOut, responses=NOT_FOUND)
async def update_assignment(
    assignment_id: str, body: AssignmentUpdate, backend: BackendDep, user: StaffUser
) -> AssignmentOut:
    """Change the fields given; a new rubric recomputes ``max_score`` (existing submissions keep theirs)."""
    changes = body.model_dump(mode="json", exclude_unset=True)
    if any(value is None for value in changes.values()):
        changes = {name: value for name, value in changes.items() if value is not None}
    if "rubric" in changes:
        changes["max_score"] = max_score(changes["rubric"])
    doc = await backend.storage.update_assignment(assignment_id, changes) if changes else None
    if doc is None:
        doc = await backend.storage.assignment_by_id(assignment_id)
        if doc is None:
            raise not_found("assignment")
    log.info("assignment updated", extra={"assignment_id": assignment_id, "fields": ",".join(sorted(changes))})
    return assignment_out(doc)
