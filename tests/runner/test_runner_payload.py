"""Loading a payload (``submission:{id}`` and its assignment snapshot) from a real Redis: the shared snapshot,
an inline payload of an older release, missing, expired, malformed, and Redis going away."""

import threading
import time

from runner_support import ASSIGNMENT, SUBMISSION_ID, inline_payload_hash, make_payload, write_inline_payload

from cloudemy_common.keys import submission_key
from cloudemy_common.payload_store import write_payload
from cloudemy_runner.config import Budget
from cloudemy_runner.payload import load_payload


def test_loads_the_payload_the_backend_wrote(redis_client, redis_url):
    payload = make_payload()
    write_payload(redis_client, payload)
    stored = redis_client.hgetall(submission_key(SUBMISSION_ID))
    assert b"assignment" not in stored, "the hash refers to the snapshot instead of copying the assignment"
    loaded = load_payload(redis_url, SUBMISSION_ID, Budget(60))
    assert (loaded.payload, loaded.failure_tag) == (payload, None)


def test_inline_payload_of_the_previous_release_still_grades(redis_client, redis_url):
    """A backlog queued before the upgrade carries the assignment in the hash; the runner reads it as it is."""
    payload = make_payload()
    write_inline_payload(redis_client, payload)
    assert redis_client.keys("assignment:*") == []
    loaded = load_payload(redis_url, SUBMISSION_ID, Budget(60))
    assert (loaded.payload, loaded.failure_tag) == (payload, None)


def test_missing_snapshot_is_payload_missing(redis_client, redis_url):
    payload = make_payload()
    write_payload(redis_client, payload)
    redis_client.delete(payload.redis_records().snapshot_key)  # evicted by a Redis with a volatile-* policy
    assert load_payload(redis_url, SUBMISSION_ID, Budget(60)).failure_tag == "payload-missing"


def test_snapshot_not_of_its_version_is_invalid(redis_client, redis_url):
    payload = make_payload()
    write_payload(redis_client, payload)
    other = make_payload(assignment=ASSIGNMENT | {"title": "Another title"}).assignment.snapshot_json()
    redis_client.set(payload.redis_records().snapshot_key, other)
    assert load_payload(redis_url, SUBMISSION_ID, Budget(60)).failure_tag == "payload-invalid"


def test_hash_without_assignment_or_version_is_invalid(redis_client, redis_url):
    fields = make_payload().redis_records().fields
    del fields["assignment_version"]
    redis_client.hset(submission_key(SUBMISSION_ID), mapping=fields)
    assert load_payload(redis_url, SUBMISSION_ID, Budget(60)).failure_tag == "payload-invalid"


def test_forged_version_is_invalid_and_reads_no_other_key(redis_client, redis_url):
    fields = make_payload().redis_records().fields | {"assignment_version": "../../queue:submissions"}
    redis_client.hset(submission_key(SUBMISSION_ID), mapping=fields)
    assert load_payload(redis_url, SUBMISSION_ID, Budget(60)).failure_tag == "payload-invalid"


def test_expired_payload_is_missing(redis_client, redis_url):
    key = submission_key(SUBMISSION_ID)
    write_payload(redis_client, make_payload())
    redis_client.pexpire(key, 50)
    time.sleep(0.1)
    assert load_payload(redis_url, SUBMISSION_ID, Budget(60)).failure_tag == "payload-missing"


def test_malformed_assignment_json_is_invalid(redis_client, redis_url):
    fields = inline_payload_hash(make_payload()) | {"assignment": "{not json"}
    redis_client.hset(submission_key(SUBMISSION_ID), mapping=fields)
    assert load_payload(redis_url, SUBMISSION_ID, Budget(60)).failure_tag == "payload-invalid"


def test_payload_of_another_submission_is_invalid(redis_client, redis_url):
    other = make_payload()
    write_payload(redis_client, other)
    redis_client.hset(submission_key(SUBMISSION_ID), "submission_id", "0" * 24)
    assert load_payload(redis_url, SUBMISSION_ID, Budget(60)).failure_tag == "payload-invalid"


def test_malformed_payload_logs_no_code(redis_client, redis_url, caplog):
    secret_code = "print('this line is the student code 42')"
    write_payload(redis_client, make_payload(secret_code))
    redis_client.hset(submission_key(SUBMISSION_ID), "language", "cobol")
    assert load_payload(redis_url, SUBMISSION_ID, Budget(60)).failure_tag == "payload-invalid"
    (logged,) = [r for r in caplog.records if r.getMessage() == "payload malformed"]
    assert "language" in logged.fields
    assert "student code" not in caplog.text


def test_redis_down_for_a_while_then_up(redis_factory):
    server = redis_factory(appendonly=True)
    payload = make_payload()
    write_payload(server.client(), payload)
    server.stop()
    restart = threading.Timer(1.0, server.start)
    restart.start()
    try:
        loaded = load_payload(server.url, SUBMISSION_ID, Budget(60))
    finally:
        restart.join()
    assert (loaded.payload, loaded.failure_tag) == (payload, None), "the runner waited for Redis to come back"


def test_redis_down_for_good_is_reported_within_the_budget(redis_factory):
    server = redis_factory()
    server.stop()
    started = time.monotonic()
    loaded = load_payload(server.url, SUBMISSION_ID, Budget(4))
    assert loaded.failure_tag == "payload-unavailable"
    assert time.monotonic() - started < 4
