"""Attempts handed back to the queue while the LLM is unavailable: delay, limit, the delayed set, and the sweep."""

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
import redis
from backend_api import MASTER_TOKEN, Actor

from cloudemy_backend.storage import utcnow
from cloudemy_backend.sweep import Sweeper
from cloudemy_common.jobs import job_name
from cloudemy_common.keys import submission_key
from cloudemy_common.tokens import submission_token

QUEUE = "queue:submissions"
DELAYED = QUEUE + ":delayed"


def runner_headers(sid: str) -> dict[str, str]:
    return {"X-Result-Token": submission_token(MASTER_TOKEN, sid)}


async def take_and_run(client: httpx.AsyncClient, sid: str, check: redis.Redis, requeue: int = 0) -> None:
    """What a scheduler and its runner do: take the message, report dispatched and running."""
    raw = check.lpop(QUEUE)
    assert raw is not None
    assert json.loads(raw)["submission_id"] == sid
    name = job_name(sid, 1, requeue)
    for state in ("dispatched", "running"):
        answer = await client.post(
            f"/internal/submissions/{sid}/status", json={"status": state, "job_name": name}, headers=runner_headers(sid)
        )
        assert answer.json()["applied"] is True, answer.text


def make_due(check: redis.Redis) -> None:
    for member in check.zrange(DELAYED, 0, -1):
        check.zadd(DELAYED, {member: 0})


async def test_requeue_delays_the_same_attempt_up_to_the_limit(
    app: Any, client: httpx.AsyncClient, actors: dict[str, Actor], submission: dict, redis_client: redis.Redis
) -> None:
    sid = submission["id"]
    sweeper = Sweeper(*(getattr(app.state.backend, n) for n in ("settings", "storage", "queue", "metrics")))
    limit = app.state.backend.settings.llm_requeue_limit
    assert limit == 3
    for n in range(1, limit + 1):
        await take_and_run(client, sid, redis_client, requeue=n - 1)
        answer = await client.post(
            f"/internal/submissions/{sid}/requeue?attempt=1",
            json={"reason": "server-error", "retry_after_seconds": 5},
            headers=runner_headers(sid),
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["requeue"] == n
        assert 5 <= body["delay_seconds"] <= 5 + 30 * 2 ** (n - 1), "Retry-After is the floor, jitter on top"
        doc = (await client.get(f"/api/submissions/{sid}", headers=actors["student"].headers)).json()
        assert (doc["status"], doc["attempt"]) == ("queued", 1), "the same attempt, waiting again"
        assert redis_client.llen(QUEUE) == 0, "not before its delay"
        # The sweep sees a queued submission without a queue message: it must not push it.
        assert (await sweeper.sweep_once(utcnow() + timedelta(minutes=5))).enqueued == 0
        assert await sweeper.promote_due() == 0
        make_due(redis_client)
        assert await sweeper.promote_due() == 1
        message = json.loads(redis_client.lindex(QUEUE, 0))
        assert message == {"submission_id": sid, "language": "python", "attempt": 1, "requeue": n}
        assert job_name(sid, 1, n) == f"runner-{sid}-1-{n}", "a Job of its own, whatever the old one's TTL"
        assert redis_client.exists(submission_key(sid)) == 1, "the payload stays for the next runner"

    await take_and_run(client, sid, redis_client, requeue=limit)
    refused = await client.post(
        f"/internal/submissions/{sid}/requeue", json={"reason": "rate-limited"}, headers=runner_headers(sid)
    )
    assert refused.status_code == 409
    assert "3 times" in refused.json()["detail"]
    doc = (await client.get(f"/api/submissions/{sid}", headers=actors["student"].headers)).json()
    assert doc["status"] == "running", "a refused requeue changes nothing; the runner posts its result"
    metrics = (await client.get("/metrics")).text
    assert 'cloudemy_requeued_total{reason="server-error"} 3.0' in metrics
    assert "cloudemy_requeue_refused_total 1.0" in metrics


@pytest.mark.parametrize(
    ("query", "body", "status"),
    [
        ("?attempt=2", {"reason": "rate-limited"}, 409),  # not the current attempt
        ("", {"reason": "student-asked"}, 422),  # only the LLM's availability is a reason
        ("", {"reason": "timeout", "retry_after_seconds": -1}, 422),
        ("", {"reason": "timeout", "retry_after_seconds": 10**9}, 422),
    ],
)
async def test_requeue_refuses_what_is_not_an_outage(
    client: httpx.AsyncClient, submission: dict, redis_client: redis.Redis, query: str, body: dict, status: int
) -> None:
    sid = submission["id"]
    await take_and_run(client, sid, redis_client)
    answer = await client.post(f"/internal/submissions/{sid}/requeue{query}", json=body, headers=runner_headers(sid))
    assert answer.status_code == status, answer.text
    assert redis_client.zcard(DELAYED) == 0


async def test_requeue_needs_the_submissions_token(
    client: httpx.AsyncClient, submission: dict, redis_client: redis.Redis
) -> None:
    sid = submission["id"]
    other = "0" * 24
    answer = await client.post(
        f"/internal/submissions/{sid}/requeue", json={"reason": "timeout"}, headers=runner_headers(other)
    )
    assert answer.status_code == 401
    assert redis_client.zcard(DELAYED) == 0


async def test_requeue_of_a_finished_submission_is_refused(
    client: httpx.AsyncClient, submission: dict, redis_client: redis.Redis
) -> None:
    sid = submission["id"]
    await take_and_run(client, sid, redis_client)
    token = runner_headers(sid)
    stored = await client.post(f"/internal/submissions/{sid}/result", json={"status": "error"}, headers=token)
    assert stored.status_code == 200
    answer = await client.post(f"/internal/submissions/{sid}/requeue", json={"reason": "timeout"}, headers=token)
    assert answer.status_code == 409
    assert redis_client.zcard(DELAYED) == 0
