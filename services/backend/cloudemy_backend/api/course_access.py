"""Authorization by course: the one place that answers "what is this user's role in this object's course".

Every route about one course, assignment or submission declares its rule as a dependency::

    @router.patch("/api/assignments/{assignment_id}")
    async def update(access: Annotated[CourseAccess, require_course_role("assignment", INSTRUCTORS, write=True)]):
        access.assignment, access.course, access.role, access.user ...

``require_course_role(kind, roles, write=...)`` loads the object named by the path parameter
(``course_id``, ``assignment_id`` or ``submission_id``; kind ``submission-state`` loads only a submission's
status fields, for polls), finds its course and the caller's role in it, and answers, in this order:

- 401 without a valid bearer token;
- 404 when the object does not exist, when the caller is not a member of its course (never 403, which would
  tell a stranger the course exists), when a student asks for an unpublished assignment or for another
  user's submission: to them these do not exist either;
- 403 when the caller is a member whose role the rule does not allow (a TA editing an assignment);
- 403 ``closed`` for a write (``write=True``) to an archived course.

Roles: ``instructor`` may do everything in the course; ``ta`` reads every submission, grades, regrades and
grants extensions, but edits neither assignments nor members; ``student`` sees the published assignments
and their own submissions. A global ``admin`` passes every rule with the role ``admin``; the global role
``instructor`` only allows creating courses.

For an object that is not in the path (a list filter, a body field), ``course_role(storage, user,
course_id)`` answers the same question and ``visible_courses(storage, user)`` lists where a user is what.
"""

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Depends, HTTPException, status

from cloudemy_backend.api.deps import BackendDep, CurrentUser, not_found
from cloudemy_backend.storage import Document, Storage

Role = Literal["instructor", "ta", "student", "admin"]
ObjectKind = Literal["course", "assignment", "submission", "submission-state"]

MEMBERS: frozenset[str] = frozenset({"instructor", "ta", "student"})
STAFF: frozenset[str] = frozenset({"instructor", "ta"})
INSTRUCTORS: frozenset[str] = frozenset({"instructor"})
ADMIN = "admin"


@dataclass
class CourseAccess:
    """What a rule let through: the caller, their role in the course, the course and the object asked for."""

    user: Document
    role: Role
    course: Document
    assignment: Document | None = None
    submission: Document | None = None

    @property
    def is_staff(self) -> bool:
        """Course staff (instructor, TA) or an admin: sees every submission and draft of the course."""
        return self.role in STAFF or self.role == ADMIN

    @property
    def user_id(self) -> str:
        return str(self.user["_id"])


async def course_role(storage: Storage, user: Document, course_id: str) -> Role | None:
    """The user's role in the course: ``admin`` for a global admin (whatever their membership), their
    membership's role, or None for a stranger."""
    if user["role"] == ADMIN:
        return ADMIN
    membership = await storage.membership(course_id, str(user["_id"]))
    return membership["role"] if membership is not None else None


@dataclass
class VisibleCourses:
    """Where a user is what; ``everything`` for an admin (the id lists are then not used)."""

    everything: bool
    staff: list[str]
    student: list[str]
    roles: dict[str, Role]


async def visible_courses(storage: Storage, user: Document) -> VisibleCourses:
    roles: dict[str, Role] = {m["course_id"]: m["role"] for m in await storage.memberships_of_user(str(user["_id"]))}
    if user["role"] == ADMIN:
        roles = dict.fromkeys(roles, ADMIN)
    return VisibleCourses(
        everything=user["role"] == ADMIN,
        staff=[cid for cid, role in roles.items() if role in STAFF],
        student=[cid for cid, role in roles.items() if role == "student"],
        roles=roles,
    )


def closed() -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail="closed")


def forbidden(role: str, roles: Iterable[str]) -> HTTPException:
    allowed = " or ".join(sorted(roles))
    return HTTPException(status.HTTP_403_FORBIDDEN, detail=f"course {allowed}s only; you are {role}")


async def authorize(
    storage: Storage, user: Document, course: Document | None, roles: frozenset[str], *, write: bool, what: str
) -> tuple[Document, Role]:
    """The rule itself, for one course: 404 for strangers, 403 for a role not allowed or a closed course."""
    role = await course_role(storage, user, str(course["_id"])) if course is not None else None
    if course is None or role is None:
        raise not_found(what)
    if role != ADMIN and role not in roles:
        raise forbidden(role, roles)
    if write and course.get("archived"):
        raise closed()
    return course, role


AccessDependency = Callable[..., Awaitable[CourseAccess]]


def _own_or_allowed(access: CourseAccess, allowed: frozenset[str]) -> CourseAccess:
    """A member of the submission's course: a student sees only their own (another's is 404), then the rule's
    roles decide (403)."""
    assert access.submission is not None
    if access.role == "student" and access.submission["user_id"] != access.user_id:
        raise not_found("submission")
    if access.role != ADMIN and access.role not in allowed:
        raise forbidden(access.role, allowed)
    return access


def require_course_role(kind: ObjectKind, roles: Iterable[str], *, write: bool = False) -> Any:
    """A dependency (use inside ``Annotated[CourseAccess, ...]``) enforcing ``roles`` on the path's object."""
    allowed = frozenset(roles)
    if not allowed <= MEMBERS:
        raise ValueError(f"unknown course roles: {sorted(allowed - MEMBERS)}")

    async def course_rule(backend: BackendDep, user: CurrentUser, course_id: str) -> CourseAccess:
        course = await backend.storage.course_by_id(course_id)
        course, role = await authorize(backend.storage, user, course, allowed, write=write, what="course")
        return CourseAccess(user=user, role=role, course=course)

    async def assignment_rule(backend: BackendDep, user: CurrentUser, assignment_id: str) -> CourseAccess:
        assignment = await backend.storage.assignment_by_id(assignment_id)
        course = await backend.storage.course_by_id(assignment["course_id"]) if assignment else None
        course, role = await authorize(backend.storage, user, course, allowed, write=write, what="assignment")
        assert assignment is not None  # authorize raised otherwise
        if role == "student" and not assignment["published"]:
            raise not_found("assignment")
        return CourseAccess(user=user, role=role, course=course, assignment=assignment)

    async def submission_rule(backend: BackendDep, user: CurrentUser, submission_id: str) -> CourseAccess:
        storage = backend.storage
        submission = await storage.submission_by_id(submission_id)
        assignment = await storage.assignment_by_id(submission["assignment_id"]) if submission else None
        course = await storage.course_by_id(assignment["course_id"]) if assignment else None
        course, role = await authorize(storage, user, course, MEMBERS, write=write, what="submission")
        assert submission is not None
        access = CourseAccess(user=user, role=role, course=course, assignment=assignment, submission=submission)
        return _own_or_allowed(access, allowed)

    async def submission_state_rule(backend: BackendDep, user: CurrentUser, submission_id: str) -> CourseAccess:
        state = await backend.storage.submission_state(submission_id)
        course = await backend.storage.course_by_id(state.get("course_id") or "") if state else None
        course, role = await authorize(backend.storage, user, course, MEMBERS, write=write, what="submission")
        assert state is not None
        return _own_or_allowed(CourseAccess(user=user, role=role, course=course, submission=state), allowed)

    rules: dict[str, AccessDependency] = {
        "course": course_rule,
        "assignment": assignment_rule,
        "submission": submission_rule,
        "submission-state": submission_state_rule,
    }
    dependency = rules[kind]
    dependency.course_rule = (kind, allowed, write)  # type: ignore[attr-defined]  # read by the route-table test
    return Depends(dependency)
