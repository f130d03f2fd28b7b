"""The demo's courses: two courses with different instructors, a TA, students in one or both, and an
assignment whose due date has passed while its late window is open, so every course rule can be tried.

- CS101 "Programming 1": instructor, ta, student. FizzBuzz (the sample: due in a week, 5 submissions) and
  "Hello, late world" (due yesterday, late submissions until 5 days from now, 10 % off per started day).
- CS102 "Algorithms": instructor2, student, student2. "Sum of a list" (due in two weeks).
"""

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

LATE_ASSIGNMENT: dict[str, Any] = {
    "title": "Hello, late world",
    "description": (
        "Print `Hello, world!`.\n\nThe due date has **passed**: submissions are still accepted for a few days, "
        "at 10 % off per started day."
    ),
    "languages": ["python", "javascript"],
    "rubric": [{"id": "output", "title": "Output", "description": "Prints exactly Hello, world!", "points": 10}],
    "published": True,
    "late_penalty_percent_per_day": 10,
}
SUM_ASSIGNMENT: dict[str, Any] = {
    "title": "Sum of a list",
    "description": "Read integers, one per line, from standard input and print their sum.",
    "languages": ["python", "c", "cpp", "java", "javascript"],
    "rubric": [
        {"id": "correct", "title": "Correct", "description": "Right sum, empty input included.", "points": 8},
        {"id": "style", "title": "Style", "description": "Readable code.", "points": 2},
    ],
    "published": True,
    "counted": "best",
}
# account name -> (display name, global role)
PEOPLE = {
    "instructor": ("Demo Instructor", "instructor"),
    "instructor2": ("Demo Second Instructor", "instructor"),
    "ta": ("Demo Teaching Assistant", "student"),
    "student": ("Demo Student", "student"),
    "student2": ("Demo Second Student", "student"),
}


@dataclass
class SeededCourses:
    """What the demo created: accounts (name -> (email, password)), courses and assignments by code/title."""

    accounts: dict[str, tuple[str, str]] = field(default_factory=dict)
    courses: dict[str, dict[str, Any]] = field(default_factory=dict)
    assignments: dict[str, dict[str, Any]] = field(default_factory=dict)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _login(http: httpx.Client, email: str, password: str) -> dict[str, str]:
    resp = http.post("/api/auth/token", data={"username": email, "password": password})
    resp.raise_for_status()
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def seed_courses(http: httpx.Client, admin: dict[str, str], sample: dict[str, Any]) -> SeededCourses:
    """Create the accounts, both courses, their members and assignments; ``sample`` is FizzBuzz's body."""
    seeded = SeededCourses()
    headers: dict[str, dict[str, str]] = {}
    for name, (display, role) in PEOPLE.items():
        email, password = f"{name}@example.com", secrets.token_urlsafe(9)
        body = {"email": email, "password": password, "name": display, "role": role}
        http.post("/api/users", json=body, headers=admin).raise_for_status()
        seeded.accounts[name] = (email, password)
        headers[name] = _login(http, email, password)

    now = datetime.now(UTC)

    def course(owner: str, code: str, title: str, members: dict[str, str]) -> dict[str, Any]:
        resp = http.post(
            "/api/courses", json={"code": code, "title": title, "term": "Demo term"}, headers=headers[owner]
        )
        resp.raise_for_status()
        created = resp.json()
        for member, role in members.items():
            email = seeded.accounts[member][0]
            added = http.post(
                f"/api/courses/{created['id']}/members", json={"email": email, "role": role}, headers=headers[owner]
            )
            added.raise_for_status()
        seeded.courses[code] = created
        return created

    def assignment(owner: str, course_id: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = http.post(f"/api/courses/{course_id}/assignments", json=body, headers=headers[owner])
        resp.raise_for_status()
        seeded.assignments[body["title"]] = resp.json()
        return resp.json()

    cs101 = course("instructor", "CS101", "Programming 1", {"ta": "ta", "student": "student"})
    assignment(
        "instructor",
        cs101["id"],
        {**sample, "due_at": _iso(now + timedelta(days=7)), "max_submissions": 5, "late_penalty_percent_per_day": 20},
    )
    assignment(
        "instructor",
        cs101["id"],
        {
            **LATE_ASSIGNMENT,
            "opens_at": _iso(now - timedelta(days=7)),
            "due_at": _iso(now - timedelta(days=1)),
            "late_until": _iso(now + timedelta(days=5)),
        },
    )
    cs102 = course("instructor2", "CS102", "Algorithms", {"student": "student", "student2": "student"})
    assignment("instructor2", cs102["id"], {**SUM_ASSIGNMENT, "due_at": _iso(now + timedelta(days=14))})
    return seeded
