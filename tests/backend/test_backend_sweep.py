"""Nothing is lost: Redis down during a submission, the sweep on several replicas, submissions lost in flight."""

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
import redis
from backend_api import MASTER_TOKEN, Actor
from waiting import wait_for

from cloudemy_backend.queue import SubmissionQueue, connect_redis
from cloudemy_backend.storage import utcnow
from cloudemy_backend.sweep import Sweeper
from cloudemy_common.keys import DEFAULT_QUEUE, processing_queue, submission_key
from cloudemy_common.payload_store import read_payload

QUEUE = DEFAULT_QUEUE
SWEEP_INTERVAL = 0.3
QUIET_INTERVAL = 3600


@pytest.fixture
def store_target(mongo_target: str) -> str:
    return mongo_target


@pytest.fixture
def own_redis(redis_factory: Any) -> Any:
    """A redis-server of this test's own, which it may stop and start."""
    return redis_factory()


@pytest.fixture
def settings(request: pytest.FixtureRequest, make_settings: Any, own_redis: Any) -> Any:
    """The slow test lets the app's own background sweep run every 0.3 s; the others call sweep passes
    themselves (with a clock they choose) and keep the background loop out of the way."""
    interval = SWEEP_INTERVAL if request.node.get_closest_marker("slow") else QUIET_INTERVAL
    return make_settings(redis_url=own_redis.url, sweep_interval_seconds=interval)


def after_one_interval() -> Any:
    return utcnow() + timedelta(seconds=QUIET_INTERVAL + 1)


def replica_sweepers(app: Any, redis_url: str, count: int) -> list[Sweeper]:
    """``count`` backend replicas' sweepers: one storage, a Redis connection each."""
    backend = app.state.backend
    return [
        Sweeper(
            backend.settings, backend.storage, SubmissionQueue(connect_redis(redis_url), QUEUE, 3600), backend.metrics
        )
        for _ in range(count)
    ]


def sweeper_of(app: Any) -> Sweeper:
    backend = app.state.backend
    return Sweeper(backend.settings, backend.storage, backend.queue, backend.metrics)


@pytest.mark.slow
async def test_redis_stopped_during_submission_then_swept_exactly_once(
    client: httpx.AsyncClient, actors: dict[str, Actor], assignment: dict, own_redis: Any
) -> None:
    student = actors["student"].headers
    own_redis.stop()
    response = await client.post(
        f"/api/assignments/{assignment['id']}/submissions", json={"language": "python", "code": "print(2)"},
        headers=student,
    )  # fmt: skip
    assert response.status_code == 202
    sid = response.json()["id"]
    assert (await client.get(f"/api/submissions/{sid}", headers=student)).json()["status"] == "queued"
    ready = await client.get("/readyz")  # still ready: submitting works without Redis; Redis is reported
    assert ready.status_code == 200
    assert ready.json()["redis"].startswith("unreachable")
    assert "cloudemy_enqueue_failures_total 1.0" in (await client.get("/metrics")).text

    own_redis.start()  # empty: it had no data on disk
    check = own_redis.client()
    await asyncio.to_thread(wait_for, lambda: check.llen(QUEUE) >= 1, 10, what="the message back in the queue")
    await asyncio.sleep(SWEEP_INTERVAL * 5)  # several more passes of the background sweep
    assert [json.loads(m) for m in check.lrange(QUEUE, 0, -1)] == [
        {"submission_id": sid, "language": "python", "attempt": 1}
    ]
    payload = read_payload(check, sid)
    assert payload.code == "print(2)"
    assert (await client.get("/readyz")).status_code == 200


async def test_several_replicas_sweeping_at_once_push_once(
    app: Any, client: httpx.AsyncClient, actors: dict[str, Actor], assignment: dict, own_redis: Any
) -> None:
    own_redis.stop()
    url = f"/api/assignments/{assignment['id']}/submissions"
    sids = []
    for n in range(5):
        response = await client.post(
            url, json={"language": "python", "code": f"# {n}"}, headers=actors["student"].headers
        )
        sids.append(response.json()["id"])
    own_redis.start()
    replicas = replica_sweepers(app, own_redis.url, 4)
    later = after_one_interval()
    for _ in range(3):
        await asyncio.gather(*(replica.sweep_once(later) for replica in replicas))
    messages = [json.loads(m)["submission_id"] for m in own_redis.client().lrange(QUEUE, 0, -1)]
    assert sorted(messages) == sorted(sids)
    for replica in replicas:
        await replica.queue.close()


async def test_sweep_leaves_waiting_and_claimed_submissions_alone(
    app: Any, client: httpx.AsyncClient, submission: dict, own_redis: Any
) -> None:
    check: redis.Redis = own_redis.client()
    sweeper = sweeper_of(app)
    later = after_one_interval()
    assert await sweeper.sweep_once(later) == (0, 0, 0)  # in the queue
    check.lmove(QUEUE, processing_queue(QUEUE), "LEFT", "RIGHT")  # a scheduler is creating its Job
    assert await sweeper.sweep_once(later) == (0, 0, 0)
    check.delete(processing_queue(QUEUE))  # Job created, message removed, "dispatched" not yet reported
    assert await sweeper.sweep_once(utcnow()) == (0, 0, 0)
    # However long the backlog keeps "dispatched" from arriving, the payload hash says the message was taken:
    # a second push would become a second Job (and a second LLM call) once the first Job's TTL ran out.
    for minutes in (30, 60, 119):  # the Job TTL (1 h by default) passes, the queue time limit (2 h) does not
        assert await sweeper.sweep_once(utcnow() + timedelta(minutes=minutes)) == (0, 0, 0)
    assert check.llen(QUEUE) == 0
    # Redis lost its data (hash and assignment snapshot): now the sweep writes payload and message again
    check.delete(submission_key(submission["id"]), *check.keys("assignment:*"))
    assert (await sweeper.sweep_once(later)).enqueued == 1
    assert check.llen(QUEUE) == 1
    assert read_payload(check, submission["id"]).code == submission["code"], "with its snapshot"


async def test_in_flight_past_deadline_and_grace_becomes_lost(
    app: Any, client: httpx.AsyncClient, actors: dict[str, Actor], assignment: dict, own_redis: Any
) -> None:
    url = f"/api/assignments/{assignment['id']}/submissions"
    body = {"language": "python", "code": "while True: pass"}
    sids = [(await client.post(url, json=body, headers=actors["student"].headers)).json()["id"] for _ in range(3)]
    token = {"X-Result-Token": MASTER_TOKEN}
    stuck, finished, waiting = sids
    for sid in (stuck, finished):
        await client.post(f"/internal/submissions/{sid}/status", json={"status": "running"}, headers=token)
    await client.post(
        f"/internal/submissions/{finished}/result", json={"status": "timeout", "fail_tags": ["deadline"]}, headers=token
    )
    sweeper = sweeper_of(app)
    stuck_after = app.state.backend.settings.stuck_after_seconds
    assert stuck_after == 120 + 60

    assert (await sweeper.sweep_once(utcnow() + timedelta(seconds=stuck_after - 5)))[1] == 0
    assert (await sweeper.sweep_once(utcnow() + timedelta(seconds=stuck_after + 1)))[1] == 1

    admin = actors["admin"].headers
    lost = (await client.get(f"/api/submissions/{stuck}", headers=admin)).json()
    assert lost["status"] == "error"
    assert lost["result"]["fail_tags"] == ["lost"]
    assert lost["result"]["grader"] == "sweep"
    assert own_redis.client().exists(submission_key(stuck)) == 0
    assert (await client.get(f"/api/submissions/{finished}", headers=admin)).json()["status"] == "timeout"
    assert (await client.get(f"/api/submissions/{waiting}", headers=admin)).json()["status"] == "queued"
    # The runner's result arriving after the sweep gave up is refused; the student sees one verdict.
    late = await client.post(
        f"/internal/submissions/{stuck}/result", json={"status": "graded", "score": 1}, headers=token
    )
    assert late.status_code == 409


async def test_lost_marking_is_configurable(make_settings: Any, own_redis: Any) -> None:
    settings = make_settings(redis_url=own_redis.url, job_deadline_seconds=10, stuck_grace_seconds=5)
    assert settings.stuck_after_seconds == 15


async def test_queued_too_long_ends_as_error_and_leaves_the_queue(
    app: Any, client: httpx.AsyncClient, actors: dict[str, Actor], submission: dict, own_redis: Any
) -> None:
    check: redis.Redis = own_redis.client()
    sweeper = sweeper_of(app)
    limit = app.state.backend.settings.queued_timeout_seconds
    assert (await sweeper.sweep_once(utcnow() + timedelta(seconds=limit - 5))).expired == 0
    assert (await sweeper.sweep_once(utcnow() + timedelta(seconds=limit + 1))).expired == 1
    doc = (await client.get(f"/api/submissions/{submission['id']}", headers=actors["admin"].headers)).json()
    assert (doc["status"], doc["result"]["fail_tags"]) == ("error", ["queue-timeout"])
    assert check.llen(QUEUE) == 0, "its message is withdrawn: no Job for a submission that already ended"
    assert check.exists(submission_key(submission["id"])) == 0
    assert "cloudemy_queue_timeouts_total 1.0" in (await client.get("/metrics")).text


async def test_one_sweep_per_deployment_holds_the_lease(app: Any, own_redis: Any) -> None:
    from cloudemy_backend.queue import SWEEP_LEASE_KEY

    # The app's own background sweeper takes the lease in its first pass (its next one is an hour away): wait for
    # that, then let its lease go, as if that process had ended, so that the four replicas below compete for it.
    admin = own_redis.client()
    for _ in range(100):
        if admin.get(SWEEP_LEASE_KEY):
            break
        await asyncio.sleep(0.05)
    admin.delete(SWEEP_LEASE_KEY)
    replicas = replica_sweepers(app, own_redis.url, 4)
    holders = [await replica.hold_lease() for replica in replicas]
    assert holders == [True, False, False, False]
    assert [await replica.hold_lease() for replica in replicas] == [True, False, False, False], "renewed, kept"
    own_redis.client().pexpire(SWEEP_LEASE_KEY, 1)  # the holder died: its lease runs out
    await asyncio.sleep(0.05)
    assert [await replica.hold_lease() for replica in replicas[1:]] == [True, False, False]
    for replica in replicas:
        await replica.queue.close()


@pytest.mark.parametrize(
    ("policy", "maxmemory", "warned"),
    [("noeviction", "100mb", []), ("volatile-lru", "100mb", ["maxmemory-policy is volatile-lru"]),
     ("allkeys-lru", "0", ["maxmemory-policy is allkeys-lru", "maxmemory is 0"]),
     ("noeviction", "0", ["maxmemory is 0"])],
)  # fmt: skip
async def test_start_up_warns_when_redis_would_evict_payloads(
    make_settings: Any, own_redis: Any, caplog: pytest.LogCaptureFixture, policy: str, maxmemory: str, warned: list
) -> None:
    from cloudemy_backend.main import create_app

    admin = own_redis.client()
    admin.config_set("maxmemory-policy", policy)
    admin.config_set("maxmemory", maxmemory)
    application = create_app(make_settings(redis_url=own_redis.url))
    with caplog.at_level("WARNING", logger="cloudemy_backend.main"):
        async with application.router.lifespan_context(application):
            pass
    messages = [r.getMessage() for r in caplog.records if "redis may lose submissions" in r.getMessage()]
    assert len(messages) == len(warned)
    for expected, message in zip(warned, messages, strict=True):
        assert expected in message
