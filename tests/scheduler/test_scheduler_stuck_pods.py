"""Runner Jobs that never start (Unschedulable, no pod, image pull failing) end as an ``error`` within their bound,
once, with the Job deleted and the cause counted; a pod that is only slow to start is left alone."""

import time

import pytest
from prometheus_client import REGISTRY
from scheduler_harness import QUEUE, message, sid, wait_for

from cloudemy_scheduler.stuck_pods import PendingBounds, stuck_cause

SLOTS = QUEUE + ":active-jobs"
SHORT = {"pod_unschedulable_timeout_seconds": 2, "pod_create_timeout_seconds": 2, "image_pull_timeout_seconds": 2}


def stuck_count(cause: str) -> float:
    return REGISTRY.get_sample_value("cloudemy_scheduler_stuck_jobs_total", {"cause": cause}) or 0.0


def dispatch(k8s_api, redis_client, n):
    redis_client.rpush(QUEUE, message(n))
    name = f"runner-{sid(n)}"
    wait_for(lambda: k8s_api.get_job(name), what=f"Job {name}")
    return name


def ends_as_error(k8s_api, backend, redis_client, name, n, tag, *, within):
    started = time.monotonic()
    result = wait_for(lambda: backend.results_for(sid(n)), timeout=within + 5, what=f"{tag} result")[0]
    assert result["status"] == "error"
    assert result["fail_tags"] == [tag]
    assert result.get("score") is None
    assert "resubmit" in result["feedback"]
    wait_for(lambda: k8s_api.get_job(name) is None, what="the stuck Job deleted")
    wait_for(lambda: redis_client.zcard(SLOTS) == 0, what="its slot freed")
    time.sleep(1)  # the deletion, and later sweeps, must not report it again
    assert len(backend.results_for(sid(n))) == 1
    return result, time.monotonic() - started


def test_an_unschedulable_pod_ends_as_pod_unschedulable(k8s_api, backend, redis_client, start_scheduler):
    start_scheduler(**SHORT)
    before = stuck_count("pod-unschedulable")
    name = dispatch(k8s_api, redis_client, 1)
    k8s_api.set_pod_scheduled(name, False, message="0/3 nodes are available: 3 Insufficient memory.")
    result, took = ends_as_error(k8s_api, backend, redis_client, name, 1, "pod-unschedulable", within=2)
    assert "Insufficient memory" in result["feedback"]
    assert took >= 1.5, "not before its bound"
    assert stuck_count("pod-unschedulable") == before + 1


def test_a_job_whose_pod_is_never_created_ends_as_pod_not_created(k8s_api, backend, redis_client, start_scheduler):
    start_scheduler(**SHORT)
    before = stuck_count("pod-not-created")
    k8s_api.refuse_pod_creation()  # a full ResourceQuota: the Job controller's creates fail (FailedCreate)
    name = dispatch(k8s_api, redis_client, 2)
    assert k8s_api.pods_of(name) == []
    ends_as_error(k8s_api, backend, redis_client, name, 2, "pod-not-created", within=2)
    assert stuck_count("pod-not-created") == before + 1


def test_an_image_pull_in_backoff_ends_as_image_pull_failed(k8s_api, backend, redis_client, start_scheduler):
    start_scheduler(**SHORT)
    before = stuck_count("image-pull-failed")
    name = dispatch(k8s_api, redis_client, 3)
    k8s_api.set_pod_scheduled(name, True)
    k8s_api.set_pod_state(name, waiting_reason="ErrImagePull")
    time.sleep(0.5)
    k8s_api.set_pod_state(name, waiting_reason="ImagePullBackOff")
    result, _ = ends_as_error(k8s_api, backend, redis_client, name, 3, "image-pull-failed", within=2)
    assert "ImagePullBackOff" in result["feedback"]
    assert stuck_count("image-pull-failed") == before + 1


def test_a_pod_that_waits_less_than_its_bound_and_then_runs_is_left_alone(
    k8s_api, backend, redis_client, start_scheduler
):
    scheduler = start_scheduler(**SHORT)
    name = dispatch(k8s_api, redis_client, 4)
    k8s_api.set_pod_scheduled(name, False)
    time.sleep(1)
    k8s_api.set_pod_scheduled(name, True)
    k8s_api.set_pod_state(name, phase="Running")
    sweep = scheduler.scheduler.executor.stuck_pods
    seen = sweep.sweeps
    wait_for(lambda: sweep.sweeps >= seen + 8, what="sweeps well past every bound")
    assert backend.results_for(sid(4)) == []
    assert k8s_api.get_job(name) is not None
    assert sweep.runner_seen(name)[1] is not None, "the sweep saw the runner start"


BOUNDS = PendingBounds(unschedulable=120, not_created=60, image_pull=60)
CREATED = "2026-01-01T10:00:00Z"
T0 = 1767261600.0  # CREATED as Unix time
LATER = "2026-01-01T10:01:40Z"  # 100 s after CREATED


def job(**status) -> dict:
    return {"metadata": {"name": "runner-x", "creationTimestamp": CREATED}, "status": status}


def pod(*, conditions=(), waiting=None, phase="Pending") -> dict:
    status: dict = {"phase": phase, "conditions": list(conditions)}
    if waiting:
        status["containerStatuses"] = [{"name": "runner", "state": {"waiting": {"reason": waiting}}}]
    return {"metadata": {"name": "runner-x-abc", "creationTimestamp": CREATED}, "status": status}


def scheduled(status: str, at: str = CREATED) -> dict:
    condition = {"type": "PodScheduled", "status": status, "lastTransitionTime": at}
    return condition | ({"reason": "Unschedulable"} if status == "False" else {})


@pytest.mark.parametrize(
    ("pods", "after", "cause"),
    [
        ([], 59, None),
        ([], 61, "pod-not-created"),
        ([pod(conditions=[scheduled("False")])], 119, None),
        ([pod(conditions=[scheduled("False")])], 121, "pod-unschedulable"),
        # the pull is timed from the pod's scheduling (here 100 s after the Job), not from the Job's creation
        ([pod(conditions=[scheduled("True", LATER)], waiting="ImagePullBackOff")], 150, None),
        ([pod(conditions=[scheduled("True", LATER)], waiting="ImagePullBackOff")], 161, "image-pull-failed"),
        ([pod(conditions=[scheduled("True")], waiting="ContainerCreating")], 1000, None),  # slow, not failing
        ([pod(conditions=[scheduled("False")], phase="Running")], 1000, None),
    ],
)
def test_each_bound_counts_from_the_api_servers_timestamps(pods, after, cause):
    stuck = stuck_cause(job(), pods, BOUNDS, T0 + after)
    assert (stuck.cause if stuck else None) == cause


@pytest.mark.parametrize("status", [{"active": 1}, {"succeeded": 1}, {"failed": 1}])
def test_a_job_whose_pod_has_ended_is_not_taken_for_one_without_a_pod(status):
    """Only live pods are listed: a Job the controller counted a pod for is not pod-less."""
    assert stuck_cause(job(**status), [], BOUNDS, T0 + 1000) is None


def test_the_sweep_lists_only_live_runner_pods(k8s_api, backend, redis_client, start_scheduler):
    scheduler = start_scheduler(**SHORT)
    name = dispatch(k8s_api, redis_client, 5)
    k8s_api.pod_exited(name, 0)  # Complete: its pod Succeeded
    sweep = scheduler.scheduler.executor.stuck_pods
    seen = sweep.sweeps
    wait_for(lambda: sweep.sweeps >= seen + 2, what="two sweeps")
    lists = [c for c in k8s_api.calls if c.path.endswith("/pods") and c.method == "GET"]
    assert lists[-1].query["fieldSelector"] == "status.phase!=Succeeded,status.phase!=Failed"
    assert "app.kubernetes.io/component=runner" in lists[-1].query["labelSelector"]


# ---- DeadlineExceeded: the student's timeout only when the runner had its whole grading time ---------------------

GRADING_SECONDS, ALLOWANCE_SECONDS = 6, 2  # a Job deadline of 8 s, enforced by the fake Job controller


@pytest.fixture
def short_deadline_scheduler(tmp_path, backend, start_scheduler):
    from scheduler_harness import job_template_file

    template = job_template_file(tmp_path / "short-job.yaml", backend.internal_url,
                                 f"runner.job.activeDeadlineSeconds={GRADING_SECONDS}",
                                 f"runner.job.startupAllowanceSeconds={ALLOWANCE_SECONDS}")  # fmt: skip
    # The Unschedulable check stays out of the way; the short others keep the sweep looking every 0.5 s.
    bounds = {**SHORT, "pod_unschedulable_timeout_seconds": 30}
    return start_scheduler(runner_job_template=str(template), **bounds)


def deadline_result(k8s_api, backend, redis_client, n, *, pending):
    name = dispatch(k8s_api, redis_client, n)
    assert k8s_api.get_job(name)["spec"]["activeDeadlineSeconds"] == GRADING_SECONDS + ALLOWANCE_SECONDS
    if pending is not None:
        k8s_api.set_pod_scheduled(name, False)
        time.sleep(pending)
        k8s_api.set_pod_scheduled(name, True)
        k8s_api.set_pod_state(name, phase="Running")
    result = wait_for(lambda: backend.results_for(sid(n)), timeout=20, what="the deadline's result")[0]
    assert k8s_api.get_job(name)["status"]["conditions"][-1]["reason"] == "DeadlineExceeded"
    assert k8s_api.pods_of(name) == [], "the Job controller deleted the running pod"
    return result


def test_a_runner_that_had_its_whole_grading_time_times_out(k8s_api, backend, redis_client, short_deadline_scheduler):
    result = deadline_result(k8s_api, backend, redis_client, 11, pending=0.2)
    assert (result["status"], result["fail_tags"]) == ("timeout", ["deadline-exceeded"])


def test_a_runner_the_cluster_started_too_late_is_not_a_timeout(
    k8s_api, backend, redis_client, short_deadline_scheduler
):
    """Pending 4 s of a 2 s allowance: the runner had about 4 s of its 6; the pod is gone when the Job fails, so
    the sweep's record of the runner's start decides."""
    result = deadline_result(k8s_api, backend, redis_client, 12, pending=4)
    assert (result["status"], result["fail_tags"]) == ("error", ["started-late"])
    assert "after the job" in result["feedback"]


def test_a_runner_that_never_started_is_not_a_timeout(k8s_api, backend, redis_client, short_deadline_scheduler):
    result = deadline_result(k8s_api, backend, redis_client, 13, pending=None)
    assert (result["status"], result["fail_tags"]) == ("error", ["started-late"])
    assert "never started" in result["feedback"]
