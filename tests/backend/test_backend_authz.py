"""Authorization matrix: every endpoint against anonymous, student, another student, instructor and admin."""

from typing import Any

import httpx
import pytest
from backend_api import ADMIN_EMAIL, ADMIN_PASSWORD, Actor, assignment_body, login, serve

ROLES = ("anonymous", "student", "other_student", "instructor", "admin")


def expect(anonymous: int, student: int, other: int, instructor: int, admin: int) -> dict[str, int]:
    return dict(zip(ROLES, (anonymous, student, other, instructor, admin), strict=True))


# (name, method, path template, body factory, expected status per role). The student owns {sub};
# {draft} is an unpublished assignment, {pub} a published one. Bodies are valid, so only authority differs.
MATRIX: list[tuple[str, str, str, Any, dict[str, int]]] = [
    ("me", "GET", "/api/users/me", None, expect(401, 200, 200, 200, 200)),
    ("create user", "POST", "/api/users", "new_user", expect(401, 403, 403, 403, 201)),
    ("create assignment", "POST", "/api/assignments", "assignment", expect(401, 403, 403, 201, 201)),
    ("list assignments", "GET", "/api/assignments", None, expect(401, 200, 200, 200, 200)),
    ("get published", "GET", "/api/assignments/{pub}", None, expect(401, 200, 200, 200, 200)),
    ("get draft", "GET", "/api/assignments/{draft}", None, expect(401, 404, 404, 200, 200)),
    ("patch assignment", "PATCH", "/api/assignments/{pub}", "patch", expect(401, 403, 403, 200, 200)),
    ("submit to published", "POST", "/api/assignments/{pub}/submissions", "code", expect(401, 202, 202, 202, 202)),
    ("submit to draft", "POST", "/api/assignments/{draft}/submissions", "code", expect(401, 404, 404, 202, 202)),
    ("list submissions", "GET", "/api/submissions", None, expect(401, 200, 200, 200, 200)),
    ("get submission", "GET", "/api/submissions/{sub}", None, expect(401, 200, 404, 200, 200)),
    ("regrade", "POST", "/api/submissions/{sub}/regrade", None, expect(401, 403, 403, 202, 202)),
    ("grade", "POST", "/api/submissions/{sub}/grade", "grade", expect(401, 403, 403, 200, 200)),
    ("internal status", "POST", "/internal/submissions/{sub}/status", "status", expect(401, 401, 401, 401, 401)),
    ("internal result", "POST", "/internal/submissions/{sub}/result", "result", expect(401, 401, 401, 401, 401)),
    ("healthz", "GET", "/healthz", None, expect(200, 200, 200, 200, 200)),
    ("readyz", "GET", "/readyz", None, expect(200, 200, 200, 200, 200)),
    ("metrics", "GET", "/metrics", None, expect(200, 200, 200, 200, 200)),
]

BODIES: dict[str, Any] = {
    "new_user": {"email": "made@example.com", "password": "made-pass-1", "name": "Made", "role": "student"},
    "assignment": assignment_body(),
    "patch": {"description": "updated"},
    "code": {"language": "python", "code": "print(1)"},
    "grade": {"score": 5, "feedback": "ok"},
    "status": {"status": "running"},
    "result": {"status": "graded", "score": 1, "max_score": 10},
}


@pytest.fixture
async def world(client: httpx.AsyncClient, actors: dict[str, Actor]) -> dict[str, str]:
    """One published and one draft assignment, and a finished (needs_review) submission by the student."""
    staff = actors["instructor"].headers
    pub = (await client.post("/api/assignments", json=assignment_body(), headers=staff)).json()["id"]
    draft = (await client.post("/api/assignments", json=assignment_body(published=False), headers=staff)).json()["id"]
    sub = (
        await client.post(f"/api/assignments/{pub}/submissions", json=BODIES["code"], headers=actors["student"].headers)
    ).json()["id"]
    await client.post(
        f"/internal/submissions/{sub}/result",
        json={"status": "needs_review", "feedback": "no LLM configured"},
        headers={"X-Result-Token": "master-result-token-for-tests-0123456789"},
    )
    return {"pub": pub, "draft": draft, "sub": sub}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "method", "path", "body", "expected"), MATRIX, ids=[row[0] for row in MATRIX])
async def test_authorization_matrix(
    client: httpx.AsyncClient,
    actors: dict[str, Actor],
    world: dict[str, str],
    role: str,
    name: str,
    method: str,
    path: str,
    body: str | None,
    expected: dict[str, int],
) -> None:
    # Bearer tokens are not result tokens: the internal API refuses users of every role.
    response = await client.request(
        method, path.format(**world), json=BODIES[body] if body else None, headers=actors[role].headers
    )
    assert response.status_code == expected[role], response.text
    if response.status_code >= 400:
        assert "detail" in response.json()


async def test_student_cannot_see_another_students_submission_in_lists(
    client: httpx.AsyncClient, actors: dict[str, Actor], world: dict[str, str]
) -> None:
    listed = await client.get("/api/submissions", headers=actors["other_student"].headers)
    assert listed.json()["items"] == []
    by_filter = await client.get(
        "/api/submissions", params={"user_id": actors["student"].user_id}, headers=actors["other_student"].headers
    )
    assert by_filter.json()["items"] == []


async def test_signup_disabled_still_lets_the_admin_create_accounts(make_settings: Any) -> None:
    async with serve(make_settings(allow_signup=False)) as client:
        body = {"email": "new@example.com", "password": "new-pass-12", "name": "New"}
        refused = await client.post("/api/auth/register", json=body)
        assert refused.status_code == 403
        admin = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        made = await client.post("/api/users", json=body, headers=admin)
        assert made.status_code == 201
        assert made.json()["role"] == "student"
