"""``python -m cloudemy_scheduler`` as a process: health and metrics, SIGTERM, configuration errors, Redis outages."""

import time

import httpx
import pytest
from scheduler_harness import QUEUE, ProcessScheduler, message, scheduler_env, sid, wait_for

from fakes.ports import free_port

PROCESSING = QUEUE + ":processing"


@pytest.fixture
def process_env(redis_url, kubeconfig, backend, job_template):
    def make(**extra):
        port = free_port()
        return port, scheduler_env(
            redis_url, kubeconfig, backend.internal_url, job_template, metrics_port=port, **extra
        )

    return make


def test_healthz_and_metrics(process_env, redis_client, k8s_api, tmp_path):
    port, env = process_env()
    proc = ProcessScheduler(env, tmp_path / "scheduler.log").start()
    try:
        health = proc.wait_healthy(port)
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        redis_client.rpush(QUEUE, message(1), "garbage")
        wait_for(lambda: k8s_api.get_job(f"runner-{sid(1)}") and redis_client.llen(QUEUE + ":dead") == 1,
                 what="one dispatched, one dead")  # fmt: skip
        k8s_api.mark_failed(f"runner-{sid(1)}", "DeadlineExceeded")

        def metrics():
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", trust_env=False).text
            ready = 'cloudemy_scheduler_failures_total{reason="job-timeout"} 1.0' in text
            return text if ready and 'cloudemy_scheduler_queue_length{list="dead"} 1.0' in text else None

        text = wait_for(metrics, what="metrics")
        assert 'cloudemy_scheduler_dispatched_total{outcome="created"} 1.0' in text
        assert "cloudemy_scheduler_dispatch_latency_seconds_count 1.0" in text
        assert 'cloudemy_scheduler_failures_total{reason="malformed-message"} 1.0' in text
        assert "cloudemy_scheduler_active_jobs" in text
        assert httpx.get(f"http://127.0.0.1:{port}/nope", trust_env=False).status_code == 404
    finally:
        assert proc.terminate() == 0


def test_sigterm_finishes_the_dispatch_in_hand(process_env, redis_client, k8s_api, tmp_path):
    port, env = process_env(k8s_request_timeout_seconds=10)
    proc = ProcessScheduler(env, tmp_path / "scheduler.log").start()
    proc.wait_healthy(port)
    k8s_api.delay_seconds = 1.0  # a slow API: the create is in flight when SIGTERM arrives
    redis_client.rpush(QUEUE, message(2))
    wait_for(lambda: redis_client.llen(PROCESSING) == 1, what="dispatch in progress")
    assert proc.terminate() == 0
    assert k8s_api.get_job(f"runner-{sid(2)}") is not None, "the Job was created before exiting"
    assert redis_client.llen(PROCESSING) == 0
    assert redis_client.llen(QUEUE) == 0


def test_broken_template_is_a_configuration_error(process_env, tmp_path):
    bad = tmp_path / "job.yaml"
    bad.write_text("kind: Deployment\n")
    _, env = process_env(runner_job_template=bad)
    proc = ProcessScheduler(env, tmp_path / "scheduler.log").start()
    assert proc.wait(timeout=30) == 2
    assert "batch/v1" in (tmp_path / "scheduler.log").read_text()


def test_missing_job_template_is_a_configuration_error(process_env, tmp_path):
    _, env = process_env()
    del env["RUNNER_JOB_TEMPLATE"]
    proc = ProcessScheduler(env, tmp_path / "scheduler.log").start()
    assert proc.wait(timeout=30) == 2
    assert "RUNNER_JOB_TEMPLATE is not set" in (tmp_path / "scheduler.log").read_text()


def test_invalid_setting_is_a_configuration_error(process_env, tmp_path):
    _, env = process_env(max_active_jobs=0)
    proc = ProcessScheduler(env, tmp_path / "scheduler.log").start()
    assert proc.wait(timeout=30) == 2
    assert "max_active_jobs" in (tmp_path / "scheduler.log").read_text()


def test_missing_master_token_is_a_configuration_error(process_env, tmp_path):
    _, env = process_env(internal_result_token="")
    proc = ProcessScheduler(env, tmp_path / "scheduler.log").start()
    assert proc.wait(timeout=30) == 2
    assert "INTERNAL_RESULT_TOKEN" in (tmp_path / "scheduler.log").read_text()


def test_redis_down_at_start_and_in_the_middle(redis_factory, kubeconfig, backend, job_template, k8s_api, tmp_path):
    server = redis_factory(appendonly=True)
    server.stop()
    port = free_port()
    env = scheduler_env(server.url, kubeconfig, backend.internal_url, job_template, metrics_port=port)
    proc = ProcessScheduler(env, tmp_path / "scheduler.log").start()
    try:
        proc.wait_healthy(port)
        time.sleep(1.0)
        assert proc.proc.poll() is None, "the scheduler waits for Redis instead of exiting"
        server.start()
        client = server.client()
        client.rpush(QUEUE, message(3))
        wait_for(lambda: k8s_api.get_job(f"runner-{sid(3)}"), timeout=20, what="dispatch after Redis came up")
        server.restart(kill=True)
        client = server.client()
        client.rpush(QUEUE, message(4))
        wait_for(lambda: k8s_api.get_job(f"runner-{sid(4)}"), timeout=20, what="dispatch after a Redis restart")
        wait_for(lambda: client.llen(PROCESSING) == 0, what="processing empty")
    finally:
        assert proc.terminate() == 0
    assert sorted(k8s_api.created_names()) == [f"runner-{sid(3)}", f"runner-{sid(4)}"]
