"""Per-user submission rate (SUBMISSION_RATE_PER_MINUTE) and the Idempotency-Key of POST .../submissions."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
import redis
from backend_api import ADMIN_EMAIL, ADMIN_PASSWORD, assignment_body, login

from cloudemy_backend.core.config import Settings
from cloudemy_backend.main import create_app

CODE = {"language": "python", "code": "print(1)\n"}


@contextlib.asynccontextmanager
async def started(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client, app.state.backend.storage


async def setup_course(client: httpx.AsyncClient) -> tuple[str, dict[str, str], dict[str, str]]:
    """A published assignment of a course, and the bearer headers of two students who joined it."""
    admin = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    course = (await client.post("/api/courses", json={"code": "LIM", "title": "Limits"}, headers=admin)).json()
    new = f"/api/courses/{course['id']}/assignments"
    assignment = (await client.post(new, json=assignment_body(), headers=admin)).json()
    students = []
    for name in ("ada", "bob"):
        body = {"email": f"{name}@example.com", "password": "long-enough-1", "name": name}
        assert (await client.post("/api/auth/register", json=body)).status_code == 201
        students.append(await login(client, body["email"], body["password"]))
        joined = await client.post("/api/courses/join", json={"join_code": course["join_code"]}, headers=students[-1])
        assert joined.status_code == 200, joined.text
    return assignment["id"], students[0], students[1]


async def submit(
    client: httpx.AsyncClient, assignment_id: str, headers: dict[str, str], key: str | None = None, **body: str
) -> httpx.Response:
    extra = {"Idempotency-Key": key.encode()} if key is not None else {}
    return await client.post(f"/api/assignments/{assignment_id}/submissions", json=CODE | body, headers=headers | extra)


async def own_ids(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    return [item["id"] for item in (await client.get("/api/submissions", headers=headers)).json()["items"]]


async def test_seventh_submission_in_a_minute_is_429_and_stores_nothing(
    make_settings: Callable[..., Settings], redis_client: redis.Redis
) -> None:
    async with started(make_settings()) as (client, _):
        assignment_id, ada, bob = await setup_course(client)
        for _ in range(6):
            assert (await submit(client, assignment_id, ada)).status_code == 202
        refused = await submit(client, assignment_id, ada)
        assert refused.status_code == 429, refused.text
        assert 0 < int(refused.headers["Retry-After"]) <= 60
        assert refused.json()["detail"].startswith("at most 6 submissions a minute")
        assert len(await own_ids(client, ada)) == 6
        assert redis_client.llen("queue:submissions") == 6
        assert (await submit(client, assignment_id, bob)).status_code == 202  # per user
        assert 'cloudemy_rate_limited_total{limit="submission"} 1.0' in (await client.get("/metrics")).text


async def test_submission_rate_is_shared_by_every_worker(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(submission_rate_per_minute=3)
    async with started(settings) as (first, first_store), started(settings) as (second, second_store):
        assignment_id, ada, _bob = await setup_course(first)
        # Each memory store is its own database: give the second worker the same users and assignment, as
        # one MongoDB would.
        for name in ("users", "courses", "memberships", "assignments"):
            source, target = getattr(first_store, name), getattr(second_store, name)
            await target.delete_many({})
            await target.insert_many(await source.find({}).to_list(None))
        codes = [(await submit(first if i % 2 else second, assignment_id, ada)).status_code for i in range(5)]
    assert codes == [202, 202, 202, 429, 429]


async def test_zero_disables_the_submission_rate(make_settings: Callable[..., Settings]) -> None:
    async with started(make_settings(submission_rate_per_minute=0)) as (client, _):
        assignment_id, ada, _bob = await setup_course(client)
        for _ in range(15):
            assert (await submit(client, assignment_id, ada)).status_code == 202


async def test_the_same_idempotency_key_returns_the_first_submission(
    make_settings: Callable[..., Settings], redis_client: redis.Redis
) -> None:
    async with started(make_settings()) as (client, _):
        assignment_id, ada, bob = await setup_course(client)
        first = await submit(client, assignment_id, ada, key="resubmit-after-timeout-1")
        again = await submit(client, assignment_id, ada, key="resubmit-after-timeout-1")
        assert first.status_code == again.status_code == 202
        assert again.json() == first.json()
        other_user = await submit(client, assignment_id, bob, key="resubmit-after-timeout-1")
        assert other_user.status_code == 202
        assert other_user.json()["id"] != first.json()["id"]
        new_key = await submit(client, assignment_id, ada, key="another-key")
        assert new_key.json()["id"] != first.json()["id"]
        assert len(await own_ids(client, ada)) == 2
        assert redis_client.llen("queue:submissions") == 3


async def test_parallel_repeats_of_one_key_store_one_submission(make_settings: Callable[..., Settings]) -> None:
    async with started(make_settings()) as (client, _):
        assignment_id, ada, _bob = await setup_course(client)
        answers = await asyncio.gather(*(submit(client, assignment_id, ada, key="double-click") for _ in range(8)))
        accepted = [a for a in answers if a.status_code == 202]
        assert {a.json()["id"] for a in accepted} == set(await own_ids(client, ada))
        assert len(await own_ids(client, ada)) == 1
        assert all(a.status_code in {202, 409} for a in answers)  # 409: the first is still being stored


async def test_repeats_are_not_counted_by_the_rate(make_settings: Callable[..., Settings]) -> None:
    async with started(make_settings(submission_rate_per_minute=2)) as (client, _):
        assignment_id, ada, _bob = await setup_course(client)
        for _ in range(5):
            assert (await submit(client, assignment_id, ada, key="k1")).status_code == 202
        assert (await submit(client, assignment_id, ada, key="k2")).status_code == 202
        assert (await submit(client, assignment_id, ada, key="k3")).status_code == 429
        assert (await submit(client, assignment_id, ada, key="k1")).status_code == 202  # still a repeat


async def test_a_refused_submission_does_not_keep_its_key(make_settings: Callable[..., Settings]) -> None:
    async with started(make_settings(submission_rate_per_minute=1)) as (client, storage):
        assignment_id, ada, _bob = await setup_course(client)
        assert (await submit(client, assignment_id, ada)).status_code == 202
        assert (await submit(client, assignment_id, ada, key="refused")).status_code == 429
        assert await storage.idempotency_keys.count_documents({}) == 0


async def test_the_same_key_with_different_code_is_422(make_settings: Callable[..., Settings]) -> None:
    async with started(make_settings()) as (client, _):
        assignment_id, ada, _bob = await setup_course(client)
        assert (await submit(client, assignment_id, ada, key="k")).status_code == 202
        changed = await submit(client, assignment_id, ada, key="k", code="print(2)\n")
        assert changed.status_code == 422
        assert "different submission" in changed.json()["detail"]
        assert len(await own_ids(client, ada)) == 1


async def test_a_key_older_than_a_day_makes_a_new_submission(make_settings: Callable[..., Settings]) -> None:
    async with started(make_settings()) as (client, storage):
        assignment_id, ada, _bob = await setup_course(client)
        first = (await submit(client, assignment_id, ada, key="monday")).json()
        claim = await storage.idempotency_keys.find_one({})
        await storage.idempotency_keys.update_one(
            {"_id": claim["_id"]}, {"$set": {"created_at": claim["created_at"] - timedelta(hours=24, seconds=1)}}
        )
        later = await submit(client, assignment_id, ada, key="monday")
        assert later.status_code == 202
        assert later.json()["id"] != first["id"]
        assert (await submit(client, assignment_id, ada, key="monday")).json()["id"] == later.json()["id"]


@pytest.mark.parametrize("key", ["", "has space", "é-non-ascii", "k" * 256, "tab\tkey"])
async def test_a_malformed_idempotency_key_is_422(make_settings: Callable[..., Settings], key: str) -> None:
    async with started(make_settings()) as (client, _):
        assignment_id, ada, _bob = await setup_course(client)
        response = await submit(client, assignment_id, ada, key=key)
        assert response.status_code == 422, response.text
        assert await own_ids(client, ada) == []
