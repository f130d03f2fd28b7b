"""Hostile requests found by probing the running backend: each answers the right 4xx JSON, never a 5xx, and
every API answer tells caches and browsers to keep and sniff nothing."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from backend_api import JWT_SECRET, Actor, assignment_body


@pytest.mark.parametrize(
    "path",
    [
        "/ui/js/app.js%00.png",
        "/ui/%00",
        "/ui/index.html%00",
        "/ui/..%2F..%2Fetc%2Fpasswd%00.css",
    ],
)
async def test_nul_byte_in_a_static_path_is_404(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404, response.text
    assert response.json() == {"detail": "Not Found"}


async def test_static_files_still_served_next_to_the_nul_fix(client: httpx.AsyncClient) -> None:
    response = await client.get("/ui/js/app.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")


def signed(**claims: Any) -> dict[str, str]:
    """A bearer header for a token signed with the app's own secret (what a leaked secret or a bug would mint)."""
    return {"Authorization": "Bearer " + jwt.encode({"type": "access", **claims}, JWT_SECRET, algorithm="HS256")}


@pytest.mark.parametrize("exp", [2**40, 10**15, 2**62, 253402300800])  # 253402300800: 10000-01-01
async def test_signed_token_with_an_expiry_beyond_any_date_is_401(
    client: httpx.AsyncClient, actors: dict[str, Actor], exp: int
) -> None:
    response = await client.get("/api/users/me", headers=signed(sub=actors["student"].user_id, exp=exp))
    assert response.status_code == 401, response.text
    assert response.json() == {"detail": "invalid or expired token"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_signed_token_with_a_far_but_representable_expiry_still_works(
    client: httpx.AsyncClient, actors: dict[str, Actor]
) -> None:
    far = int((datetime.now(UTC) + timedelta(days=365 * 50)).timestamp())
    response = await client.get("/api/users/me", headers=signed(sub=actors["student"].user_id, exp=far))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("method", "path", "who"),
    [
        ("GET", "/api/users/me", "student"),
        ("GET", "/api/assignments", "student"),
        ("GET", "/api/submissions/{sub}", "student"),
        ("GET", "/api/submissions/{sub}", "other_student"),  # 404
        ("GET", "/api/users/me", "anonymous"),  # 401
        ("POST", "/api/courses", "student"),  # 403
        ("GET", "/api/submissions?limit=0", "student"),  # 422
        ("GET", "/api/nothing-here", "student"),  # 404 of no route
        ("GET", "/healthz", "anonymous"),
    ],
)
async def test_api_answers_are_not_cached_nor_sniffed(
    client: httpx.AsyncClient, actors: dict[str, Actor], submission: dict, method: str, path: str, who: str
) -> None:
    response = await client.request(method, path.format(sub=submission["id"]), headers=actors[who].headers, json={})
    assert response.headers["cache-control"] == "no-store", (path, response.status_code)
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_token_and_oversized_body_answers_are_not_cached(
    client: httpx.AsyncClient, actors: dict[str, Actor], settings: Any
) -> None:
    token = await client.post("/api/auth/token", data={"username": "student@example.com", "password": "student-pass-1"})
    assert token.status_code == 200
    too_big = await client.post(
        "/api/auth/register",
        content=b"x" * (settings.max_request_bytes + 1),
        headers={"Content-Type": "application/json"},
    )
    assert too_big.status_code == 413
    for response in (token, too_big):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_ui_files_keep_their_revalidating_cache_policy(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"


CONTROL_NAMES = ["Ada\x00Lovelace", "\x00", "Ada\nLovelace", "Ada\x1b[31m", "Ada\x7f", "Ada\x85Lovelace"]


@pytest.mark.parametrize("name", CONTROL_NAMES)
async def test_control_characters_in_a_name_are_422_and_store_nothing(
    client: httpx.AsyncClient, actors: dict[str, Actor], name: str
) -> None:
    register = await client.post(
        "/api/auth/register", json={"email": "nul@example.com", "password": "long-enough-1", "name": name}
    )
    assert register.status_code == 422, register.text
    created = await client.post(
        "/api/users",
        json={"email": "nul2@example.com", "password": "long-enough-1", "name": name, "role": "instructor"},
        headers=actors["admin"].headers,
    )
    assert created.status_code == 422, created.text
    for email in ("nul@example.com", "nul2@example.com"):
        login = await client.post("/api/auth/token", data={"username": email, "password": "long-enough-1"})
        assert login.status_code == 401


async def test_control_characters_in_an_assignment_title_are_422(
    client: httpx.AsyncClient, actors: dict[str, Actor], course: dict
) -> None:
    response = await client.post(
        f"/api/courses/{course['id']}/assignments",
        json=assignment_body(title="Fizz\x00Buzz"),
        headers=actors["instructor"].headers,
    )
    assert response.status_code == 422
    listed = await client.get("/api/assignments", headers=actors["instructor"].headers)
    assert listed.json()["items"] == []


async def test_names_with_accents_and_scripts_are_accepted(client: httpx.AsyncClient) -> None:
    for index, name in enumerate(["Zoë Ñúñez", "李小龍", "Ο Αλέξανδρος", "O'Brien-Smith"]):
        body = {"email": f"intl{index}@example.com", "password": "long-enough-1", "name": name}
        response = await client.post("/api/auth/register", json=body)
        assert response.status_code == 201, response.text
        assert response.json()["name"] == name


def test_mongo_client_waits_are_bounded_and_the_uri_wins() -> None:
    from pymongo import AsyncMongoClient

    from cloudemy_backend.core.config import Settings
    from cloudemy_backend.storage import mongo_client_options

    base = {"jwt_secret": JWT_SECRET, "internal_result_token": "t" * 32}
    defaults = Settings(**base, mongo_uri="mongodb://mongo:27017/")
    client = AsyncMongoClient(defaults.mongo_uri, **mongo_client_options(defaults), connect=False)
    assert client.options.timeout == 8.0  # per operation (timeoutMS)
    assert client.options.pool_options.socket_timeout == 10.0
    assert client.options.server_selection_timeout == 5.0
    assert client.options.write_concern.document == {"w": "majority"}
    assert client.options.retry_writes is True
    tuned = Settings(**base, mongo_uri="mongodb+srv://u:p@db.example.org/?timeoutMS=2500&w=1")
    options = mongo_client_options(tuned)
    assert "timeoutMS" not in options
    assert "w" not in options
    assert options["socketTimeoutMS"] == 10000
