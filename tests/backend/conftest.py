"""Fixtures of the backend suite: an app on real Redis and the Mongo stand-in (or a real MongoDB), and users."""

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from backend_api import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    JWT_SECRET,
    MASTER_TOKEN,
    Actor,
    assignment_body,
    login,
    open_course,
)
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from cloudemy_backend.core import security
from cloudemy_backend.core.config import MEMORY_MONGO_URI, Settings
from cloudemy_backend.main import create_app


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with small parameters: the same code path, a fraction of the time per test user."""
    monkeypatch.setattr(security, "password_hash", PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024),)))


@pytest.fixture
def store_target() -> str:
    """Where this suite's Mongo lives: the stand-in. Modules that exercise storage override this with
    ``mongo_target``, so they also run against a real MongoDB when MONGO_TEST_URI is set."""
    return "stand-in"


@pytest.fixture
def make_settings(redis_url: str, store_target: str) -> Callable[..., Settings]:
    """Settings for one app: real Redis, the Mongo stand-in (or MONGO_TEST_URI), one fresh database."""
    db_name = f"cloudemy_test_{uuid.uuid4().hex[:12]}"

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "mongo_uri": MEMORY_MONGO_URI if store_target == "stand-in" else store_target,
            "db_name": db_name,
            "redis_url": redis_url,
            "jwt_secret": JWT_SECRET,
            "internal_result_token": MASTER_TOKEN,
            "cloudemy_admin_email": ADMIN_EMAIL,
            "cloudemy_admin_password": ADMIN_PASSWORD,
            "sweep_interval_seconds": 3600,  # tests run sweep passes themselves unless they say otherwise
            **overrides,
        }
        return Settings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application
    if not settings.memory_store:
        from pymongo import AsyncMongoClient

        client: AsyncMongoClient[Any] = AsyncMongoClient(settings.mongo_uri)
        await client.drop_database(settings.db_name)
        await client.close()


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://backend.test") as http:
        yield http


@pytest.fixture
async def actors(client: httpx.AsyncClient) -> dict[str, Actor]:
    """anonymous, student, other_student (registered), instructor (created by the admin), admin (bootstrap)."""
    admin_headers = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    admin_me = (await client.get("/api/users/me", headers=admin_headers)).json()
    people = {"anonymous": Actor("anonymous"), "admin": Actor("admin", admin_headers, admin_me["id"])}
    for name in ("student", "other_student"):
        email = f"{name}@example.com"
        body = {"email": email, "password": "student-pass-1", "name": name}
        created = await client.post("/api/auth/register", json=body)
        assert created.status_code == 201, created.text
        people[name] = Actor(name, await login(client, email, "student-pass-1"), created.json()["id"])
    body = {"email": "teacher@example.com", "password": "teacher-pass-1", "name": "Teacher", "role": "instructor"}
    created = await client.post("/api/users", json=body, headers=admin_headers)
    assert created.status_code == 201, created.text
    people["instructor"] = Actor(
        "instructor", await login(client, body["email"], body["password"]), created.json()["id"]
    )
    return people


@pytest.fixture
async def course(client: httpx.AsyncClient, actors: dict[str, Actor]) -> dict[str, Any]:
    """The instructor's course; both students joined it with its join code."""
    return await open_course(client, actors["instructor"], [actors["student"], actors["other_student"]])


@pytest.fixture
async def assignment(client: httpx.AsyncClient, actors: dict[str, Actor], course: dict[str, Any]) -> dict[str, Any]:
    """A published assignment of ``course``, created by the instructor."""
    response = await client.post(
        f"/api/courses/{course['id']}/assignments", json=assignment_body(), headers=actors["instructor"].headers
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
async def submission(client: httpx.AsyncClient, actors: dict[str, Actor], assignment: dict[str, Any]) -> dict[str, Any]:
    """The student's queued submission to ``assignment``."""
    response = await client.post(
        f"/api/assignments/{assignment['id']}/submissions",
        json={"language": "python", "code": "print('hello')\n"},
        headers=actors["student"].headers,
    )
    assert response.status_code == 202, response.text
    return response.json()
