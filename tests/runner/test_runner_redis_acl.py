"""A runner with the least-privilege Redis user (cloudemy_common.redis_policy.RUNNER_ACL_RULES) can do its
job, and nothing else: no queue, no writing payloads, no other student's data beyond payload reads."""

from typing import Any

import pytest
import redis
from runner_support import ASSIGNMENT_ID, SUBMISSION_ID, make_payload, write_inline_payload

from cloudemy_common.keys import assignment_snapshot_key
from cloudemy_common.llm_budget import BreakerSettings, BudgetLimits, LlmBreaker, LlmBudget
from cloudemy_common.payload_store import write_payload
from cloudemy_common.redis_policy import RUNNER_ACL_RULES
from cloudemy_runner.config import Budget
from cloudemy_runner.payload import load_payload

PASSWORD = "runner-password-for-acl-tests"


@pytest.fixture
def runner_url(redis_server: Any, redis_client: redis.Redis) -> Any:
    redis_client.acl_setuser("cloudemy-runner", reset=True)
    redis_client.execute_command("ACL", "SETUSER", "cloudemy-runner", "on", f">{PASSWORD}", *RUNNER_ACL_RULES)
    yield redis_server.url.replace("redis://", f"redis://cloudemy-runner:{PASSWORD}@")
    redis_client.acl_deluser("cloudemy-runner")


def test_runner_user_reads_its_payload_and_uses_the_budget(runner_url: str, redis_client: redis.Redis) -> None:
    payload = make_payload()
    write_payload(redis_client, payload)
    assert load_payload(runner_url, SUBMISSION_ID, Budget(30)).payload == payload, "hash and snapshot both read"
    client = redis.Redis.from_url(runner_url)
    budget = LlmBudget(client, BudgetLimits(requests_per_minute=60, tokens_per_minute=100_000))
    assert budget.reserve(1_000, 10).reserved
    budget.correct(1_000, 1_500)
    breaker = LlmBreaker(client, BreakerSettings(failures=2))
    breaker.record_failure()
    assert breaker.record_failure().is_open
    assert breaker.record_success().state == "closed"
    client.close()


def test_runner_user_reads_an_inline_payload_of_the_previous_release(
    runner_url: str, redis_client: redis.Redis
) -> None:
    payload = make_payload()
    write_inline_payload(redis_client, payload)
    assert load_payload(runner_url, SUBMISSION_ID, Budget(30)).payload == payload


SNAPSHOT_KEY = assignment_snapshot_key(ASSIGNMENT_ID, "0" * 32)


@pytest.mark.parametrize(
    "forbidden",
    [
        ("LPUSH", "queue:submissions", "{}"),
        ("LRANGE", "queue:submissions", "0", "-1"),
        ("HSET", "submission:" + "0" * 24, "code", "x"),
        ("DEL", "submission:" + "0" * 24),
        ("SET", SNAPSHOT_KEY, "{}"),
        ("SET", SNAPSHOT_KEY, "{}", "NX", "EX", "60"),
        ("APPEND", SNAPSHOT_KEY, "x"),
        ("DEL", SNAPSHOT_KEY),
        ("EXPIRE", SNAPSHOT_KEY, "1"),
        ("EVAL", "return redis.call('SET', KEYS[1], '{}')", "1", SNAPSHOT_KEY),
        ("GET", SNAPSHOT_KEY.replace("assignment:", "assignment-refs:")),  # who submitted: the backend's only
        ("GET", "sweep:lease"),
        ("KEYS", "*"),
        ("SCAN", "0"),
        ("CONFIG", "GET", "*"),
        ("FLUSHALL",),
        ("EVAL", "return redis.call('LRANGE', 'queue:submissions', 0, -1)", "0"),
        ("PUBLISH", "x", "y"),
    ],
)
def test_runner_user_can_do_nothing_else(runner_url: str, forbidden: tuple[str, ...]) -> None:
    client = redis.Redis.from_url(runner_url)
    with pytest.raises(redis.exceptions.ResponseError, match=r"(?i)permission|can.t run"):
        client.execute_command(*forbidden)
    client.close()
