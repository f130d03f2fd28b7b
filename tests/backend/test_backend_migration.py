"""The move into courses at start-up: a store written by the version before courses ends up in "Default
course", and running the migration again (every start-up does) changes nothing."""

from typing import Any

import httpx
import pytest
from backend_api import ADMIN_EMAIL, ADMIN_PASSWORD, RUBRIC, login

from cloudemy_backend.core.config import Settings
from cloudemy_backend.core.security import hash_password
from cloudemy_backend.main import create_app, prepare_storage
from cloudemy_backend.storage import DEFAULT_COURSE_ID, Storage, utcnow

PASSWORD = "old-version-pass-1"


@pytest.fixture
def store_target(mongo_target: str) -> str:
    return mongo_target


async def seed_as_before_courses(storage: Storage) -> dict[str, Any]:
    """Users, an assignment and a graded submission exactly as the version before courses wrote them."""
    now = utcnow()
    ids: dict[str, Any] = {}
    for name, role in (("teacher", "instructor"), ("alice", "student"), ("bob", "student"), ("root", "admin")):
        doc = {
            "email": f"{name}@old.example.com",
            "name": name.title(),
            "role": role,
            "password_hash": hash_password(PASSWORD),
            "created_at": now,
        }
        ids[name] = str((await storage.users.insert_one(doc)).inserted_id)
    assignment = {
        "title": "Old FizzBuzz",
        "description": "from before courses",
        "languages": ["python"],
        "rubric": RUBRIC,
        "fail_tags": [],
        "published": True,
        "max_score": 10.0,
        "owner_id": ids["teacher"],
        "created_at": now,
        "updated_at": now,
    }
    ids["assignment"] = str((await storage.assignments.insert_one(assignment)).inserted_id)
    result = {
        "status": "graded", "score": 7.0, "max_score": 10.0, "fail_tags": [], "feedback": "ok", "metrics": {},
        "criteria": None, "grader": "llm", "attempt": 1, "received_at": now, "graded_by": None,
    }  # fmt: skip
    submission = {
        "assignment_id": ids["assignment"], "user_id": ids["alice"], "language": "python", "code": "print(1)",
        "status": "graded", "attempt": 1, "job_name": "runner-x", "result": result, "previous_results": [],
        "enqueued_at": now, "created_at": now, "updated_at": now, "status_changed_at": now,
    }  # fmt: skip
    ids["submission"] = str((await storage.submissions.insert_one(submission)).inserted_id)
    return ids


async def snapshot(storage: Storage) -> dict[str, list[dict[str, Any]]]:
    collections = ("users", "courses", "memberships", "assignments", "submissions", "migrations")
    return {name: await storage.db[name].find({}).sort("_id", 1).to_list(None) for name in collections}


async def test_migration_moves_everything_into_the_default_course_once(settings: Settings) -> None:
    storage = Storage.from_settings(settings)
    try:
        ids = await seed_as_before_courses(storage)
        await prepare_storage(settings, storage)
        first = await snapshot(storage)
        course = await storage.course_by_id(str(DEFAULT_COURSE_ID))
        assert course is not None
        assert (course["title"], course["archived"]) == ("Default course", False)
        roles = {m["user_id"]: m["role"] for m in first["memberships"]}
        assert roles == {ids["teacher"]: "instructor", ids["alice"]: "student", ids["bob"]: "student"}
        assert [a["course_id"] for a in first["assignments"]] == [str(DEFAULT_COURSE_ID)]
        moved = first["submissions"][0]
        assert (moved["course_id"], moved["late"], moved["result"]["score"]) == (str(DEFAULT_COURSE_ID), False, 7.0)

        await prepare_storage(settings, storage)  # the next start-up
        assert await snapshot(storage) == first
        assert await storage.migrate_into_default_course() == {
            "assignments": 0, "submissions": 0, "members": 0, "course_created": False,
        }  # fmt: skip

        # Users who arrive after the move are not enrolled anywhere by later start-ups.
        await storage.insert_user(email="new@example.com", name="New", role="student", password_hash="x")
        await prepare_storage(settings, storage)
        assert len((await snapshot(storage))["memberships"]) == 3
    finally:
        await storage.close()


async def test_after_the_move_old_users_work_in_the_default_course(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = Storage.from_settings(settings)
    ids = await seed_as_before_courses(storage)
    monkeypatch.setattr(Storage, "from_settings", classmethod(lambda cls, _settings: storage))
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        alice = await login(client, "alice@old.example.com", PASSWORD)
        teacher = await login(client, "teacher@old.example.com", PASSWORD)
        courses = (await client.get("/api/courses", headers=alice)).json()
        assert [(c["title"], c["my_role"]) for c in courses] == [("Default course", "student")]
        assert (await client.get(f"/api/submissions/{ids['submission']}", headers=alice)).status_code == 200
        listed = (await client.get(f"/api/courses/{courses[0]['id']}/assignments", headers=alice)).json()["items"]
        assert [a["title"] for a in listed] == ["Old FizzBuzz"]
        patched = await client.patch(
            f"/api/assignments/{ids['assignment']}", json={"due_at": "2030-01-01T00:00:00Z"}, headers=teacher
        )
        assert patched.status_code == 200
        gradebook = await client.get(f"/api/courses/{courses[0]['id']}/grades.csv", headers=teacher)
        assert "alice@old.example.com,Alice," in gradebook.text
        assert gradebook.text.splitlines()[1].endswith(",7")
        admin = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert (await client.get(f"/api/assignments/{ids['assignment']}", headers=admin)).status_code == 200


async def test_a_fresh_installation_gets_no_default_course(client: httpx.AsyncClient) -> None:
    admin = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert (await client.get("/api/courses", headers=admin)).json() == []
