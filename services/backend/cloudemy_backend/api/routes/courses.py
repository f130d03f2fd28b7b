"""Courses, their members and join codes, their assignments and their gradebook.

Access is decided by ``require_course_role`` (api/course_access.py): a non-member gets 404 for everything
of a course. Join codes are random, shown to the course's staff only, and rotatable; wrong codes are
counted per user by the shared rate limiter (ratelimit.py) and limited (``JOIN_MAX_FAILURES`` within 15
minutes, then 429).
"""

import csv
import io
import logging
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import EmailStr, TypeAdapter, ValidationError

from cloudemy_backend.api.course_access import (
    INSTRUCTORS,
    MEMBERS,
    STAFF,
    CourseAccess,
    require_course_role,
    visible_courses,
)
from cloudemy_backend.api.deps import BackendDep, CurrentUser, PageDep, next_cursor, not_found, too_many_requests
from cloudemy_backend.api.routes.assignments import assignment_page, create_in_course
from cloudemy_backend.api.routes.grades import csv_response, safe_cell
from cloudemy_backend.deadlines import counted_scores
from cloudemy_backend.ratelimit import RateLimiter
from cloudemy_backend.schemas import (
    AssignmentCreate,
    AssignmentOut,
    AssignmentPage,
    CourseCreate,
    CourseOut,
    CourseUpdate,
    ErrorOut,
    JoinRequest,
    MemberCreate,
    MemberOut,
    RosterReport,
    course_out,
    member_out,
)
from cloudemy_backend.storage import DuplicateMemberError, LastInstructorError

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/courses", tags=["courses"])

ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
    409: {"model": ErrorOut},
}
JOIN_WINDOW_SECONDS = 15 * 60
ROSTER_MAX_ROWS = 5000
COURSE_ROLES = ("instructor", "ta", "student")

Members = Annotated[CourseAccess, require_course_role("course", MEMBERS)]
StaffOfCourse = Annotated[CourseAccess, require_course_role("course", STAFF)]
InstructorWrites = Annotated[CourseAccess, require_course_role("course", INSTRUCTORS, write=True)]
InstructorOfCourse = Annotated[CourseAccess, require_course_role("course", INSTRUCTORS)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CourseOut, responses=ERRORS)
async def create_course(body: CourseCreate, backend: BackendDep, user: CurrentUser) -> CourseOut:
    """Global instructors and admins create courses; the creator becomes the course's instructor."""
    if user["role"] not in {"instructor", "admin"}:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="only instructors and admins create courses")
    doc = await backend.storage.insert_course(body.model_dump(), creator_id=str(user["_id"]))
    log.info("course created", extra={"course_id": str(doc["_id"]), "by": str(user["_id"])})
    return course_out(doc, "instructor")


@router.get("", response_model=list[CourseOut])
async def list_courses(backend: BackendDep, user: CurrentUser) -> list[CourseOut]:
    """The caller's courses, newest first (an admin: every course)."""
    visible = await visible_courses(backend.storage, user)
    docs = await backend.storage.list_courses(None if visible.everything else list(visible.roles))
    return [course_out(doc, visible.roles.get(str(doc["_id"]), "admin")) for doc in docs]


@router.post("/join", response_model=CourseOut, responses={**ERRORS, 429: {"model": ErrorOut}})
async def join_course(body: JoinRequest, backend: BackendDep, user: CurrentUser) -> CourseOut:
    """Become a student of the course whose join code this is (a member already: 200, role unchanged).

    A wrong or rotated code is 404; after ``JOIN_MAX_FAILURES`` wrong codes within 15 minutes, 429 with
    ``Retry-After`` until the window passes, even for a right code."""
    keys = [RateLimiter.key("join-failures", str(user["_id"]))]
    window = {"limit": backend.settings.join_max_failures, "window_seconds": JOIN_WINDOW_SECONDS}
    decision = await backend.limiter.check(keys, **window)
    if not decision.allowed:
        backend.metrics.rate_limited.labels("join").inc()
        raise too_many_requests("too many wrong join codes; try again later", decision.retry_after)
    course = await backend.storage.course_by_join_code(body.join_code)
    if course is None:
        await backend.limiter.record(keys, **window)  # only a wrong code counts
        raise not_found("course for this join code")
    if course.get("archived"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="closed")
    course_id, user_id = str(course["_id"]), str(user["_id"])
    if user["role"] == "admin":  # an admin is everywhere already; joining would not add anything
        return course_out(course, "admin")
    try:
        await backend.storage.add_member(course_id, user_id, "student")
        log.info("joined course", extra={"course_id": course_id, "user_id": user_id})
        role = "student"
    except DuplicateMemberError:
        membership = await backend.storage.membership(course_id, user_id)
        role = membership["role"] if membership else "student"
    return course_out(course, role)


@router.get("/{course_id}", response_model=CourseOut, responses=ERRORS)
async def get_course(access: Members) -> CourseOut:
    """The join code is shown to the course's staff only."""
    return course_out(access.course, access.role)


@router.patch("/{course_id}", response_model=CourseOut, responses=ERRORS)
async def update_course(body: CourseUpdate, backend: BackendDep, access: InstructorOfCourse) -> CourseOut:
    """Change code, title or term; ``archived: true`` makes the course read-only (``false`` reopens it)."""
    changes = {name: value for name, value in body.model_dump(exclude_unset=True).items() if value is not None}
    if access.course.get("archived") and changes != {"archived": False} and changes:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="closed")
    doc = await backend.storage.update_course(str(access.course["_id"]), changes) if changes else access.course
    if doc is None:
        raise not_found("course")
    log.info("course updated", extra={"course_id": str(doc["_id"]), "fields": ",".join(sorted(changes))})
    return course_out(doc, access.role)


@router.post("/{course_id}/join-code", response_model=CourseOut, responses=ERRORS)
async def rotate_join_code(backend: BackendDep, access: InstructorWrites) -> CourseOut:
    """A new random join code; the previous one stops working at once."""
    doc = await backend.storage.rotate_join_code(str(access.course["_id"]))
    if doc is None:
        raise not_found("course")
    log.info("join code rotated", extra={"course_id": str(doc["_id"]), "by": access.user_id})
    return course_out(doc, access.role)


# --- members -------------------------------------------------------------------------------------------------


@router.get("/{course_id}/members", response_model=list[MemberOut], responses=ERRORS)
async def list_members(backend: BackendDep, access: StaffOfCourse) -> list[MemberOut]:
    """Every member with role, ordered by email (course staff)."""
    return [member_out(doc) for doc in await backend.storage.list_members(str(access.course["_id"]))]


@router.post("/{course_id}/members", status_code=status.HTTP_201_CREATED, response_model=MemberOut, responses=ERRORS)
async def add_member(body: MemberCreate, backend: BackendDep, access: InstructorWrites) -> MemberOut:
    """Add an existing user by email (404 without such an account, 409 when already a member)."""
    user = await backend.storage.user_by_email(body.email)
    if user is None:
        raise not_found("user with this email")
    course_id = str(access.course["_id"])
    try:
        doc = await backend.storage.add_member(course_id, str(user["_id"]), body.role)
    except DuplicateMemberError:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="already a member of this course") from None
    log.info("member added", extra={"course_id": course_id, "user_id": str(user["_id"]), "role": body.role})
    return member_out({**doc, "email": user["email"], "name": user["name"]})


@router.delete("/{course_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
async def remove_member(user_id: str, backend: BackendDep, access: InstructorWrites) -> Response:
    """Remove a member (their submissions stay); 409 for the course's last instructor."""
    course_id = str(access.course["_id"])
    try:
        removed = await backend.storage.remove_member(course_id, user_id)
    except LastInstructorError:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="a course keeps at least one instructor") from None
    if not removed:
        raise not_found("member")
    log.info("member removed", extra={"course_id": course_id, "user_id": user_id, "by": access.user_id})
    return Response(status_code=status.HTTP_204_NO_CONTENT)


_EMAIL = TypeAdapter(EmailStr)


class RosterError(ValueError):
    """A line of the roster that cannot be read; the whole file is refused."""


def parse_roster(text: str) -> list[tuple[str, str]]:
    """``email,role`` per line (role optional: student; a first line ``email,role`` is a header).
    Raises RosterError naming every bad line."""
    rows, problems = [], []
    try:
        lines = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:  # e.g. a bare carriage return inside a field: not a CSV file at all
        raise RosterError(f"not a CSV file: {exc}") from None
    for number, cells in enumerate(lines, start=1):
        cells = [cell.strip() for cell in cells]
        if not any(cells):
            continue
        if number == 1 and [c.lower() for c in cells[:2]] in (["email", "role"], ["email"]):
            continue
        if len(cells) > 2:
            problems.append(f"line {number}: expected email,role")
            continue
        email, role = cells[0], (cells[1].lower() if len(cells) == 2 and cells[1] else "student")
        try:
            email = str(_EMAIL.validate_python(email)).lower()
        except ValidationError:
            problems.append(f"line {number}: not an email address")
            continue
        if role not in COURSE_ROLES:
            problems.append(f"line {number}: role must be instructor, ta or student")
            continue
        rows.append((email, role))
    if len(rows) > ROSTER_MAX_ROWS:
        problems.append(f"at most {ROSTER_MAX_ROWS} rows per upload")
    if problems:
        raise RosterError("; ".join(problems[:20]))
    return rows


@router.post(
    "/{course_id}/roster",
    response_model=RosterReport,
    responses={**ERRORS, 422: {"model": ErrorOut}},
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}},
)
async def upload_roster(request: Request, backend: BackendDep, access: InstructorWrites) -> RosterReport:
    """Add existing users from a CSV (``email,role`` per line). A malformed file is refused whole (422, the
    bad lines named); otherwise the report lists added, already present (role unchanged) and unknown emails."""
    raw = await request.body()
    try:
        rows = parse_roster(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail="the roster must be UTF-8 text") from None
    except RosterError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    storage, course_id = backend.storage, str(access.course["_id"])
    roles = dict(rows)  # a repeated email: its last line wins
    users = {email: await storage.user_by_email(email) for email in roles}
    unknown = sorted(email for email, user in users.items() if user is None)
    by_id = {str(user["_id"]): email for email, user in users.items() if user is not None}
    added, present = await storage.add_members(course_id, [(uid, roles[email]) for uid, email in by_id.items()])
    log.info("roster uploaded", extra={"course_id": course_id, "added": len(added), "unknown": len(unknown)})
    return RosterReport(
        added=sorted(by_id[uid] for uid in added),
        already_present=sorted(by_id[uid] for uid in present),
        unknown=unknown,
    )


# --- assignments and gradebook -------------------------------------------------------------------------------


@router.post(
    "/{course_id}/assignments",
    status_code=status.HTTP_201_CREATED,
    response_model=AssignmentOut,
    responses={**ERRORS, 422: {"model": ErrorOut}},
)
async def create_assignment(body: AssignmentCreate, backend: BackendDep, access: InstructorWrites) -> AssignmentOut:
    """A new assignment of this course (course instructors); ``max_score`` is the sum of the rubric's points."""
    return await create_in_course(backend, access, body)


@router.get("/{course_id}/assignments", response_model=AssignmentPage, responses=ERRORS)
async def list_course_assignments(backend: BackendDep, access: Members, page: PageDep) -> AssignmentPage:
    """Newest first; students see the published ones only, each with their own deadlines and attempts."""
    course_id = str(access.course["_id"])
    staff = [course_id] if access.is_staff else []
    docs = await backend.storage.list_assignments(
        staff_course_ids=staff, student_course_ids=[course_id], limit=page.limit, before_id=page.before_id
    )
    return AssignmentPage(
        items=await assignment_page(backend, access.user, docs, set(staff)), next_cursor=next_cursor(docs, page.limit)
    )


@router.get(
    "/{course_id}/grades.csv",
    response_class=Response,
    responses={**ERRORS, 200: {"content": {"text/csv": {}}, "description": "one row per student"}},
)
async def course_grades_csv(backend: BackendDep, access: StaffOfCourse) -> Response:
    """One row per student, one column per assignment: the counted submission's final score (penalty applied);
    empty where the student has no scored submission."""
    storage, course_id = backend.storage, str(access.course["_id"])
    assignments = await storage.assignments_of_course(course_id)
    submissions = await storage.scored_submissions_of_course(course_id)
    by_assignment: dict[str, list[dict[str, Any]]] = {}
    for doc in submissions:
        by_assignment.setdefault(doc["assignment_id"], []).append(doc)
    scores = {
        str(a["_id"]): counted_scores(by_assignment.get(str(a["_id"]), []), a.get("counted", "last"))
        for a in assignments
    }
    students = [m for m in await storage.list_members(course_id) if m["role"] == "student"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    titles = [safe_cell(f"{a['title']} ({safe_cell(float(a['max_score']))})") for a in assignments]
    writer.writerow(["student_email", "student_name", "user_id", *titles])
    for member in students:
        cells = [scores[str(a["_id"])].get(member["user_id"]) for a in assignments]
        writer.writerow(
            [safe_cell(member["email"]), safe_cell(member["name"]), member["user_id"], *map(safe_cell, cells)]
        )
    return csv_response(out.getvalue(), f"grades-course-{course_id}.csv")
