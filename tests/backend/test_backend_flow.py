"""Every public endpoint's success path, as a user walks through them, with what lands in Redis."""

import json

import httpx
import pytest
import redis
from backend_api import RUBRIC, Actor, create_assignment, graded_result, login

from cloudemy_common.jobs import job_name
from cloudemy_common.keys import DEFAULT_QUEUE, submission_key
from cloudemy_common.models import QueueMessage
from cloudemy_common.payload_store import read_payload
from cloudemy_common.tokens import submission_token

QUEUE = DEFAULT_QUEUE


@pytest.fixture
def store_target(mongo_target: str) -> str:
    """This module also runs against a real MongoDB when MONGO_TEST_URI is set."""
    return mongo_target


async def test_register_login_and_me(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/api/auth/register", json={"email": "Ada@Example.com", "password": "lovelace-1", "name": "Ada"}
    )
    assert created.status_code == 201
    assert created.json()["role"] == "student"
    assert "password" not in created.text
    assert "hash" not in created.text
    headers = await login(client, "ada@example.com", "lovelace-1")  # emails are case-insensitive
    me = await client.get("/api/users/me", headers=headers)
    assert me.json()["email"] == "ada@example.com"
    assert me.json()["id"] == created.json()["id"]


async def test_admin_creates_an_instructor(client: httpx.AsyncClient, actors: dict[str, Actor]) -> None:
    body = {"email": "prof@example.com", "password": "professor-1", "name": "Prof", "role": "instructor"}
    created = await client.post("/api/users", json=body, headers=actors["admin"].headers)
    assert created.status_code == 201
    assert created.json()["role"] == "instructor"
    me = await client.get("/api/users/me", headers=await login(client, "prof@example.com", "professor-1"))
    assert me.json()["role"] == "instructor"


async def test_assignment_create_list_get_patch(
    client: httpx.AsyncClient, actors: dict[str, Actor], course: dict
) -> None:
    staff = actors["instructor"].headers
    created = await create_assignment(client, course, actors["instructor"], published=False)
    assert created.status_code == 201
    data = created.json()
    assert data["max_score"] == 10
    assert data["owner_id"] == actors["instructor"].user_id
    assert [c["id"] for c in data["rubric"]] == ["correctness", "style"]

    student = actors["student"].headers
    assert (await client.get("/api/assignments", headers=student)).json()["items"] == []
    assert len((await client.get("/api/assignments", headers=staff)).json()["items"]) == 1

    new_rubric = [*RUBRIC, {"id": "tests", "title": "Tests", "points": 5}]
    patched = await client.patch(
        f"/api/assignments/{data['id']}", json={"published": True, "rubric": new_rubric}, headers=staff
    )
    assert patched.status_code == 200
    assert patched.json()["max_score"] == 15
    assert patched.json()["title"] == "FizzBuzz"
    seen = await client.get(f"/api/assignments/{data['id']}", headers=student)
    assert seen.status_code == 200
    assert seen.json()["published"] is True


async def test_assignment_pages_follow_the_cursor(
    client: httpx.AsyncClient, actors: dict[str, Actor], course: dict
) -> None:
    staff = actors["instructor"].headers
    for number in range(5):
        await create_assignment(client, course, actors["instructor"], title=f"A{number}")
    titles: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/assignments", params=params, headers=staff)).json()
        titles += [item["title"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert titles == ["A4", "A3", "A2", "A1", "A0"]


async def test_submit_stores_queued_and_pushes_payload_and_message(
    client: httpx.AsyncClient,
    actors: dict[str, Actor],
    assignment: dict,
    redis_client: redis.Redis,
) -> None:
    response = await client.post(
        f"/api/assignments/{assignment['id']}/submissions",
        json={"language": "python", "code": "print('fizz')\n"},
        headers=actors["student"].headers,
    )
    assert response.status_code == 202
    sub = response.json()
    assert sub["status"] == "queued"
    assert sub["attempt"] == 1
    assert sub["user_id"] == actors["student"].user_id
    assert sub["result"] is None

    messages = redis_client.lrange(QUEUE, 0, -1)
    assert [QueueMessage.model_validate_json(m) for m in messages] == [
        QueueMessage(submission_id=sub["id"], language="python", attempt=1)
    ]
    key = submission_key(sub["id"])
    payload = read_payload(redis_client, sub["id"])
    assert payload.code == "print('fizz')\n"
    assert payload.assignment.max_score == 10
    assert [c.id for c in payload.assignment.rubric] == ["correctness", "style"]
    assert payload.user_id == actors["student"].user_id
    assert 0 < redis_client.ttl(key) <= 604800

    fetched = await client.get(f"/api/submissions/{sub['id']}", headers=actors["student"].headers)
    assert fetched.status_code == 200
    assert fetched.json()["code"] == "print('fizz')\n"


async def test_result_reaches_the_student_and_the_payload_is_deleted(
    client: httpx.AsyncClient, actors: dict[str, Actor], submission: dict, redis_client: redis.Redis
) -> None:
    sid = submission["id"]
    token = {"X-Result-Token": submission_token("master-result-token-for-tests-0123456789", sid)}
    job = {"status": "dispatched", "job_name": job_name(sid)}
    assert (await client.post(f"/internal/submissions/{sid}/status", json=job, headers=token)).json()["applied"]
    running = await client.post(f"/internal/submissions/{sid}/status", json={"status": "running"}, headers=token)
    assert running.json() == {"id": sid, "status": "running", "attempt": 1, "applied": True}

    posted = await client.post(f"/internal/submissions/{sid}/result", json=graded_result(), headers=token)
    assert posted.status_code == 200
    assert posted.json()["score"] == 8
    assert redis_client.exists(submission_key(sid)) == 0

    seen = (await client.get(f"/api/submissions/{sid}", headers=actors["student"].headers)).json()
    assert seen["status"] == "graded"
    assert seen["result"]["feedback"] == "Correct; naming could be clearer."
    assert seen["result"]["criteria"][1] == {"id": "style", "score": 2, "max_score": 4, "feedback": "names"}
    assert seen["result"]["attempt"] == 1


async def test_list_submissions_students_see_only_their_own(
    client: httpx.AsyncClient, actors: dict[str, Actor], assignment: dict
) -> None:
    url = f"/api/assignments/{assignment['id']}/submissions"
    for who in ("student", "student", "other_student"):
        body = {"language": "python", "code": f"# by {who}"}
        assert (await client.post(url, json=body, headers=actors[who].headers)).status_code == 202

    mine = (await client.get("/api/submissions", headers=actors["student"].headers)).json()
    assert len(mine["items"]) == 2
    assert {item["user_id"] for item in mine["items"]} == {actors["student"].user_id}
    assert "code" not in mine["items"][0]
    spying = await client.get(
        "/api/submissions", params={"user_id": actors["other_student"].user_id}, headers=actors["student"].headers
    )
    assert spying.json()["items"] == []

    staff = actors["instructor"].headers
    everyone = (await client.get("/api/submissions", params={"assignment_id": assignment["id"]}, headers=staff)).json()
    assert len(everyone["items"]) == 3
    page = (await client.get("/api/submissions", params={"limit": 2}, headers=staff)).json()
    rest = (
        await client.get("/api/submissions", params={"limit": 2, "cursor": page["next_cursor"]}, headers=staff)
    ).json()
    ids = [item["id"] for item in page["items"] + rest["items"]]
    assert len(set(ids)) == 3
    assert rest["next_cursor"] is None


async def test_regrade_starts_the_next_attempt(
    client: httpx.AsyncClient, actors: dict[str, Actor], submission: dict, redis_client: redis.Redis
) -> None:
    sid = submission["id"]
    master = {"X-Result-Token": "master-result-token-for-tests-0123456789"}
    await client.post(f"/internal/submissions/{sid}/result", json=graded_result(), headers=master)
    redis_client.delete(QUEUE)

    regraded = await client.post(f"/api/submissions/{sid}/regrade", headers=actors["instructor"].headers)
    assert regraded.status_code == 202
    assert regraded.json()["status"] == "queued"
    assert regraded.json()["attempt"] == 2
    assert regraded.json()["result"] is None
    assert [json.loads(m) for m in redis_client.lrange(QUEUE, 0, -1)] == [
        {"submission_id": sid, "language": "python", "attempt": 2}
    ]
    assert read_payload(redis_client, sid).attempt == 2

    # A late result of attempt 1 (the runner says which attempt it graded) is not taken for attempt 2.
    late = await client.post(f"/internal/submissions/{sid}/result?attempt=1", json=graded_result(), headers=master)
    assert late.status_code == 409
    fresh = graded_result(score=10, feedback="all good now")
    assert (
        await client.post(f"/internal/submissions/{sid}/result?attempt=2", json=fresh, headers=master)
    ).status_code == 200
    seen = (await client.get(f"/api/submissions/{sid}", headers=actors["student"].headers)).json()
    assert (seen["status"], seen["attempt"], seen["result"]["score"]) == ("graded", 2, 10)


async def test_regrade_of_an_unfinished_submission_is_a_conflict(
    client: httpx.AsyncClient, actors: dict[str, Actor], submission: dict
) -> None:
    response = await client.post(f"/api/submissions/{submission['id']}/regrade", headers=actors["admin"].headers)
    assert response.status_code == 409
    assert "queued" in response.json()["detail"]


async def test_manual_grade_turns_needs_review_into_graded(
    client: httpx.AsyncClient, actors: dict[str, Actor], submission: dict
) -> None:
    sid = submission["id"]
    master = {"X-Result-Token": "master-result-token-for-tests-0123456789"}
    review = graded_result(status="needs_review", score=None, criteria=None, fail_tags=["injection_suspected"])
    await client.post(f"/internal/submissions/{sid}/result", json=review, headers=master)

    graded = await client.post(
        f"/api/submissions/{sid}/grade", json={"score": 7.5, "feedback": "Checked by hand."},
        headers=actors["instructor"].headers,
    )  # fmt: skip
    assert graded.status_code == 200
    result = graded.json()["result"]
    assert graded.json()["status"] == "graded"
    assert (result["score"], result["max_score"], result["grader"]) == (7.5, 10, "manual")
    assert result["graded_by"] == actors["instructor"].user_id

    too_high = await client.post(
        f"/api/submissions/{sid}/grade", json={"score": 11}, headers=actors["instructor"].headers
    )
    assert too_high.status_code == 422
    # The runner re-sending its needs_review after the instructor's grade changes nothing.
    resent = await client.post(f"/internal/submissions/{sid}/result", json=review, headers=master)
    assert resent.status_code == 409
    final = (await client.get(f"/api/submissions/{sid}", headers=actors["student"].headers)).json()
    assert final["result"]["score"] == 7.5


async def test_manual_grade_overrides_an_llm_grade_but_not_a_running_submission(
    client: httpx.AsyncClient, actors: dict[str, Actor], submission: dict
) -> None:
    sid = submission["id"]
    staff = actors["admin"].headers
    early = await client.post(f"/api/submissions/{sid}/grade", json={"score": 5}, headers=staff)
    assert early.status_code == 409
    master = {"X-Result-Token": "master-result-token-for-tests-0123456789"}
    await client.post(f"/internal/submissions/{sid}/result", json=graded_result(), headers=master)
    override = await client.post(f"/api/submissions/{sid}/grade", json={"score": 9, "feedback": "bonus"}, headers=staff)
    assert override.status_code == 200
    assert override.json()["result"]["score"] == 9
