"""The fake API plays the Job controller as the real one behaves: podFailurePolicy (Ignore a disruption, FailJob on
exit codes, count the rest against backoffLimit), the deadline counted from the Job's creation, FailedCreate, and
a Job deleted while its pod still runs."""

import time

import pytest

from fakes.k8s_api import FakeKubernetesAPI

POLICY = {"rules": [
    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
    {"action": "FailJob", "onExitCodes": {"containerName": "runner", "operator": "In", "values": [1, 2]}},
]}  # fmt: skip


def job_body(name: str = "runner-a", **spec: object) -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"backoffLimit": 1, "podFailurePolicy": POLICY, **spec,
                     "template": {"spec": {"containers": [{"name": "runner", "image": "runner:1"}]}}}}  # fmt: skip


@pytest.fixture
def api():
    with FakeKubernetesAPI() as server:
        yield server


def condition(api: FakeKubernetesAPI, name: str) -> tuple[str, str | None]:
    last = api.get_job(name)["status"]["conditions"][-1]
    return last["type"], last.get("reason")


def test_an_evicted_pod_is_replaced_without_counting_a_failure(api):
    api.create_job("default", job_body())
    api.set_pod_state("runner-a", phase="Running")
    replacement = api.evict_pod("runner-a")
    assert replacement is not None
    first, second = api.pods_of("runner-a")
    assert first["status"]["phase"] == "Failed"
    assert first["status"]["reason"] == "Evicted"
    assert {"type": "DisruptionTarget", "status": "True"}.items() <= first["status"]["conditions"][-1].items()
    assert second["metadata"]["name"] == replacement
    assert not api.get_job("runner-a")["status"].get("failed")
    assert api.pod_exited("runner-a", 0) is None
    assert condition(api, "runner-a") == ("Complete", None)


def test_exit_codes_of_the_failjob_rule_fail_the_job_at_once(api):
    api.create_job("default", job_body())
    assert api.pod_exited("runner-a", 1) is None
    assert condition(api, "runner-a") == ("Failed", "PodFailurePolicy")
    assert len(api.pods_of("runner-a")) == 1, "no second run"


def test_other_exit_codes_count_against_the_backoff_limit(api):
    api.create_job("default", job_body())
    assert api.pod_exited("runner-a", 3) is not None  # backoffLimit 1: one more pod
    assert api.get_job("runner-a")["status"]["failed"] == 1
    assert api.pod_exited("runner-a", 3) is None
    assert condition(api, "runner-a") == ("Failed", "BackoffLimitExceeded")


def test_the_deadline_counts_from_the_jobs_creation_and_deletes_its_running_pod(api):
    told = []
    api.on_deadline.append(lambda namespace, name: told.append(name))
    started = time.monotonic()
    api.create_job("default", job_body(activeDeadlineSeconds=1))
    api.set_pod_state("runner-a", phase="Running")
    deadline = time.monotonic() + 5
    while not told and time.monotonic() < deadline:
        time.sleep(0.05)
    assert told == ["runner-a"]
    assert 0.9 < time.monotonic() - started < 3
    assert condition(api, "runner-a") == ("Failed", "DeadlineExceeded")
    assert api.pods_of("runner-a") == []


def test_refused_pod_creation_leaves_the_job_without_a_pod_or_an_active_count(api):
    api.refuse_pod_creation()
    api.create_job("default", job_body())
    assert api.pods_of("runner-a") == []
    assert not api.get_job("runner-a")["status"].get("active")
    api.allow_pod_creation()
    api.create_job("default", job_body("runner-b"))
    assert len(api.pods_of("runner-b")) == 1


def test_a_job_deleted_under_its_running_pod_is_tolerated(api):
    """A kubelet reporting the end of a pod whose Job was deleted meanwhile (by the stuck-pod sweep, say)."""
    deleted = []
    api.on_delete.append(lambda namespace, name: deleted.append(name))
    api.create_job("default", job_body())
    api.set_pod_state("runner-a", phase="Running")
    assert api.delete_job("default", "runner-a")[0] == 200
    assert deleted == ["runner-a"]
    assert api.pod_exited("runner-a", 0) is None
    assert api.evict_pod("runner-a") is None
    api.mark_complete("runner-a")
    api.mark_failed("runner-a", "DeadlineExceeded")
    api.set_pod_state("runner-a", phase="Succeeded")
    assert api.get_job("runner-a") is None
