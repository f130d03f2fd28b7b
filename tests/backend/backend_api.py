"""Helpers of the backend suite: test constants, actors, request bodies."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from cloudemy_backend.core.config import Settings
from cloudemy_backend.main import create_app

MASTER_TOKEN = "master-result-token-for-tests-0123456789"
JWT_SECRET = "jwt-secret-for-tests-0123456789abcdef0123"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-123"

RUBRIC = [
    {"id": "correctness", "title": "Correctness", "description": "Gives the right answer", "points": 6},
    {"id": "style", "title": "Style", "description": "Readable code", "points": 4},
]


@dataclass
class Actor:
    """A user of the API: their bearer header (empty for anonymous) and id."""

    name: str
    headers: dict[str, str] = field(default_factory=dict)
    user_id: str | None = None


async def login(client: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    response = await client.post("/api/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def open_course(
    client: httpx.AsyncClient, instructor: Actor, students: list[Actor], code: str = "CS101"
) -> dict[str, Any]:
    """A course created by ``instructor`` (who becomes its instructor); ``students`` join it by its code."""
    response = await client.post(
        "/api/courses", json={"code": code, "title": f"{code} course"}, headers=instructor.headers
    )
    assert response.status_code == 201, response.text
    course = response.json()
    for student in students:
        joined = await client.post(
            "/api/courses/join", json={"join_code": course["join_code"]}, headers=student.headers
        )
        assert joined.status_code == 200, joined.text
    return course


async def create_assignment(
    client: httpx.AsyncClient, course: dict[str, Any], who: Actor, **overrides: Any
) -> httpx.Response:
    return await client.post(
        f"/api/courses/{course['id']}/assignments", json=assignment_body(**overrides), headers=who.headers
    )


def assignment_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "FizzBuzz",
        "description": "Print FizzBuzz from 1 to 100.",
        "languages": ["python", "javascript"],
        "rubric": RUBRIC,
        "fail_tags": ["wrong_output"],
        "published": True,
    }
    body.update(overrides)
    return body


def graded_result(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "graded",
        "score": 8,
        "max_score": 10,
        "fail_tags": [],
        "feedback": "Correct; naming could be clearer.",
        "metrics": {"llm_ms": 1200, "model": "gpt-4o-mini"},
        "criteria": [
            {"id": "correctness", "score": 6, "max_score": 6, "feedback": "right"},
            {"id": "style", "score": 2, "max_score": 4, "feedback": "names"},
        ],
        "grader": "llm",
    }
    body.update(overrides)
    return body


@contextlib.asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A started app (lifespan run) and a client talking to it in-process."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client
