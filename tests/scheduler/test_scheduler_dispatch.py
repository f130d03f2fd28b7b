"""The dispatch loop against the fake Kubernetes API over HTTP and a real Redis."""

import json

from scheduler_harness import MASTER_TOKEN, QUEUE, job_env, message, sid, wait_for

from cloudemy_common.tokens import submission_token

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
    assert env["INTERNAL_RESULT_TOKEN"] == submission_token(MASTER_TOKEN, sid(1))
    assert MASTER_TOKEN not in json.dumps(k8s_api.get_job(f"runner-{sid(1)}"))
    report = wait_for(lambda: backend.posts(f"/submissions/{sid(1)}/status"), what="dispatched report")[0]
    assert report["body"] == {"status": "dispatched", "job_name": f"runner-{sid(1)}"}
    assert report["token"] == MASTER_TOKEN
    assert k8s_api.created_names() == [f"runner-{sid(1)}"]
