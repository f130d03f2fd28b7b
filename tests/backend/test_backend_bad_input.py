"""Bad input of every kind answers a 4xx JSON {"detail": ...}, never a 5xx, and stores nothing."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
import redis
from backend_api import JWT_SECRET, Actor, assignment_body

from cloudemy_common.keys import DEFAULT_QUEUE

UNKNOWN_ID = "0123456789abcdef01234567"
FORM = "application/x-www-form-urlencoded"
NEW_ASSIGNMENT = "/api/courses/{course}/assignments"
BAD_IDS = ["nope", "0123456789abcdef0123456z", "0123456789abcdef012345678", "%20", "' or 1=1 --"]


def raw(body: Any) -> bytes:
    return json.dumps(body).encode()


@pytest.fixture
async def ids(
    client: httpx.AsyncClient, actors: dict[str, Actor], course: dict, assignment: dict, submission: dict
) -> dict[str, str]:
    return {"course": course["id"], "pub": assignment["id"], "sub": submission["id"]}


# (name, method, path, raw body, content type, expected status). {pub}: a published assignment allowing
# python and javascript, of {course}; {sub}: the student's queued submission. Sent as the instructor unless noted.
TABLE: list[tuple[str, str, str, bytes | None, str, int]] = [
    ("malformed json register", "POST", "/api/auth/register", b'{"email": ', "application/json", 422),
    ("malformed json assignment", "POST", NEW_ASSIGNMENT, b"{title: 1}", "application/json", 422),
    ("malformed json submission", "POST", "/api/assignments/{pub}/submissions", b"\xff\xfe", "application/json", 422),
    ("empty body", "POST", NEW_ASSIGNMENT, b"", "application/json", 422),
    ("json array instead of object", "POST", NEW_ASSIGNMENT, b"[]", "application/json", 422),
    ("wrong type: email", "POST", "/api/auth/register", raw({"email": 5, "password": "p" * 9, "name": "x"}),
     "application/json", 422),
    ("invalid email", "POST", "/api/auth/register", raw({"email": "not-mail", "password": "p" * 9, "name": "x"}),
     "application/json", 422),
    ("short password", "POST", "/api/auth/register", raw({"email": "a@example.com", "password": "p", "name": "x"}),
     "application/json", 422),
    ("wrong type: languages", "POST", NEW_ASSIGNMENT, raw(assignment_body(languages="python")),
     "application/json", 422),
    ("wrong type: published", "POST", NEW_ASSIGNMENT, raw(assignment_body(published=[1])),
     "application/json", 422),
    ("unknown field", "POST", NEW_ASSIGNMENT, raw(assignment_body(owner_id=UNKNOWN_ID)), "application/json", 422),
    ("empty rubric", "POST", NEW_ASSIGNMENT, raw(assignment_body(rubric=[])), "application/json", 422),
    ("duplicate rubric ids", "POST", NEW_ASSIGNMENT,
     raw(assignment_body(rubric=[{"id": "a", "title": "A", "points": 1}, {"id": "a", "title": "B", "points": 1}])),
     "application/json", 422),
    ("negative points", "POST", NEW_ASSIGNMENT,
     raw(assignment_body(rubric=[{"id": "a", "title": "A", "points": -1}])), "application/json", 422),
    ("title too long", "POST", NEW_ASSIGNMENT, raw(assignment_body(title="t" * 201)), "application/json", 422),
    ("lone surrogate in title", "POST", NEW_ASSIGNMENT, b'{"title": "\\ud800", "languages": ["c"], '
     b'"rubric": [{"id": "a", "title": "A", "points": 1}]}', "application/json", 422),
    ("unknown language", "POST", "/api/assignments/{pub}/submissions", raw({"language": "cobol", "code": "x"}),
     "application/json", 422),
    ("language not allowed here", "POST", "/api/assignments/{pub}/submissions", raw({"language": "rust", "code": "x"}),
     "application/json", 422),
    ("unknown field in submission", "POST", "/api/assignments/{pub}/submissions",
     raw({"language": "python", "code": "x", "status": "graded"}), "application/json", 422),
    ("code as a number", "POST", "/api/assignments/{pub}/submissions", raw({"language": "python", "code": 1}),
     "application/json", 422),
    ("text/plain body", "POST", "/api/assignments/{pub}/submissions", raw({"language": "python", "code": "x"}),
     "text/plain", 422),
    ("grade with a string score", "POST", "/api/submissions/{sub}/grade", raw({"score": "ten"}), "application/json",
     422),
    ("patch with unknown field", "PATCH", "/api/assignments/{pub}", raw({"max_score": 99}), "application/json", 422),
    ("limit zero", "GET", "/api/submissions?limit=0", None, "", 422),
    ("limit too big", "GET", "/api/assignments?limit=1000", None, "", 422),
    ("cursor not an id", "GET", "/api/submissions?cursor=abc", None, "", 422),
    ("assignment_id filter not an id", "GET", "/api/submissions?assignment_id=zzz", None, "", 422),
    ("login without password", "POST", "/api/auth/token", b"username=a%40example.com", FORM, 422),
    ("login as json", "POST", "/api/auth/token", raw({"username": "a", "password": "b"}), "application/json", 422),
    ("login with bad grant type", "POST", "/api/auth/token", b"username=a&password=b&grant_type=client", FORM,
     422),
    ("unknown route", "GET", "/api/nothing-here", None, "", 404),
    ("wrong method", "DELETE", "/api/assignments", None, "", 405),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "method", "path", "body", "content_type", "expected"), TABLE, ids=[r[0] for r in TABLE]
)
async def test_bad_input_table(
    client: httpx.AsyncClient,
    actors: dict[str, Actor],
    ids: dict[str, str],
    redis_client: redis.Redis,
    name: str,
    method: str,
    path: str,
    body: bytes | None,
    content_type: str,
    expected: int,
) -> None:
    headers = dict(actors["instructor"].headers)
    if content_type:
        headers["Content-Type"] = content_type
    queue_before = redis_client.llen(DEFAULT_QUEUE)
    response = await client.request(method, path.format(**ids), content=body, headers=headers)
    assert response.status_code == expected, response.text
    assert "detail" in response.json()
    assert redis_client.llen(DEFAULT_QUEUE) == queue_before


@pytest.mark.parametrize("bad_id", [*BAD_IDS, UNKNOWN_ID, UNKNOWN_ID.upper()])
@pytest.mark.parametrize(
    ("method", "template", "body"),
    [
        ("GET", "/api/assignments/{}", None),
        ("PATCH", "/api/assignments/{}", {"title": "x"}),
        ("POST", "/api/assignments/{}/submissions", {"language": "python", "code": "x"}),
        ("GET", "/api/submissions/{}", None),
        ("POST", "/api/submissions/{}/regrade", None),
        ("POST", "/api/submissions/{}/grade", {"score": 1}),
    ],
)
async def test_invalid_and_unknown_ids_are_404(
    client: httpx.AsyncClient, actors: dict[str, Actor], method: str, template: str, body: Any, bad_id: str
) -> None:
    response = await client.request(method, template.format(bad_id), json=body, headers=actors["admin"].headers)
    assert response.status_code == 404, response.text
    assert response.json()["detail"].endswith("not found")


def forged(**claims: Any) -> str:
    now = datetime.now(UTC)
    base = {"sub": UNKNOWN_ID, "type": "access", "iat": now, "exp": now + timedelta(minutes=5)}
    return jwt.encode(base | claims, JWT_SECRET, algorithm="HS256")


async def test_expired_forged_and_malformed_tokens_are_401(client: httpx.AsyncClient, actors: dict[str, Actor]) -> None:
    me = (await client.get("/api/users/me", headers=actors["student"].headers)).json()
    now = datetime.now(UTC)
    tokens = {
        "expired": forged(sub=me["id"], iat=now - timedelta(hours=2), exp=now - timedelta(hours=1)),
        "wrong secret": jwt.encode({"sub": me["id"], "type": "access", "exp": now + timedelta(minutes=5)},
                                   "another-secret-of-enough-length-123", algorithm="HS256"),
        "alg none": jwt.encode({"sub": me["id"], "type": "access", "exp": now + timedelta(minutes=5)}, None,
                               algorithm="none"),
        "unknown user": forged(),
        "not an access token": forged(sub=me["id"], type="refresh"),
        "no expiry": jwt.encode({"sub": me["id"], "type": "access"}, JWT_SECRET, algorithm="HS256"),
        "garbage": "not.a.jwt",
        "tampered": actors["student"].headers["Authorization"].removeprefix("Bearer ")[:-2] + "xx",
    }  # fmt: skip
    for label, token in tokens.items():
        response = await client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, label
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert (await client.get("/api/users/me", headers={"Authorization": "Basic abc"})).status_code == 401


async def test_wrong_password_and_unknown_user_are_the_same_401(client: httpx.AsyncClient, actors: dict) -> None:
    wrong = await client.post("/api/auth/token", data={"username": "student@example.com", "password": "wrong-pass"})
    unknown = await client.post("/api/auth/token", data={"username": "ghost@example.com", "password": "wrong-pass"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "incorrect email or password"}


async def test_duplicate_email_is_409(client: httpx.AsyncClient, actors: dict) -> None:
    body = {"email": "STUDENT@example.com", "password": "another-1", "name": "Copy"}
    response = await client.post("/api/auth/register", json=body)
    assert response.status_code == 409


async def test_code_over_max_code_bytes_is_413_and_stores_nothing(
    client: httpx.AsyncClient, actors: dict[str, Actor], assignment: dict, redis_client: redis.Redis
) -> None:
    student = actors["student"].headers
    url = f"/api/assignments/{assignment['id']}/submissions"
    at_limit = await client.post(url, json={"language": "python", "code": "x" * 65536}, headers=student)
    assert at_limit.status_code == 202
    # 21846 three-byte characters: under the limit in characters, over it in UTF-8 bytes.
    for code in ("x" * 65537, "€" * 21846):
        response = await client.post(url, json={"language": "python", "code": code}, headers=student)
        assert response.status_code == 413
        assert "MAX_CODE_BYTES" in response.json()["detail"]
    listed = (await client.get("/api/submissions", headers=student)).json()["items"]
    assert [item["id"] for item in listed] == [at_limit.json()["id"]]
    assert redis_client.llen(DEFAULT_QUEUE) == 1


async def test_body_over_the_request_bound_is_413_before_parsing(
    client: httpx.AsyncClient, actors: dict[str, Actor], assignment: dict, settings: Any
) -> None:
    url = f"/api/assignments/{assignment['id']}/submissions"
    headers = actors["student"].headers | {"Content-Type": "application/json"}
    huge = b'{"language": "python", "code": "' + b"x" * settings.max_request_bytes + b'"}'
    declared = await client.post(url, content=huge, headers=headers)
    assert declared.status_code == 413
    assert "request body larger than" in declared.json()["detail"]

    async def chunks() -> Any:  # no Content-Length: the bound applies while the body streams in
        for start in range(0, len(huge), 65536):
            yield huge[start : start + 65536]

    streamed = await client.post(url, content=chunks(), headers=headers)
    assert streamed.status_code == 413
    assert (await client.get("/api/submissions", headers=actors["student"].headers)).json()["items"] == []
