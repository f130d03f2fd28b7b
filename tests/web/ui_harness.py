"""Helpers of the web UI's tests: the API used to arrange data, and a browser page with its console watch."""

import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from demo.processes import ROOT

SCREENSHOTS = ROOT / "artifacts" / "screenshots"
MAX_CODE_BYTES = 4096  # the UI backend's limit: small, so the 413 test needs little text


@dataclass
class User:
    email: str
    password: str
    name: str
    role: str
    id: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class Api:
    """The public and internal API of one running backend, for arranging what the browser then shows."""

    def __init__(self, url: str, internal_token: str, admin: User) -> None:
        self.url = url
        self.internal_token = internal_token
        self.http = httpx.Client(base_url=url, timeout=15)
        self.admin = self.login(admin)
        self.courses: dict[str, dict[str, Any]] = {}  # instructor email -> their course

    def login(self, user: User) -> User:
        resp = self.http.post("/api/auth/token", data={"username": user.email, "password": user.password})
        resp.raise_for_status()
        user.headers = {"Authorization": f"Bearer {resp.json()['access_token']}"}
        user.id = self.http.get("/api/users/me", headers=user.headers).json()["id"]
        return user

    def create_user(self, role: str, name: str | None = None) -> User:
        tag = secrets.token_hex(4)
        user = User(f"{role}-{tag}@example.com", f"pw-{secrets.token_hex(8)}", name or f"{role.title()} {tag}", role)
        body = {"email": user.email, "password": user.password, "name": user.name, "role": role}
        self.http.post("/api/users", json=body, headers=self.admin.headers).raise_for_status()
        return self.login(user)

    def course_of(self, instructor: User) -> dict[str, Any]:
        """The instructor's course (created on first use)."""
        if instructor.email not in self.courses:
            body = {
                "code": f"C{secrets.token_hex(2).upper()}",
                "title": f"Course of {instructor.name}",
                "term": "Test term",
            }
            resp = self.http.post("/api/courses", json=body, headers=instructor.headers)
            resp.raise_for_status()
            self.courses[instructor.email] = resp.json()
        return self.courses[instructor.email]

    def enrol(self, assignment_or_course: dict[str, Any], *users: User, role: str = "student") -> None:
        """Make ``users`` members (``role``) of the course of an assignment (or of a course)."""
        course_id = assignment_or_course.get("course_id") or assignment_or_course["id"]
        for user in users:
            body = {"email": user.email, "role": role}
            resp = self.http.post(f"/api/courses/{course_id}/members", json=body, headers=self.admin.headers)
            resp.raise_for_status()

    def create_assignment(self, instructor: User, **overrides: Any) -> dict[str, Any]:
        """An assignment in the instructor's course."""
        body = {
            "title": f"Reverse a list {secrets.token_hex(3)}",
            "description": "Write reverse(xs) that returns a new list in reverse order.",
            "languages": ["python"],
            "rubric": [
                {"id": "correct", "title": "Correct result", "description": "Works for empty lists too.", "points": 6},
                {"id": "style", "title": "Readable code", "description": "", "points": 4},
            ],
            "fail_tags": ["mutates-input"],
            "published": True,
            **overrides,
        }
        resp = self.http.post(
            f"/api/courses/{self.course_of(instructor)['id']}/assignments", json=body, headers=instructor.headers
        )
        resp.raise_for_status()
        return resp.json()

    def submit(self, student: User, assignment_id: str, code: str, language: str = "python") -> dict[str, Any]:
        body = {"language": language, "code": code}
        resp = self.http.post(f"/api/assignments/{assignment_id}/submissions", json=body, headers=student.headers)
        resp.raise_for_status()
        return resp.json()

    def submission(self, user: User, submission_id: str) -> dict[str, Any]:
        resp = self.http.get(f"/api/submissions/{submission_id}", headers=user.headers)
        resp.raise_for_status()
        return resp.json()

    def post_status(self, submission_id: str, status: str) -> None:
        resp = self.http.post(
            f"/internal/submissions/{submission_id}/status",
            json={"status": status},
            headers={"X-Result-Token": self.internal_token},
        )
        resp.raise_for_status()

    def post_result(self, submission_id: str, **result: Any) -> dict[str, Any]:
        resp = self.http.post(
            f"/internal/submissions/{submission_id}/result",
            json=result,
            headers={"X-Result-Token": self.internal_token},
        )
        resp.raise_for_status()
        return resp.json()

    def close(self) -> None:
        self.http.close()


class ConsoleWatch:
    """Collects console errors and uncaught page errors. A test that provokes API errors on purpose
    allows the browser's own 'Failed to load resource ... status of N' line for exactly those statuses."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed: list[re.Pattern[str]] = []

    def allow_http(self, *statuses: int) -> None:
        codes = "|".join(str(s) for s in statuses)
        self.allowed.append(re.compile(rf"Failed to load resource: the server responded with a status of ({codes})\b"))

    def allow_network_failure(self) -> None:
        self.allowed.append(re.compile(r"Failed to load resource: net::ERR_"))

    def on_console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def on_page_error(self, error: Any) -> None:
        self.errors.append(f"uncaught: {error}")

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@dataclass
class Browser:
    page: Any
    console: ConsoleWatch
    base_url: str

    def goto(self, fragment: str = "") -> None:
        self.page.goto(f"{self.base_url}/{fragment}")

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def login(self, user: User) -> None:
        from playwright.sync_api import expect

        self.goto("#/login")
        self.page.get_by_label("Email").fill(user.email)
        self.page.get_by_label("Password").fill(user.password)
        self.page.get_by_role("button", name="Log in").click()
        expect(self.page.get_by_role("heading", level=1, name="Courses")).to_be_visible()
