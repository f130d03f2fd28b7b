"""Payloads share one assignment snapshot per version instead of each carrying a copy: the snapshot is written
once, outlives every payload that refers to it, survives an instructor's edit for the attempts queued before
it, and a backlog costs Redis about one small hash per submission however big the assignment's tests."""

import json
from typing import Any

import httpx
import pytest
import redis
from backend_api import RUBRIC, Actor, assignment_body

from cloudemy_backend.queue import SubmissionQueue, connect_redis
from cloudemy_common.keys import DEFAULT_PAYLOAD_TTL_SECONDS, assignment_snapshot_key, submission_key
from cloudemy_common.models import AssignmentSpec, QueueMessage, SubmissionPayload
from cloudemy_common.payload_store import read_payload

QUEUE = "queue:submissions"
ASSIGNMENT_ID = "65a1b2c3d4e5f60718293aff"
USER_ID = "65a1b2c3d4e5f60718293a00"


def submission_id(n: int) -> str:
    return f"{n:024x}"


def big_assignment(test_bytes: int = 100_000, **changes: Any) -> AssignmentSpec:
    """An assignment whose tests hold about ``test_bytes`` of input and expected output."""
    count = 10
    half = test_bytes // (2 * count)
    tests = [
        {"id": f"t{i}", "name": f"case {i}", "stdin": f"{i}" * half, "expected_stdout": f"{i}" * half, "points": 1}
        for i in range(count)
    ]
    return AssignmentSpec.model_validate(
        {"title": "Echo", "description": "Print what you read.", "max_score": count, "tests": tests} | changes
    )


def payload_of(n: int, assignment: AssignmentSpec, code: str = "print(input())\n") -> SubmissionPayload:
    return SubmissionPayload(
        submission_id=submission_id(n),
        user_id=USER_ID,
        assignment_id=ASSIGNMENT_ID,
        language="python",
        code=code,
        attempt=1,
        assignment=assignment,
    )


def snapshot_keys(client: redis.Redis) -> list[str]:
    return sorted(client.scan_iter("assignment:*"))


async def test_submissions_of_one_assignment_share_one_snapshot(redis_url: str, redis_client: redis.Redis) -> None:
    queue = SubmissionQueue(connect_redis(redis_url), QUEUE, DEFAULT_PAYLOAD_TTL_SECONDS)
    spec = big_assignment(10_000)
    for n in range(3):
        await queue.enqueue(payload_of(n, spec))
    await queue.close()
    (key,) = snapshot_keys(redis_client)
    for n in range(3):
        fields = redis_client.hgetall(submission_key(submission_id(n)))
        assert "assignment" not in fields
        assert key == assignment_snapshot_key(ASSIGNMENT_ID, fields["assignment_version"])
        assert read_payload(redis_client, submission_id(n)) == payload_of(n, spec)
    assert redis_client.get(key) == spec.snapshot_json()
    assert redis_client.llen(QUEUE) == 3


async def test_snapshot_outlives_every_payload_that_refers_to_it(redis_url: str, redis_client: redis.Redis) -> None:
    spec = big_assignment(1_000)
    long_lived = SubmissionQueue(connect_redis(redis_url), QUEUE, 10_000)
    await long_lived.enqueue(payload_of(1, spec))
    short_lived = SubmissionQueue(connect_redis(redis_url), QUEUE, 100)  # a replica configured differently
    await short_lived.enqueue(payload_of(2, spec))
    (key,) = snapshot_keys(redis_client)
    assert redis_client.ttl(key) >= redis_client.ttl(submission_key(submission_id(1))) > 9_000, "never shortened"

    redis_client.expire(key, 50)  # time passed; a requeue renews the payload and, with it, its snapshot
    await short_lived.enqueue_later(QueueMessage(submission_id=submission_id(2), language="python"), 1)
    assert redis_client.ttl(key) >= redis_client.ttl(submission_key(submission_id(2))) > 50
    await long_lived.close()
    await short_lived.close()


async def test_requeue_of_an_inline_payload_renews_it(redis_url: str, redis_client: redis.Redis) -> None:
    """An attempt queued by the previous release (assignment inline, no snapshot) is handed back as before."""
    payload = payload_of(3, big_assignment(1_000))
    fields = payload.redis_records().fields
    del fields["assignment_version"]
    redis_client.hset(submission_key(payload.submission_id), mapping=fields | {"assignment": "{}"})
    redis_client.expire(submission_key(payload.submission_id), 50)
    queue = SubmissionQueue(connect_redis(redis_url), QUEUE, 1_000)
    await queue.enqueue_later(QueueMessage(submission_id=payload.submission_id, language="python"), 1)
    await queue.close()
    assert redis_client.ttl(submission_key(payload.submission_id)) > 900
    assert snapshot_keys(redis_client) == []


async def test_the_last_finished_submission_of_a_version_drops_its_snapshot(
    redis_url: str, redis_client: redis.Redis
) -> None:
    spec = big_assignment(1_000)
    queue = SubmissionQueue(connect_redis(redis_url), QUEUE, DEFAULT_PAYLOAD_TTL_SECONDS)
    for n in range(3):
        await queue.enqueue(payload_of(n, spec))
    (key,) = snapshot_keys(redis_client)
    for n in range(2):
        await queue.delete_payload(submission_id(n))  # their results are stored
        assert redis_client.exists(key), "another queued submission still refers to it"
    assert read_payload(redis_client, submission_id(2)) == payload_of(2, spec)
    await queue.delete_payload(submission_id(2))
    assert redis_client.keys("assignment*") == [], "snapshot and its set gone with the last payload"
    await queue.delete_payload(submission_id(2))  # a repeated result deletes again: nothing happens
    await queue.enqueue(payload_of(4, spec))  # the next submission of that version writes it again
    assert read_payload(redis_client, submission_id(4)) == payload_of(4, spec)
    await queue.close()


async def test_a_payload_that_expired_keeps_the_snapshot_until_its_ttl(redis_url: str, redis_client: Any) -> None:
    """An id whose hash expired instead of being deleted stays in the snapshot's set: the snapshot is never
    deleted under a payload that might still refer to it, it just waits for its own TTL."""
    spec = big_assignment(1_000)
    queue = SubmissionQueue(connect_redis(redis_url), QUEUE, DEFAULT_PAYLOAD_TTL_SECONDS)
    await queue.enqueue(payload_of(1, spec))
    await queue.enqueue(payload_of(2, spec))
    redis_client.delete(submission_key(submission_id(1)))  # expired
    await queue.delete_payload(submission_id(2))
    (key,) = snapshot_keys(redis_client)
    assert redis_client.ttl(key) > DEFAULT_PAYLOAD_TTL_SECONDS - 60
    await queue.close()


async def test_deleting_an_inline_payload_of_the_previous_release(redis_url: str, redis_client: redis.Redis) -> None:
    fields = payload_of(1, big_assignment(1_000)).redis_records().fields
    del fields["assignment_version"]
    redis_client.hset(submission_key(submission_id(1)), mapping=fields | {"assignment": "{}"})
    queue = SubmissionQueue(connect_redis(redis_url), QUEUE, DEFAULT_PAYLOAD_TTL_SECONDS)
    await queue.delete_payload(submission_id(1))
    await queue.close()
    assert redis_client.exists(submission_key(submission_id(1))) == 0


async def test_an_evicted_snapshot_is_written_again_by_the_next_submission_of_its_version(
    redis_url: str, redis_client: redis.Redis
) -> None:
    spec = big_assignment(1_000)
    queue = SubmissionQueue(connect_redis(redis_url), QUEUE, DEFAULT_PAYLOAD_TTL_SECONDS)
    await queue.enqueue(payload_of(1, spec))
    (key,) = snapshot_keys(redis_client)
    redis_client.delete(key)
    await queue.enqueue(payload_of(2, spec))
    await queue.close()
    assert read_payload(redis_client, submission_id(1)) == payload_of(1, spec), "the queued one reads it too"


async def test_an_edit_while_submissions_wait_leaves_them_their_version(
    client: httpx.AsyncClient, actors: dict[str, Actor], assignment: dict[str, Any], redis_client: redis.Redis
) -> None:
    """The version a submission is graded against is the one it was submitted under: an instructor's edit of
    the tests while it waits reaches only submissions made after the edit (and regrades)."""
    url = f"/api/assignments/{assignment['id']}"
    student = actors["student"].headers

    async def submit() -> str:
        answer = await client.post(
            f"{url}/submissions", json={"language": "python", "code": "print(1)"}, headers=student
        )
        assert answer.status_code == 202, answer.text
        return answer.json()["id"]

    before = await submit()
    edited = await client.patch(
        url, json={"description": "Now with a clearer statement."}, headers=actors["instructor"].headers
    )
    assert edited.status_code == 200, edited.text
    after = await submit()

    assert read_payload(redis_client, before).assignment.description == assignment_body()["description"]
    assert read_payload(redis_client, after).assignment.description == "Now with a clearer statement."
    assert len(snapshot_keys(redis_client)) == 2
    again = await submit()
    assert len(snapshot_keys(redis_client)) == 2, "the same content shares the snapshot"
    assert read_payload(redis_client, again).assignment == read_payload(redis_client, after).assignment
    assert [c.id for c in read_payload(redis_client, before).assignment.rubric] == [c["id"] for c in RUBRIC]
    assert [json.loads(m)["submission_id"] for m in redis_client.lrange(QUEUE, 0, -1)] == [before, after, again]


N_SUBMISSIONS = 2_000
TEST_BYTES = 100_000
PER_SUBMISSION_BOUND = 1_024
"""What one queued submission may cost Redis, all told: the payload hash (a 15-byte program, seven short fields,
listpack-encoded), its key in the keyspace and its expiry, its ~70-byte message in the queue list and its id
in the snapshot's set of referring payloads. One copy of the assignment per submission would cost 100 times
that (its 100 KB of tests)."""


@pytest.mark.timeout(120)
async def test_a_backlog_costs_one_small_hash_per_submission_not_one_assignment_copy(redis_factory: Any) -> None:
    server = redis_factory()  # its own server: used_memory of nothing but this backlog
    client = server.client()
    spec = big_assignment(TEST_BYTES)
    snapshot_bytes = len(spec.snapshot_json())
    assert snapshot_bytes > TEST_BYTES
    before = int(client.info("memory")["used_memory"])
    queue = SubmissionQueue(connect_redis(server.url), QUEUE, DEFAULT_PAYLOAD_TTL_SECONDS)
    for n in range(N_SUBMISSIONS):
        await queue.enqueue(payload_of(n, spec))
    await queue.close()
    growth = int(client.info("memory")["used_memory"]) - before

    assert client.llen(QUEUE) == N_SUBMISSIONS
    (key,) = snapshot_keys(client)
    snapshot_usage = int(client.memory_usage(key))
    assert snapshot_bytes <= snapshot_usage < 2 * snapshot_bytes
    hashes = [int(client.memory_usage(submission_key(submission_id(n)))) for n in range(0, N_SUBMISSIONS, 100)]
    assert max(hashes) < PER_SUBMISSION_BOUND / 2, "a payload hash holds no assignment"
    # One snapshot plus N small payloads; N copies of the assignment would be N * snapshot_bytes (200 MB).
    assert growth < snapshot_usage + N_SUBMISSIONS * PER_SUBMISSION_BOUND
    assert growth < N_SUBMISSIONS * snapshot_bytes / 50
    client.close()
