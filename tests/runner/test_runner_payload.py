"""Loading ``submission:{id}`` from a real Redis: missing, expired, malformed, and Redis going away."""

import threading
import time

from runner_support import SUBMISSION_ID, make_payload

from cloudemy_common.keys import submission_key
from cloudemy_runner.config import Budget
from cloudemy_runner.payload import load_payload


def test_loads_the_payload_the_backend_wrote(redis_client, redis_url):
    payload = make_payload()
    redis_client.hset(submission_key(SUBMISSION_ID), mapping=payload.to_redis_hash())
    loaded = load_payload(redis_url, SUBMISSION_ID, Budget(60))
    assert (loaded.payload, loaded.failure_tag) == (payload, None)


def test_expired_payload_is_missing(redis_client, redis_url):
    key = submission_key(SUBMISSION_ID)
    redis_client.hset(key, mapping=make_payload().to_redis_hash())
    redis_client.pexpire(key, 50)
    time.sleep(0.1)
    assert load_payload(redis_url, SUBMISSION_ID, Budget(60)).failure_tag == "payload-missing"


def test_malformed_assignment_json_is_invalid(redis_client, redis_url):
    fields = make_payload().to_redis_hash() | {"assignment": "{not json"}
    redis_client.hset(submission_key(SUBMISSION_ID), mapping=fields)
    assert load_payload(redis_url, SUBMISSION_ID, Budget(60)).failure_tag == "payload-invalid"


def test_payload_of_another_submission_is_invalid(redis_client, redis_url):
    other = make_payload().to_redis_hash() | {"submission_id": "0" * 24}
    redis_client.hset(submission_key(SUBMISSION_ID), mapping=other)
    assert load_payload(redis_url, SUBMISSION_ID, Budget(60)).failure_tag == "payload-invalid"


def test_malformed_payload_logs_no_code(redis_client, redis_url, caplog):
    secret_code = "print('this line is the student code 42')"
    fields = make_payload(secret_code).to_redis_hash() | {"language": "cobol"}
    redis_client.hset(submission_key(SUBMISSION_ID), mapping=fields)
    assert load_payload(redis_url, SUBMISSION_ID, Budget(60)).failure_tag == "payload-invalid"
    (logged,) = [r for r in caplog.records if r.getMessage() == "payload malformed"]
    assert "language" in logged.fields
    assert "student code" not in caplog.text


def test_redis_down_for_a_while_then_up(redis_factory):
    server = redis_factory(appendonly=True)
    payload = make_payload()
    server.client().hset(submission_key(SUBMISSION_ID), mapping=payload.to_redis_hash())
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
