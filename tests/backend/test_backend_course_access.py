"""The authorization matrix, generated from the app's route table: every route x seven actors x {an object of
the actor's course ("own"), an object of the other course ("other")}.

Two courses: A (instructor, TA, student) and B (other_instructor, other_student). "own" targets course A's
objects (its published assignment, the student's finished submission), "other" course B's. Every route of
the app must have a rule in RULES: a new route without one fails ``test_every_route_has_a_rule``.
"""

import itertools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from backend_api import ADMIN_EMAIL, ADMIN_PASSWORD, MASTER_TOKEN, Actor, assignment_body, login, serve

from cloudemy_backend.core.config import Settings
from cloudemy_backend.main import create_app
from cloudemy_backend.web.docs import ASSETS

DOCS_ASSET = sorted(ASSETS)[0]
ACTORS = ("admin", "instructor", "other_instructor", "ta", "student", "other_student", "anonymous")
SIDES = ("own", "other")
# Where each actor is a member: course A ("own") or B ("other"), and with which role.
MEMBERSHIP = {
    "instructor": ("own", "instructor"),
    "ta": ("own", "ta"),
    "student": ("own", "student"),
    "other_instructor": ("other", "instructor"),
    "other_student": ("other", "student"),
}
MEMBERS = frozenset({"instructor", "ta", "student"})
STAFF = frozenset({"instructor", "ta"})
INSTRUCTORS = frozenset({"instructor"})


@dataclass
class Side:
    """The objects of one course."""

    course: str
    join_code: str
    pub: str
    draft: str
    submission: str
    student: str  # the course's student's user id


@dataclass
class World:
    client: httpx.AsyncClient
    actors: dict[str, Actor]
    sides: dict[str, Side]

    async def new_user(self) -> tuple[str, str]:
        """A fresh account (email, id), made by the admin."""
        email = f"u-{uuid.uuid4().hex[:10]}@example.com"
        body = {"email": email, "password": "fresh-pass-1", "name": "Fresh", "role": "student"}
        made = await self.client.post("/api/users", json=body, headers=self.actors["admin"].headers)
        assert made.status_code == 201, made.text
        return email, made.json()["id"]

    async def finished_submission(self, side: Side) -> str:
        """A new submission by the side's student, ended as needs_review."""
        student = "student" if side is self.sides["own"] else "other_student"
        made = await self.client.post(
            f"/api/assignments/{side.pub}/submissions",
            json={"language": "python", "code": "print(1)"},
            headers=self.actors[student].headers,
        )
        assert made.status_code == 202, made.text
        sid = made.json()["id"]
        posted = await self.client.post(
            f"/internal/submissions/{sid}/result",
            json={"status": "needs_review", "feedback": "no LLM configured"},
            headers={"X-Result-Token": MASTER_TOKEN},
        )
        assert posted.status_code == 200, posted.text
        return sid


Request = tuple[dict[str, str], dict[str, Any]]  # path parameters, httpx keyword arguments
Prepare = Callable[[World, Side], Awaitable[Request]]


@dataclass(frozen=True)
class Rule:
    """How a route decides: ``scope`` is course/assignment/submission (course roles ``roles`` allowed), or
    public, internal, authenticated, creator (global instructor or admin), admin, owner (the submission's
    student only)."""

    scope: str
    ok: int
    roles: frozenset[str] = frozenset()
    prepare: Prepare | None = None
    lists: str | None = None  # list routes: the item field naming the course (checked for leaks)
    page: bool = False  # browser-facing (LTI launches): refusals are an HTML page, not JSON


async def nothing(world: World, side: Side) -> Request:
    return {}, {}


def params(**names: str) -> Prepare:
    """Path parameters taken from the side's attributes; optional JSON body."""

    async def prepare(world: World, side: Side) -> Request:
        return {key: getattr(side, attr) for key, attr in names.items()}, {}

    return prepare


def with_body(base: Prepare, body: dict[str, Any]) -> Prepare:
    async def prepare(world: World, side: Side) -> Request:
        path, _ = await base(world, side)
        return path, {"json": body}

    return prepare


async def fresh_member_target(world: World, side: Side) -> Request:
    email, uid = await world.new_user()
    added = await world.client.post(
        f"/api/courses/{side.course}/members", json={"email": email}, headers=world.actors["admin"].headers
    )
    assert added.status_code == 201, added.text
    return {"course_id": side.course, "user_id": uid}, {}


async def fresh_member_body(world: World, side: Side) -> Request:
    email, _ = await world.new_user()
    return {"course_id": side.course}, {"json": {"email": email, "role": "student"}}


async def roster(world: World, side: Side) -> Request:
    email, _ = await world.new_user()
    csv = f"email,role\n{email},student\nnobody-{uuid.uuid4().hex[:6]}@example.com,ta\n"
    return {"course_id": side.course}, {"content": csv, "headers": {"Content-Type": "text/csv"}}


async def extension_target(world: World, side: Side) -> Request:
    body = {"due_at": "2030-01-01T00:00:00Z", "extra_submissions": 1}
    return {"assignment_id": side.pub, "user_id": side.student}, {"json": body}


async def existing_extension(world: World, side: Side) -> Request:
    path, kwargs = await extension_target(world, side)
    put = await world.client.put(
        f"/api/assignments/{side.pub}/extensions/{side.student}", headers=world.actors["admin"].headers, **kwargs
    )
    assert put.status_code == 200, put.text
    return path, {}


async def fresh_finished(world: World, side: Side) -> Request:
    return {"submission_id": await world.finished_submission(side)}, {}


async def grade_fresh(world: World, side: Side) -> Request:
    return {"submission_id": await world.finished_submission(side)}, {"json": {"score": 5, "feedback": "ok"}}


async def join(world: World, side: Side) -> Request:
    return {}, {"json": {"join_code": side.join_code}}


async def register(world: World, side: Side) -> Request:
    body = {"email": f"r-{uuid.uuid4().hex[:10]}@example.com", "password": "register-1", "name": "R"}
    return {}, {"json": body}


async def new_user_body(world: World, side: Side) -> Request:
    body = {"email": f"n-{uuid.uuid4().hex[:10]}@example.com", "password": "made-pass-1", "name": "N"}
    return {}, {"json": body}


async def token_form(world: World, side: Side) -> Request:
    return {}, {"data": {"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}}


async def internal(world: World, side: Side) -> Request:
    return {"submission_id": side.submission}, {"json": {"status": "running"}}


async def lti_platform_body(world: World, side: Side) -> Request:
    unique = uuid.uuid4().hex[:8]
    return {}, {
        "json": {
            "issuer": f"https://lms-{unique}.example",
            "client_id": "tool",
            "auth_login_url": "https://lms.example/auth",
            "auth_token_url": "https://lms.example/token",
            "key_set_url": "https://lms.example/jwks",
            "deployment_ids": ["d1"],
        }
    }


async def lti_platform(world: World, side: Side) -> Request:
    _, kwargs = await lti_platform_body(world, side)
    made = await world.client.post("/api/lti/platforms", headers=world.actors["admin"].headers, **kwargs)
    assert made.status_code == 201, made.text
    return {"platform_id": made.json()["id"]}, {"json": {"name": "renamed"}}


async def lti_deep_link(world: World, side: Side) -> Request:
    # A deep-linking request that does not exist: staff pass the rule and then learn it has expired (404).
    return {}, {"json": {"deep_link_id": "0" * 24, "assignment_id": side.pub}}


async def lti_code(world: World, side: Side) -> Request:
    return {}, {"json": {"code": "not-a-real-sign-in-code"}}


async def own_finished(world: World, side: Side) -> Request:
    """A finished submission of the side's student; its owner asks (others: 404 or 403 by the rule)."""
    return {"submission_id": await world.finished_submission(side)}, {"json": {"message": "please look again"}}


async def open_request(world: World, side: Side) -> Request:
    student = "student" if side is world.sides["own"] else "other_student"
    sid = await world.finished_submission(side)
    made = await world.client.post(
        f"/api/submissions/{sid}/regrade-requests", json={"message": "again?"}, headers=world.actors[student].headers
    )
    assert made.status_code == 201, made.text
    return {"request_id": made.json()["id"]}, {"json": {"response": "Looked again: the grade stands."}}


COURSE = params(course_id="course")
ASSIGNMENT = params(assignment_id="pub")
SUBMISSION = params(submission_id="submission")

RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/healthz"): Rule("public", 200),
    ("GET", "/readyz"): Rule("public", 200),
    ("GET", "/metrics"): Rule("public", 200),
    ("GET", "/openapi.json"): Rule("public", 200),
    ("GET", "/docs"): Rule("public", 200),
    ("GET", "/docs/assets/{name}"): Rule("public", 200, prepare=params()),
    ("GET", "/redoc"): Rule("public", 200),
    ("GET", "/"): Rule("public", 200),
    ("GET", "/ui/{path}"): Rule("public", 200, prepare=params()),
    ("POST", "/api/auth/register"): Rule("public", 201, prepare=register),
    ("POST", "/api/auth/token"): Rule("public", 200, prepare=token_form),
    ("GET", "/api/users/me"): Rule("authenticated", 200),
    ("POST", "/api/users"): Rule("admin", 201, prepare=new_user_body),
    ("POST", "/api/courses"): Rule("creator", 201, prepare=with_body(nothing, {"code": "NEW", "title": "New"})),
    ("GET", "/api/courses"): Rule("authenticated", 200, lists="id"),
    ("POST", "/api/courses/join"): Rule("authenticated", 200, prepare=join),
    ("GET", "/api/courses/{course_id}"): Rule("course", 200, MEMBERS, COURSE),
    ("PATCH", "/api/courses/{course_id}"): Rule("course", 200, INSTRUCTORS, with_body(COURSE, {"title": "Renamed"})),
    ("POST", "/api/courses/{course_id}/join-code"): Rule("course", 200, INSTRUCTORS, COURSE),
    ("GET", "/api/courses/{course_id}/members"): Rule("course", 200, STAFF, COURSE),
    ("POST", "/api/courses/{course_id}/members"): Rule("course", 201, INSTRUCTORS, fresh_member_body),
    ("DELETE", "/api/courses/{course_id}/members/{user_id}"): Rule("course", 204, INSTRUCTORS, fresh_member_target),
    ("POST", "/api/courses/{course_id}/roster"): Rule("course", 200, INSTRUCTORS, roster),
    ("POST", "/api/courses/{course_id}/assignments"): Rule(
        "course", 201, INSTRUCTORS, with_body(COURSE, assignment_body())
    ),
    ("GET", "/api/courses/{course_id}/assignments"): Rule("course", 200, MEMBERS, COURSE),
    ("GET", "/api/courses/{course_id}/grades.csv"): Rule("course", 200, STAFF, COURSE),
    ("GET", "/api/assignments"): Rule("authenticated", 200, lists="course_id"),
    ("GET", "/api/assignments/{assignment_id}"): Rule("assignment", 200, MEMBERS, ASSIGNMENT),
    ("PATCH", "/api/assignments/{assignment_id}"): Rule(
        "assignment", 200, INSTRUCTORS, with_body(ASSIGNMENT, {"description": "updated"})
    ),
    ("POST", "/api/assignments/{assignment_id}/submissions"): Rule(
        "assignment", 202, MEMBERS, with_body(ASSIGNMENT, {"language": "python", "code": "print(2)"})
    ),
    ("POST", "/api/assignments/{assignment_id}/test-run"): Rule(
        "assignment", 202, STAFF, with_body(ASSIGNMENT, {"language": "python", "code": "print(0)"})
    ),
    ("GET", "/api/assignments/{assignment_id}/extensions"): Rule("assignment", 200, STAFF, ASSIGNMENT),
    ("PUT", "/api/assignments/{assignment_id}/extensions/{user_id}"): Rule("assignment", 200, STAFF, extension_target),
    ("DELETE", "/api/assignments/{assignment_id}/extensions/{user_id}"): Rule(
        "assignment", 204, STAFF, existing_extension
    ),
    ("GET", "/api/assignments/{assignment_id}/grades"): Rule("assignment", 200, STAFF, ASSIGNMENT),
    ("GET", "/api/assignments/{assignment_id}/grades.csv"): Rule("assignment", 200, STAFF, ASSIGNMENT),
    ("GET", "/api/submissions"): Rule("authenticated", 200, lists="course_id"),
    ("GET", "/api/submissions/{submission_id}"): Rule("submission", 200, MEMBERS, SUBMISSION),
    ("GET", "/api/submissions/{submission_id}/status"): Rule("submission", 200, MEMBERS, SUBMISSION),
    ("POST", "/api/submissions/{submission_id}/regrade"): Rule("submission", 202, STAFF, fresh_finished),
    ("POST", "/api/submissions/{submission_id}/grade"): Rule("submission", 200, STAFF, grade_fresh),
    # Review and release
    ("POST", "/api/assignments/{assignment_id}/release"): Rule("assignment", 200, STAFF, ASSIGNMENT),
    ("POST", "/api/assignments/{assignment_id}/regrade"): Rule("assignment", 202, STAFF, ASSIGNMENT),
    ("GET", "/api/assignments/{assignment_id}/regrade"): Rule("assignment", 200, STAFF, ASSIGNMENT),
    ("GET", "/api/assignments/{assignment_id}/agreement"): Rule("assignment", 200, STAFF, ASSIGNMENT),
    ("POST", "/api/submissions/{submission_id}/regrade-requests"): Rule("owner", 201, prepare=own_finished),
    ("GET", "/api/courses/{course_id}/regrade-requests"): Rule("course", 200, STAFF, COURSE),
    ("POST", "/api/regrade-requests/{request_id}/resolve"): Rule("course", 200, STAFF, open_request),
    # Bearer tokens are not result tokens: the internal API refuses users of every role.
    ("POST", "/internal/submissions/{submission_id}/status"): Rule("internal", 401, prepare=internal),
    ("POST", "/internal/submissions/{submission_id}/result"): Rule("internal", 401, prepare=internal),
    # LTI: the LMS-facing endpoints refuse a launch without its parameters with a page (400); the tool's keys
    # are public; platform registrations are the admins'; roster sync and score status are course staff's.
    ("GET", "/lti/login"): Rule("public", 400, page=True),
    ("POST", "/lti/login"): Rule("public", 400, page=True),
    ("POST", "/lti/launch"): Rule("public", 400, page=True),
    ("GET", "/lti/jwks"): Rule("public", 200),
    ("POST", "/lti/deep-link"): Rule("assignment", 404, INSTRUCTORS, lti_deep_link),
    ("POST", "/api/auth/lti-token"): Rule("public", 401, prepare=lti_code),
    ("POST", "/api/lti/platforms"): Rule("admin", 201, prepare=lti_platform_body),
    ("GET", "/api/lti/platforms"): Rule("admin", 200),
    ("PATCH", "/api/lti/platforms/{platform_id}"): Rule("admin", 200, prepare=lti_platform),
    ("DELETE", "/api/lti/platforms/{platform_id}"): Rule("admin", 204, prepare=lti_platform),
    ("POST", "/api/courses/{course_id}/lti/roster-sync"): Rule("course", 409, STAFF, COURSE),
    ("GET", "/api/submissions/{submission_id}/lti-sync"): Rule("submission", 200, STAFF, SUBMISSION),
    ("POST", "/internal/submissions/{submission_id}/requeue"): Rule("internal", 401, prepare=internal),
}


def expected_status(rule: Rule, actor: str, side: str) -> int:
    """What the rule means for one actor and one object; the single statement of the access policy."""
    if rule.scope in {"public", "internal"}:
        return rule.ok
    if actor == "anonymous":
        return 401
    if rule.scope == "owner":  # the submission's student only: to everyone else, admins and staff too, it is 404
        return rule.ok if actor == ("student" if side == "own" else "other_student") else 404
    if rule.scope == "authenticated" or actor == "admin":
        return rule.ok
    if rule.scope == "admin":
        return 403
    if rule.scope == "creator":
        return rule.ok if actor in {"instructor", "other_instructor"} else 403
    member_side, role = MEMBERSHIP[actor]
    if member_side != side:
        return 404
    return rule.ok if role in rule.roles else 403


def app_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves, its included routers' too (HEAD left out)."""
    found: set[tuple[str, str]] = set()
    pending = list(app.routes)
    while pending:
        route = pending.pop()
        if hasattr(route, "original_router"):
            pending.extend(route.original_router.routes)
            continue
        if hasattr(route, "routes") and not hasattr(route, "methods"):
            pending.extend(route.routes)
            continue
        path = route.path.replace("{path:path}", "{path}")
        found |= {(method, path) for method in getattr(route, "methods", None) or () if method != "HEAD"}
    return found


def test_every_route_has_a_rule(settings: Settings) -> None:
    routes = app_routes(create_app(settings))
    assert routes - RULES.keys() == set(), "routes without an access rule in RULES"
    assert RULES.keys() - routes == set(), "rules for routes that no longer exist"


async def build_world(client: httpx.AsyncClient) -> World:
    admin = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    actors = {"anonymous": Actor("anonymous"), "admin": Actor("admin", admin)}
    for name in ("instructor", "other_instructor", "ta", "student", "other_student"):
        email, password = f"{name}@example.com", f"{name}-pass-1"
        role = "instructor" if name.endswith("instructor") else "student"
        body = {"email": email, "password": password, "name": name, "role": role}
        made = await client.post("/api/users", json=body, headers=admin)
        assert made.status_code == 201, made.text
        actors[name] = Actor(name, await login(client, email, password), made.json()["id"])
    world = World(client, actors, {})
    for side, teacher, student in (("own", "instructor", "student"), ("other", "other_instructor", "other_student")):
        staff = actors[teacher].headers
        course = (await client.post("/api/courses", json={"code": side, "title": side}, headers=staff)).json()
        joined = await client.post(
            "/api/courses/join", json={"join_code": course["join_code"]}, headers=actors[student].headers
        )
        assert joined.status_code == 200, joined.text
        if side == "own":
            added = await client.post(
                f"/api/courses/{course['id']}/members", json={"email": "ta@example.com", "role": "ta"}, headers=staff
            )
            assert added.status_code == 201, added.text
        new = f"/api/courses/{course['id']}/assignments"
        pub = (await client.post(new, json=assignment_body(), headers=staff)).json()["id"]
        draft = (await client.post(new, json=assignment_body(published=False), headers=staff)).json()["id"]
        world.sides[side] = Side(course["id"], course["join_code"], pub, draft, "", actors[student].user_id or "")
        world.sides[side].submission = await world.finished_submission(world.sides[side])
    return world


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """No submission rate limit: the matrix makes many submissions per student within a minute."""
    return make_settings(submission_rate_per_minute=0)


@pytest.fixture
async def world(client: httpx.AsyncClient) -> World:
    return await build_world(client)


ROUTES = sorted(RULES, key=lambda key: (key[1], key[0]))


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
async def test_access_matrix(world: World, method: str, path: str) -> None:
    rule = RULES[(method, path)]
    wrong = []
    for actor, side in itertools.product(ACTORS, SIDES):
        names, kwargs = await (rule.prepare or nothing)(world, world.sides[side])
        url = path.format(**names) if names else path.replace("{path}", "css/app.css").replace("{name}", DOCS_ASSET)
        headers = {**world.actors[actor].headers, **kwargs.pop("headers", {})}
        response = await world.client.request(method, url, headers=headers, **kwargs)
        want = expected_status(rule, actor, side)
        if response.status_code != want:
            wrong.append(f"{actor}/{side}: {response.status_code} (want {want}) {response.text[:160]}")
        elif response.status_code >= 400 and rule.page:
            assert response.headers["content-type"].startswith("text/html")
        elif response.status_code >= 400:
            assert "detail" in response.json()
        elif rule.lists and actor != "admin":
            allowed = {world.sides[s].course for a, (s, _) in MEMBERSHIP.items() if a == actor}
            items = response.json() if isinstance(response.json(), list) else response.json()["items"]
            leaked = {item[rule.lists] for item in items} - allowed
            if leaked:
                wrong.append(f"{actor}: lists objects of a course they are not in")
    assert not wrong, "\n".join(wrong)


MATRIX_SIZE = len(RULES) * len(ACTORS) * len(SIDES)


async def test_students_see_neither_drafts_nor_other_students_work(world: World) -> None:
    client, own = world.client, world.sides["own"]
    student, ta = world.actors["student"], world.actors["ta"]
    assert (await client.get(f"/api/assignments/{own.draft}", headers=student.headers)).status_code == 404
    assert (await client.get(f"/api/assignments/{own.draft}", headers=ta.headers)).status_code == 200
    submit = {"language": "python", "code": "print(3)"}
    drafted = await client.post(f"/api/assignments/{own.draft}/submissions", json=submit, headers=student.headers)
    assert drafted.status_code == 404
    listed = (await client.get(f"/api/courses/{own.course}/assignments", headers=student.headers)).json()["items"]
    assert [a["id"] for a in listed] == [own.pub]
    # A second student of course A cannot read the first one's submission, nor list it.
    email, _ = await world.new_user()
    joined = await client.post(
        "/api/courses/join", json={"join_code": own.join_code}, headers=await login(client, email, "fresh-pass-1")
    )
    assert joined.status_code == 200
    classmate = await login(client, email, "fresh-pass-1")
    assert (await client.get(f"/api/submissions/{own.submission}", headers=classmate)).status_code == 404
    assert (await client.get("/api/submissions", headers=classmate)).json()["items"] == []
    by_filter = await client.get("/api/submissions", params={"user_id": own.student}, headers=classmate)
    assert by_filter.json()["items"] == []
    # The TA sees every submission of the course.
    assert (await client.get(f"/api/submissions/{own.submission}", headers=ta.headers)).status_code == 200


async def test_join_code_is_shown_to_staff_only(world: World) -> None:
    own = world.sides["own"]
    for actor, shown in (("instructor", True), ("ta", True), ("admin", True), ("student", False)):
        course = (await world.client.get(f"/api/courses/{own.course}", headers=world.actors[actor].headers)).json()
        assert (course["join_code"] == own.join_code) is shown, actor
    listed = (await world.client.get("/api/courses", headers=world.actors["student"].headers)).json()
    assert [(c["id"], c["join_code"], c["my_role"]) for c in listed] == [(own.course, None, "student")]


async def test_signup_disabled_still_lets_the_admin_create_accounts(make_settings: Any) -> None:
    async with serve(make_settings(allow_signup=False)) as client:
        body = {"email": "new@example.com", "password": "new-pass-12", "name": "New"}
        refused = await client.post("/api/auth/register", json=body)
        assert refused.status_code == 403
        admin = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        made = await client.post("/api/users", json=body, headers=admin)
        assert made.status_code == 201
        assert made.json()["role"] == "student"
