"""The dispatch loop against the fake Kubernetes API over HTTP and a real Redis."""

import json

from scheduler_harness import MASTER_TOKEN, QUEUE, job_env, message, sid, wait_for

from cloudemy_common.tokens import result_grant

PROCESSING = QUEUE + ":processing"
DEAD = QUEUE + ":dead"


def drained(redis_client):
    return redis_client.llen(QUEUE) == 0 and redis_client.llen(PROCESSING) == 0


def test_message_becomes_one_job_and_leaves_processing(k8s_api, backend, redis_client, start_scheduler):
    start_scheduler()
    redis_client.rpush(QUEUE, message(1))
    wait_for(lambda: k8s_api.get_job(f"runner-{sid(1)}"), what="the Job")
    wait_for(lambda: drained(redis_client), what="queue and processing empty")
    env = job_env(k8s_api, f"runner-{sid(1)}")
    assert env["SUBMISSION_ID"] == sid(1)
    grant = result_grant(MASTER_TOKEN, sid(1), env["INTERNAL_RESULT_TOKEN"])
    assert grant is not None
    assert (grant.kind, grant.attempt) == ("attempt", 1), "bound to this attempt, with an expiry"
    assert result_grant(MASTER_TOKEN, sid(2), env["INTERNAL_RESULT_TOKEN"]) is None
    assert MASTER_TOKEN not in json.dumps(k8s_api.get_job(f"runner-{sid(1)}"))
    report = wait_for(lambda: backend.posts(f"/submissions/{sid(1)}/status"), what="dispatched report")[0]
    assert report.body == {"status": "dispatched", "job_name": f"runner-{sid(1)}"}
    assert report.token == MASTER_TOKEN
    assert report.query == {"attempt": "1"}
    assert k8s_api.created_names() == [f"runner-{sid(1)}"]


def test_existing_job_409_counts_as_dispatched(k8s_api, backend, redis_client, start_scheduler):
    name = f"runner-{sid(2)}"
    k8s_api.create_job("default", {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
                                   "spec": {"template": {"spec": {"containers": [{"name": "runner"}]}}}})  # fmt: skip
    start_scheduler()
    redis_client.rpush(QUEUE, message(2))
    wait_for(lambda: backend.posts(f"/submissions/{sid(2)}/status"), what="dispatched report")
    wait_for(lambda: drained(redis_client), what="queue and processing empty")
    creates = k8s_api.create_calls()
    assert [c.status for c in creates] == [409]
    assert k8s_api.created_names() == [], "the pre-existing Job was not replaced"


def test_regrade_attempt_gets_its_own_job(k8s_api, redis_client, start_scheduler):
    start_scheduler()
    redis_client.rpush(QUEUE, message(3), message(3, attempt=2))
    wait_for(lambda: len(k8s_api.created_names()) == 2, what="two Jobs")
    assert k8s_api.created_names() == [f"runner-{sid(3)}", f"runner-{sid(3)}-2"]
    assert k8s_api.get_job(f"runner-{sid(3)}-2")["metadata"]["labels"]["cloudemy.io/attempt"] == "2"


def test_malformed_messages_go_to_dead_with_reason_and_the_loop_goes_on(k8s_api, redis_client, start_scheduler):
    bad = [
        "not json at all",
        json.dumps({"submission_id": "xyz", "language": "python"}),
        json.dumps({"submission_id": sid(4), "language": "cobol"}),
        json.dumps({"submission_id": sid(4), "language": "python", "attempt": 0}),
        json.dumps({"submission_id": sid(4), "language": "python", "extra": 1}),
        json.dumps([1, 2, 3]),
        "",
        "\x00\xff binary-ish",
    ]
    start_scheduler()
    redis_client.rpush(QUEUE, *bad, message(5))
    wait_for(lambda: k8s_api.get_job(f"runner-{sid(5)}"), what="the good message's Job")
    wait_for(lambda: redis_client.llen(DEAD) == len(bad), what="dead letters")
    dead = [json.loads(entry) for entry in redis_client.lrange(DEAD, 0, -1)]
    assert [d["message"] for d in dead] == bad
    assert all(d["reason"].startswith("malformed message") for d in dead)
    assert k8s_api.created_names() == [f"runner-{sid(5)}"]
    wait_for(lambda: redis_client.llen(PROCESSING) == 0, what="the good message leaves processing once its Job exists")


def test_api_500s_are_retried_until_the_job_exists(k8s_api, backend, redis_client, start_scheduler):
    k8s_api.fail_next(4, 500, method="POST")
    start_scheduler()
    redis_client.rpush(QUEUE, message(6))
    wait_for(lambda: k8s_api.get_job(f"runner-{sid(6)}"), what="the Job after 500s")
    assert [c.status for c in k8s_api.create_calls()] == [500, 500, 500, 500, 201]
    wait_for(lambda: drained(redis_client), what="processing empty")


def test_message_stays_in_processing_while_the_api_times_out(k8s_api, redis_client, start_scheduler):
    k8s_api.delay_seconds = 1.5  # longer than K8S_REQUEST_TIMEOUT_SECONDS=1
    start_scheduler()
    redis_client.rpush(QUEUE, message(7))
    wait_for(lambda: len(k8s_api.create_calls()) >= 2, what="timed-out creates")
    assert redis_client.lrange(PROCESSING, 0, -1) == [message(7)]
    k8s_api.delay_seconds = 0
    wait_for(lambda: drained(redis_client), what="processing empty after recovery")
    assert k8s_api.created_names() == [f"runner-{sid(7)}"], "exactly one Job despite creates that timed out"


def test_api_down_at_start_up_then_up(k8s_api, redis_client, start_scheduler):
    k8s_api.stop()
    start_scheduler()
    redis_client.rpush(QUEUE, message(8), message(9))
    wait_for(lambda: redis_client.llen(PROCESSING) == 1, what="a message held while the API is down")
    assert redis_client.llen(QUEUE) == 1
    k8s_api.start()
    wait_for(lambda: drained(redis_client), timeout=20, what="both dispatched once the API is up")
    assert sorted(k8s_api.created_names()) == [f"runner-{sid(8)}", f"runner-{sid(9)}"]


def test_stop_while_api_down_gives_the_message_back(k8s_api, redis_client, start_scheduler):
    k8s_api.stop()
    scheduler = start_scheduler()
    redis_client.rpush(QUEUE, message(10))
    wait_for(lambda: redis_client.llen(PROCESSING) == 1, what="message in processing")
    scheduler.stop()
    assert redis_client.lrange(QUEUE, 0, -1) == [message(10)]
    assert redis_client.llen(PROCESSING) == 0
    assert redis_client.zcard(QUEUE + ":active-jobs") == 0


def test_job_rejected_by_api_is_dead_lettered_and_reported(k8s_api, backend, redis_client, start_scheduler):
    k8s_api.fail_next(1, 422, method="POST")
    start_scheduler()
    redis_client.rpush(QUEUE, message(11), message(12))
    wait_for(lambda: k8s_api.get_job(f"runner-{sid(12)}"), what="the next message still dispatched")
    dead = [json.loads(entry) for entry in redis_client.lrange(DEAD, 0, -1)]
    assert [d["message"] for d in dead] == [message(11)]
    assert dead[0]["reason"].startswith("job rejected")
    result = wait_for(lambda: backend.results_for(sid(11)), what="error result")[0]
    assert result["status"] == "error"
    assert result["fail_tags"] == ["cluster-refused"]


def test_cap_never_exceeded_and_work_waits_in_the_queue(k8s_api, redis_client, start_scheduler):
    cap = 3
    start_scheduler(max_active_jobs=cap)
    redis_client.rpush(QUEUE, *(message(100 + i) for i in range(12)))
    wait_for(lambda: len(k8s_api.created_names()) == cap, what="cap reached")
    wait_for(lambda: redis_client.llen(QUEUE) == 12 - cap, what="the rest left queued")
    wait_for(lambda: redis_client.llen(PROCESSING) == 0, what="the third message done with processing")
    assert redis_client.llen(QUEUE) == 12 - cap, "at the cap, work stays in the queue, not in processing"
    finished: set[str] = set()
    while len(finished) < 12:
        for job in k8s_api.unfinished_jobs():
            name = job["metadata"]["name"]
            if name not in finished:
                finished.add(name)
                k8s_api.mark_complete(name)
                break
        wait_for(lambda: len(k8s_api.unfinished_jobs()) == min(cap, 12 - len(finished)) or len(finished) == 12,
                 what="a freed slot refilled")  # fmt: skip
    assert len(k8s_api.created_names()) == 12
    # Only accepted creates count: a create the client timed out on and sent again is answered 409 (no new Job).
    assert k8s_api.max_active_at_create() == cap, "the cap was reached and never exceeded"
