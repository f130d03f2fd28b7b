"""Fixtures of the end-to-end suite: a started platform per test, and the people who use it."""

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e.platform import E2EPlatform

RUBRIC = [
    {"id": "correctness", "title": "Correct output", "description": "Right answer for every input", "points": 6},
    {"id": "style", "title": "Style", "description": "Readable, idiomatic code", "points": 4},
]
GOOD_CODE = "def add(a, b):\n    return a + b\n"


@pytest.fixture
def make_platform(tmp_path: Path) -> Iterator[Callable[..., E2EPlatform]]:
    started: list[E2EPlatform] = []

    def make(*set_values: str, set_strings: tuple[str, ...] = ()) -> E2EPlatform:
        platform = E2EPlatform(
            tmp_path / f"platform-{len(started)}", set_values=list(set_values), set_strings=list(set_strings)
        )
        platform.workdir.mkdir(parents=True)
        started.append(platform)
        return platform.start()

    yield make
    for platform in started:
        platform.stop()


@dataclass
class Campus:
    """Accounts and an assignment on a running platform, and shortcuts for what they do."""

    platform: E2EPlatform
    http: httpx.Client
    admin: dict[str, str]
    instructor: dict[str, str]
    assignment_id: str
    join_code: str = ""
    course_id: str = ""

    def register_student(self, name: str | None = None) -> dict[str, str]:
        """A new account that joined the course with its join code."""
        email = f"{name or 'student'}-{secrets.token_hex(4)}@example.edu"
        password = secrets.token_urlsafe(12)
        resp = self.http.post("/api/auth/register", json={"email": email, "password": password, "name": name or "S"})
        assert resp.status_code == 201, resp.text
        student = self.login(email, password)
        joined = self.http.post("/api/courses/join", json={"join_code": self.join_code}, headers=student)
        assert joined.status_code == 200, joined.text
        return student

    def login(self, email: str, password: str) -> dict[str, str]:
        resp = self.http.post("/api/auth/token", data={"username": email, "password": password})
        assert resp.status_code == 200, resp.text
        return {"Authorization": f"Bearer {resp.json()['access_token']}"}

    def submit(self, student: dict[str, str], code: str = GOOD_CODE) -> str:
        resp = self.http.post(
            f"/api/assignments/{self.assignment_id}/submissions",
            json={"language": "python", "code": code},
            headers=student,
        )
        assert resp.status_code == 202, resp.text
        assert resp.json()["status"] == "queued"
        return resp.json()["id"]

    def get(self, submission_id: str, who: dict[str, str] | None = None) -> dict[str, Any]:
        resp = self.http.get(f"/api/submissions/{submission_id}", headers=who or self.instructor)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def wait(self, ids: list[str], timeout: float = 60) -> dict[str, dict[str, Any]]:
        return self.platform.wait_terminal(self.http, ids, self.instructor, timeout)


def open_campus(platform: E2EPlatform) -> Campus:
    http = platform.client()
    email, password = platform.admin
    probe = Campus(platform, http, {}, {}, "")
    admin = probe.login(email, password)
    instructor_email, instructor_password = f"teacher-{secrets.token_hex(4)}@example.edu", secrets.token_urlsafe(12)
    resp = http.post(
        "/api/users",
        json={"email": instructor_email, "password": instructor_password, "name": "Teacher", "role": "instructor"},
        headers=admin,
    )
    assert resp.status_code == 201, resp.text
    instructor = probe.login(instructor_email, instructor_password)
    course = http.post("/api/courses", json={"code": "E2E", "title": "End to end"}, headers=instructor)
    assert course.status_code == 201, course.text
    resp = http.post(
        f"/api/courses/{course.json()['id']}/assignments",
        json={
            "title": "Add two numbers",
            "description": "Write add(a, b).",
            "languages": ["python"],
            "rubric": RUBRIC,
            "fail_tags": ["wrong-result"],
            "published": True,
        },
        headers=instructor,
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["max_score"] == 10
    return Campus(platform, http, admin, instructor, resp.json()["id"], course.json()["join_code"], course.json()["id"])


@pytest.fixture
def campus(make_platform: Callable[..., E2EPlatform]) -> Iterator[Campus]:
    """A platform with the chart's minikube values, an instructor and a published assignment."""
    result = open_campus(make_platform())
    yield result
    result.http.close()
