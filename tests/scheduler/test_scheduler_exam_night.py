"""Exam-night behaviour of the dispatch loop: a cluster that refuses Jobs ends the submission at once (no loop),
a requeued attempt gets a Job of its own, and dispatch holds while the shared LLM breaker is open."""

import json
import time

from scheduler_harness import QUEUE, message, sid, wait_for

from cloudemy_common.llm_budget import BreakerSettings, LlmBreaker

DEAD = QUEUE + ":dead"


def test_403_quota_refusal_ends_the_submission_without_a_retry_loop(k8s_api, backend, redis_client, start_scheduler):
    k8s_api.fail_next(1, 403, method="POST")  # e.g. 'exceeded quota' or an admission webhook's denial
    start_scheduler()
    redis_client.rpush(QUEUE, message(31), message(32))
    wait_for(lambda: k8s_api.get_job(f"runner-{sid(32)}"), what="the next message still dispatched")
    result = wait_for(lambda: backend.results_for(sid(31)), what="error result")[0]
    assert (result["status"], result["fail_tags"]) == ("error", ["cluster-refused"])
    assert [c.status for c in k8s_api.create_calls()] == [403, 201], "one try, then the next message: never a loop"
    (dead,) = [json.loads(entry) for entry in redis_client.lrange(DEAD, 0, -1)]
    assert "403" in dead["reason"], "the API's answer is kept with the message"


def test_a_requeued_attempt_gets_a_job_of_its_own(k8s_api, backend, redis_client, start_scheduler):
    start_scheduler()
    first = message(33)
    again = json.dumps({"submission_id": sid(33), "language": "python", "attempt": 1, "requeue": 1})
    redis_client.rpush(QUEUE, first, again)
    wait_for(lambda: len(k8s_api.created_names()) == 2, timeout=40, what="two Jobs")
    assert sorted(k8s_api.created_names()) == [f"runner-{sid(33)}", f"runner-{sid(33)}-1-1"]
    posts = wait_for(
        lambda: (
            len(backend.posts(f"/submissions/{sid(33)}/status")) == 2
            and backend.posts(f"/submissions/{sid(33)}/status")
        ),
        timeout=40,
        what="both dispatched",
    )
    assert sorted(p.body["job_name"] for p in posts) == [f"runner-{sid(33)}", f"runner-{sid(33)}-1-1"]


def test_dispatch_holds_while_the_llm_breaker_is_open(k8s_api, backend, redis_client, start_scheduler):
    breaker = LlmBreaker(redis_client, BreakerSettings(failures=5, open_seconds=30))
    for _ in range(5):
        breaker.record_failure()
    start_scheduler()
    redis_client.rpush(QUEUE, message(34))
    time.sleep(1.5)
    assert k8s_api.created_names() == [], "no Job while every runner would fail"
    assert redis_client.llen(QUEUE) == 1, "the work waits in the queue"
    breaker.record_success()
    wait_for(lambda: k8s_api.get_job(f"runner-{sid(34)}"), what="dispatch resumed")
