"""The Job watcher: ended Jobs become results at the backend; a 410 Gone causes a re-list."""

import subprocess
import sys

import httpx
import pytest
from scheduler_harness import MASTER_TOKEN, QUEUE, message, sid, wait_for

from cloudemy_common.keys import submission_key

SLOTS = QUEUE + ":active-jobs"


def dispatch(k8s_api, redis_client, n, attempt=None):
    redis_client.rpush(QUEUE, message(n, attempt))
    name = f"runner-{sid(n)}" + (f"-{attempt}" if attempt and attempt > 1 else "")
    wait_for(lambda: k8s_api.get_job(name), what=f"Job {name}")
    return name


def test_deadline_exceeded_becomes_a_timeout_result(k8s_api, backend, redis_client, start_scheduler):
    start_scheduler()
    name = dispatch(k8s_api, redis_client, 1)
    k8s_api.set_pod_state(name, phase="Running")
    k8s_api.mark_failed(name, "DeadlineExceeded", "Job was active longer than specified deadline")
    post = wait_for(lambda: backend.posts(f"/submissions/{sid(1)}/result"), what="timeout result")[0]
    assert post.token == MASTER_TOKEN
    assert post.query == {"attempt": "1"}
    result = post.body
    assert result["status"] == "timeout"
    assert result["fail_tags"] == ["deadline-exceeded"]
    assert "120 s" in result["feedback"]
    assert result["metrics"]["job_name"] == name
    wait_for(lambda: redis_client.zcard(SLOTS) == 0, what="slot freed")


@pytest.mark.parametrize(
    ("pod_state", "reason", "tag"),
    [
        ({"terminated_reason": "Error", "exit_code": 1}, "BackoffLimitExceeded", "backoff-limit-exceeded"),
        ({"phase": "Failed", "pod_reason": "Evicted"}, "BackoffLimitExceeded", "pod-evicted"),
        ({"terminated_reason": "OOMKilled", "exit_code": 137}, "BackoffLimitExceeded", "oom-killed"),
        ({"waiting_reason": "ImagePullBackOff"}, "DeadlineExceeded", "image-pull-failed"),
        ({"terminated_reason": "Error"}, "PodFailurePolicy", "pod-failure-policy"),
    ],
)
def test_other_failures_become_error_results_naming_the_cause(
    k8s_api, backend, redis_client, start_scheduler, pod_state, reason, tag
):
    start_scheduler()
    name = dispatch(k8s_api, redis_client, 2)
    k8s_api.set_pod_state(name, **pod_state)
    k8s_api.mark_failed(name, reason)
    result = wait_for(lambda: backend.results_for(sid(2)), what="error result")[0]
    assert result["status"] == "error"
    assert result["fail_tags"] == [tag]
    assert result["feedback"]


def test_completed_job_frees_its_slot_and_reports_nothing(k8s_api, backend, redis_client, start_scheduler):
    start_scheduler()
    name = dispatch(k8s_api, redis_client, 3)
    wait_for(lambda: redis_client.zcard(SLOTS) == 1, what="slot taken")
    k8s_api.mark_complete(name)
    wait_for(lambda: redis_client.zcard(SLOTS) == 0, what="slot freed")
    assert backend.posts("/result") == []


def test_image_pull_stuck_past_the_bound_is_reported_and_deleted(k8s_api, backend, redis_client, start_scheduler):
    start_scheduler(image_pull_timeout_seconds=1.5)
    name = dispatch(k8s_api, redis_client, 4)
    k8s_api.set_pod_state(name, waiting_reason="ErrImagePull")
    result = wait_for(lambda: backend.results_for(sid(4)), timeout=10, what="image pull error")[0]
    assert result["fail_tags"] == ["image-pull-failed"]
    wait_for(lambda: k8s_api.get_job(name) is None, what="stuck Job deleted")
    assert len(backend.results_for(sid(4))) == 1, "the deletion is not reported a second time"


def test_410_gone_causes_a_relist_and_no_ending_is_missed(k8s_api, backend, redis_client, start_scheduler):
    scheduler = start_scheduler()
    watcher = scheduler.scheduler.executor.watcher
    name = dispatch(k8s_api, redis_client, 5)
    wait_for(lambda: name in (watcher.unfinished_job_names() or set()), what="watcher saw the Job")
    k8s_api.expire_watches()
    k8s_api.mark_failed(name, "DeadlineExceeded")
    wait_for(lambda: watcher.relists >= 1, what="a re-list after 410")
    assert wait_for(lambda: backend.results_for(sid(5)), what="timeout result")[0]["status"] == "timeout"
    lists = [c for c in k8s_api.calls if c.path.endswith("/jobs") and c.method == "GET" and "watch" not in c.query]
    assert len(lists) >= 2, "listed at start and again after the 410"
    name6 = dispatch(k8s_api, redis_client, 6)
    k8s_api.mark_failed(name6, "BackoffLimitExceeded")
    assert wait_for(lambda: backend.results_for(sid(6)), what="watch resumed")[0]["status"] == "error"


def test_ending_of_a_superseded_attempt_is_not_reported(k8s_api, backend, redis_client, start_scheduler):
    start_scheduler()
    name = dispatch(k8s_api, redis_client, 7)
    redis_client.hset(submission_key(sid(7)), mapping={"attempt": "2"})  # an instructor queued a regrade
    k8s_api.mark_failed(name, "DeadlineExceeded")
    wait_for(lambda: redis_client.zcard(SLOTS) == 0, what="slot freed")
    name2 = dispatch(k8s_api, redis_client, 7, attempt=2)
    k8s_api.mark_failed(name2, "DeadlineExceeded")
    results = wait_for(lambda: backend.results_for(sid(7)), what="the second attempt's result")
    assert [r["metrics"]["attempt"] for r in results] == [2]
    assert [p.query for p in backend.posts(f"/submissions/{sid(7)}/result")] == [{"attempt": "2"}]


def test_jobs_that_ended_while_no_scheduler_ran_are_reported_at_start(k8s_api, backend, redis_client, start_scheduler):
    first = start_scheduler()
    name = dispatch(k8s_api, redis_client, 8)
    first.stop()
    k8s_api.mark_failed(name, "DeadlineExceeded")
    start_scheduler()
    assert wait_for(lambda: backend.results_for(sid(8)), what="reported after restart")[0]["status"] == "timeout"


@pytest.fixture
def real_backend(redis_url, tmp_path):
    """``python -m cloudemy_backend`` with its in-memory store, on this test's Redis and master token."""
    from scheduler_harness import ProcessScheduler

    from fakes.ports import free_port

    port = free_port()
    env = {**ProcessScheduler({}).env, "PORT": str(port), "MONGO_URI": "memory://", "DB_NAME": "cloudemy",
           "REDIS_URL": redis_url, "QUEUE_SUBMISSIONS": QUEUE, "INTERNAL_RESULT_TOKEN": MASTER_TOKEN,
           "JWT_SECRET": "jwt-secret-for-scheduler-tests-0123456789", "ALLOW_SIGNUP": "true",
           "CLOUDEMY_ADMIN_EMAIL": "admin@example.com", "CLOUDEMY_ADMIN_PASSWORD": "admin-password-123",
           "BACKEND_INTERNAL_URL": f"http://127.0.0.1:{port}/internal", "LOG_LEVEL": "WARNING"}  # fmt: skip
    log = open(tmp_path / "backend.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "cloudemy_backend"], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"

    def ready():
        assert proc.poll() is None, (tmp_path / "backend.log").read_text()[-2000:]
        try:
            return httpx.get(url + "/readyz", timeout=1, trust_env=False).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(ready, timeout=60, interval=0.2, what="backend /readyz")
    yield url
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


def test_deadline_exceeded_ends_as_timeout_at_the_real_backend(real_backend, k8s_api, redis_client, start_scheduler):
    api = httpx.Client(base_url=real_backend, timeout=10, trust_env=False)
    credentials = {"username": "admin@example.com", "password": "admin-password-123"}
    admin = {"Authorization": f"Bearer {api.post('/api/auth/token', data=credentials).json()['access_token']}"}
    rubric = [{"id": "correct", "title": "Correct", "description": "adds", "points": 10}]
    course = api.post("/api/courses", headers=admin, json={"code": "K8S", "title": "Watcher"}).json()
    assignment = api.post(f"/api/courses/{course['id']}/assignments", headers=admin, json={
        "title": "Add", "description": "Write add(a, b).", "languages": ["python"], "rubric": rubric,
        "published": True})  # fmt: skip
    assert assignment.status_code == 201, assignment.text
    submitted = api.post(f"/api/assignments/{assignment.json()['id']}/submissions", headers=admin,
                         json={"language": "python", "code": "def add(a, b):\n    return a + b\n"})  # fmt: skip
    assert submitted.status_code == 202, submitted.text
    submission_id = submitted.json()["id"]

    start_scheduler(backend_internal_url=f"{real_backend}/internal")
    name = f"runner-{submission_id}"
    wait_for(lambda: k8s_api.get_job(name), what="the runner Job")

    def status():
        return api.get(f"/api/submissions/{submission_id}", headers=admin).json()

    wait_for(lambda: status()["status"] == "dispatched", what="dispatched at the backend")
    k8s_api.mark_failed(name, "DeadlineExceeded", "Job was active longer than specified deadline")
    final = wait_for(lambda: (s := status())["status"] == "timeout" and s, what="timeout at the backend")
    assert final["result"]["status"] == "timeout"
    assert final["result"]["fail_tags"] == ["deadline-exceeded"]
    assert "time limit" in final["result"]["feedback"]
