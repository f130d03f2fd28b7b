"""The internal API: token matrix, lifecycle of status reports, and result idempotency under concurrency."""

import asyncio
import json

import httpx
import pytest
import redis
from backend_api import ADMIN_EMAIL, ADMIN_PASSWORD, MASTER_TOKEN, Actor, graded_result, login

from cloudemy_common.jobs import job_name
from cloudemy_common.keys import submission_key
from cloudemy_common.tokens import submission_token


@pytest.fixture
def store_target(mongo_target: str) -> str:
    return mongo_target


@pytest.fixture
async def two_submissions(client: httpx.AsyncClient, actors: dict[str, Actor], assignment: dict) -> tuple[str, str]:
    url = f"/api/assignments/{assignment['id']}/submissions"
    ids = []
    for who in ("student", "other_student"):
        response = await client.post(url, json={"language": "python", "code": "x = 1"}, headers=actors[who].headers)
        ids.append(response.json()["id"])
    return ids[0], ids[1]


async def fetch(client: httpx.AsyncClient, sid: str) -> dict:
    """The submission as an admin sees it through the public API."""
    headers = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    return (await client.get(f"/api/submissions/{sid}", headers=headers)).json()


TOKEN_CASES = [
    ("none", None, 401),
    ("empty", "", 401),
    ("wrong", "not-the-token", 401),
    ("master", MASTER_TOKEN, 200),
    ("this submission's", "own", 200),
    ("another submission's", "other", 401),
    ("master with a trailing space", MASTER_TOKEN + " ", 401),
]


@pytest.mark.parametrize(("case", "token", "expected"), TOKEN_CASES, ids=[c[0] for c in TOKEN_CASES])
@pytest.mark.parametrize("endpoint", ["status", "result"])
async def test_token_matrix(
    client: httpx.AsyncClient,
    two_submissions: tuple[str, str],
    endpoint: str,
    case: str,
    token: str | None,
    expected: int,
) -> None:
    mine, other = two_submissions
    resolved = {"own": submission_token(MASTER_TOKEN, mine), "other": submission_token(MASTER_TOKEN, other)}
    headers = {} if token is None else {"X-Result-Token": resolved.get(token, token)}
    body = {"status": "running"} if endpoint == "status" else graded_result()
    response = await client.post(f"/internal/submissions/{mine}/{endpoint}", json=body, headers=headers)
    assert response.status_code == expected, response.text
    state = await fetch(client, mine)
    if expected == 401:
        assert response.json() == {"detail": "missing or invalid X-Result-Token"}
        assert state["status"] == "queued"  # nothing changed
        assert state["result"] is None
    else:
        assert state["status"] == ("running" if endpoint == "status" else "graded")


async def test_token_is_checked_before_the_body_and_the_id(client: httpx.AsyncClient) -> None:
    unknown = "0123456789abcdef01234567"
    bad_body = await client.post(f"/internal/submissions/{unknown}/result", content=b"{not json")
    assert bad_body.status_code == 401
    with_token = await client.post(
        f"/internal/submissions/{unknown}/result", json=graded_result(), headers={"X-Result-Token": MASTER_TOKEN}
    )
    assert with_token.status_code == 404
    not_an_id = await client.post(
        "/internal/submissions/nope/status", json={"status": "running"}, headers={"X-Result-Token": MASTER_TOKEN}
    )
    assert not_an_id.status_code == 404


async def post_status(client: httpx.AsyncClient, sid: str, body: dict, query: str = "") -> dict:
    response = await client.post(
        f"/internal/submissions/{sid}/status{query}", json=body, headers={"X-Result-Token": MASTER_TOKEN}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_status_only_moves_forward(client: httpx.AsyncClient, submission: dict) -> None:
    sid = submission["id"]
    assert (await post_status(client, sid, {"status": "running"}))["applied"] is True
    late_dispatch = await post_status(client, sid, {"status": "dispatched", "job_name": job_name(sid)})
    assert late_dispatch == {"id": sid, "status": "running", "attempt": 1, "applied": False}
    repeat = await post_status(client, sid, {"status": "running"})
    assert repeat["applied"] is False


async def test_status_never_leaves_a_terminal_status(client: httpx.AsyncClient, submission: dict) -> None:
    sid = submission["id"]
    headers = {"X-Result-Token": MASTER_TOKEN}
    await client.post(f"/internal/submissions/{sid}/result", json=graded_result(status="timeout"), headers=headers)
    for body in ({"status": "dispatched"}, {"status": "running"}):
        assert (await post_status(client, sid, body)) == {
            "id": sid,
            "status": "timeout",
            "attempt": 1,
            "applied": False,
        }


async def test_status_of_an_earlier_attempts_job_is_ignored(
    client: httpx.AsyncClient, actors: dict[str, Actor], submission: dict
) -> None:
    sid = submission["id"]
    headers = {"X-Result-Token": MASTER_TOKEN}
    await client.post(f"/internal/submissions/{sid}/result", json=graded_result(), headers=headers)
    await client.post(f"/api/submissions/{sid}/regrade", headers=actors["instructor"].headers)
    old_job = await post_status(client, sid, {"status": "dispatched", "job_name": job_name(sid)})
    assert old_job == {"id": sid, "status": "queued", "attempt": 2, "applied": False}
    old_query = await post_status(client, sid, {"status": "running"}, "?attempt=1")
    assert old_query["applied"] is False
    new_job = await post_status(client, sid, {"status": "dispatched", "job_name": job_name(sid, 2)})
    assert new_job == {"id": sid, "status": "dispatched", "attempt": 2, "applied": True}


async def test_identical_repeat_is_200_and_different_result_is_409(
    client: httpx.AsyncClient, submission: dict, redis_client: redis.Redis
) -> None:
    sid = submission["id"]
    headers = {"X-Result-Token": submission_token(MASTER_TOKEN, sid)}
    url = f"/internal/submissions/{sid}/result"
    first = await client.post(url, json=graded_result(), headers=headers)
    assert first.status_code == 200
    assert redis_client.exists(submission_key(sid)) == 0
    repeat = await client.post(url, json=graded_result(), headers=headers)
    assert repeat.status_code == 200
    assert repeat.json() == first.json()
    different = await client.post(url, json=graded_result(score=3), headers=headers)
    assert different.status_code == 409
    assert "already stored" in different.json()["detail"]
    error_after = await client.post(url, json=graded_result(status="error", score=None), headers=headers)
    assert error_after.status_code == 409
    stored = await client.post(url, json=graded_result(), headers=headers)
    assert stored.json()["score"] == 8


async def test_result_for_an_attempt_that_does_not_exist_is_409(client: httpx.AsyncClient, submission: dict) -> None:
    response = await client.post(
        f"/internal/submissions/{submission['id']}/result?attempt=2",
        json=graded_result(),
        headers={"X-Result-Token": MASTER_TOKEN},
    )
    assert response.status_code == 409
    assert "attempt 2" in response.json()["detail"]


async def test_twenty_concurrent_identical_posts_store_one_result(
    client: httpx.AsyncClient, submission: dict, app: object
) -> None:
    sid = submission["id"]
    headers = {"X-Result-Token": submission_token(MASTER_TOKEN, sid)}
    responses = await asyncio.gather(
        *(client.post(f"/internal/submissions/{sid}/result", json=graded_result(), headers=headers) for _ in range(20))
    )
    assert [r.status_code for r in responses] == [200] * 20
    assert len({r.json()["received_at"] for r in responses}) == 1  # all answer with the one stored result
    metrics = (await client.get("/metrics")).text
    assert 'cloudemy_results_total{status="graded"} 1.0' in metrics


async def test_twenty_concurrent_different_posts_exactly_one_wins(client: httpx.AsyncClient, submission: dict) -> None:
    sid = submission["id"]
    headers = {"X-Result-Token": MASTER_TOKEN}
    bodies = [graded_result(score=n % 10, feedback=f"verdict {n}") for n in range(20)]
    responses = await asyncio.gather(
        *(client.post(f"/internal/submissions/{sid}/result", json=body, headers=headers) for body in bodies)
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * 19
    winner = next(r.json() for r in responses if r.status_code == 200)
    admin_view = await fetch(client, sid)
    assert admin_view["result"]["feedback"] == winner["feedback"]
    assert admin_view["result"]["score"] == winner["score"]


async def test_invalid_result_bodies_are_422_and_change_nothing(client: httpx.AsyncClient, submission: dict) -> None:
    sid = submission["id"]
    headers = {"X-Result-Token": MASTER_TOKEN, "Content-Type": "application/json"}
    bad_bodies = [
        graded_result(status="queued"),
        graded_result(score=11, max_score=10),
        graded_result(score=-1),
        graded_result(unknown_field=True),
        graded_result(fail_tags=["has space"]),
        graded_result(feedback="x" * 20_001),
        graded_result(grader="human"),
        graded_result(feedback="\ud800 lone surrogate"),
        {"status": "graded", "metrics": {"k": {"nested": 1}}},
    ]
    for body in bad_bodies:
        raw = json.dumps(body).encode()  # ASCII escapes, so a lone surrogate travels as \\ud800
        response = await client.post(f"/internal/submissions/{sid}/result", content=raw, headers=headers)
        assert response.status_code == 422, (body, response.text)
    assert (await fetch(client, sid))["status"] == "queued"


async def test_a_stored_result_counts_its_time_to_grade_and_llm_tokens(
    client: httpx.AsyncClient, submission: dict
) -> None:
    """The dashboard's time-to-grade percentiles and token (cost) panels come from these series."""
    sid = submission["id"]
    headers = {"X-Result-Token": submission_token(MASTER_TOKEN, sid)}
    body = graded_result(metrics={"model": "gpt-4o-mini", "prompt_tokens": 1200, "completion_tokens": 300})
    for _ in range(2):  # an identical repeat is not counted twice
        assert (await client.post(f"/internal/submissions/{sid}/result", json=body, headers=headers)).status_code == 200
    metrics = (await client.get("/metrics")).text
    assert 'cloudemy_time_to_grade_seconds_count{status="graded"} 1.0' in metrics
    assert 'cloudemy_llm_tokens_total{kind="prompt",model="gpt-4o-mini"} 1200.0' in metrics
    assert 'cloudemy_llm_tokens_total{kind="completion",model="gpt-4o-mini"} 300.0' in metrics


async def test_attempt_tokens_post_for_their_attempt_only_and_expire(client, submission) -> None:
    import time

    from cloudemy_common.tokens import attempt_token

    sid = submission["id"]
    later = int(time.time()) + 600
    first, second = (attempt_token(MASTER_TOKEN, sid, n, later) for n in (1, 2))
    expired = attempt_token(MASTER_TOKEN, sid, 1, int(time.time()) - 1)
    body = {"status": "error", "fail_tags": ["x"]}
    url = f"/internal/submissions/{sid}"
    calls = (("status", {"status": "running"}), ("result", body), ("requeue", {"reason": "timeout"}))
    for path, payload in calls:
        answer = await client.post(f"{url}/{path}", json=payload, headers={"X-Result-Token": expired})
        assert answer.status_code == 401, (path, answer.text)
        # A (future) attempt's token speaks for its own attempt only, which is not the current one: nothing changes.
        answer = await client.post(f"{url}/{path}", json=payload, headers={"X-Result-Token": second})
        assert answer.status_code in (200, 409), (path, answer.text)
        assert answer.status_code == 409 or answer.json()["applied"] is False
    answer = await client.post(f"{url}/result?attempt=2", json=body, headers={"X-Result-Token": first})
    assert answer.status_code == 401, "an attempt-1 token cannot speak for attempt 2"
    running = await client.post(f"{url}/status", json={"status": "running"}, headers={"X-Result-Token": first})
    assert running.json()["applied"] is True
    stored = await client.post(f"{url}/result", json=body, headers={"X-Result-Token": first})
    assert stored.status_code == 200
