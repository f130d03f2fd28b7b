"""Deadlines that count the right time, end to end (real backend, scheduler and runner processes; the fake Job
controller counts each Job's activeDeadlineSeconds from the Job's creation, as Kubernetes does).

The runner grades for its whole grading time (``runner.job.activeDeadlineSeconds``) from its own start; the Job's
deadline adds ``runner.job.startupAllowanceSeconds`` for the cluster to start it. Pending time inside the allowance
costs the student nothing; beyond it the runner ends early with ``error`` / ``started-late``, never ``timeout``.
A grading that outlives its own time is still a ``timeout``, never stuck."""

import time
from datetime import datetime

import pytest
from waiting import wait_for

from cloudemy_common.jobs import job_name
from e2e.conftest import open_campus
from e2e.kubelet import PodBehaviour


def grade_one(make_platform, *values: str, pods: PodBehaviour, model_seconds: float, timeout: float = 60):
    """A platform whose kubelet treats pods as ``pods`` says and whose model answers after ``model_seconds``: one
    submission, waited for until terminal. Returns the platform, the submission's id, its body and its runs."""
    platform = make_platform(*values)
    campus = open_campus(platform)
    platform.kubelet.behave(pods)
    platform.llm.set_mode("slow", delay=model_seconds)
    sid = campus.submit(campus.register_student())
    body = campus.wait([sid], timeout=timeout)[sid]
    runs = platform.kubelet.runs_for(job_name(sid))
    wait_for(lambda: all(run.ended_at is not None for run in runs), timeout=30, what="the runners' exit")
    return platform, sid, body, runs


def test_llm_slower_than_the_grading_time_times_out(make_platform):
    """With requeues off (a slow model is otherwise handed back to the queue like an outage)."""
    campus = open_campus(make_platform("runner.job.activeDeadlineSeconds=8", "llm.rateLimit.requeueLimit=0"))
    campus.platform.llm.set_mode("slow", delay=60)
    sid = campus.submit(campus.register_student())
    body = campus.wait([sid], timeout=60)[sid]
    assert body["status"] == "timeout"
    assert body["result"]["score"] is None


@pytest.mark.timeout(420)
def test_pending_for_90_s_does_not_cost_the_student_a_timeout(make_platform):
    """The chart's deadline defaults (120 s of grading, 180 s of startup allowance, the Pending bounds): the pod
    is Unschedulable for 90 s (a node autoscale), then the model takes 45 s to answer (its request timeout raised
    to allow that). Counted from the Job's start, as before, the grading would have been killed at 120 s."""
    platform, sid, body, (run,) = grade_one(make_platform, "llm.timeoutSeconds=60",
                                            pods=PodBehaviour(unschedulable_seconds=90), model_seconds=45,
                                            timeout=300)  # fmt: skip
    assert body["status"] == "graded", body
    assert body["result"]["score"] is not None
    job = platform.k8s.get_job(job_name(sid))
    assert job["spec"]["activeDeadlineSeconds"] == 300
    assert run.exit_code == 0
    assert not run.killed_at_deadline
    created = datetime.fromisoformat(job["metadata"]["creationTimestamp"].replace("Z", "+00:00")).timestamp()
    assert run.started_at - created >= 89, "the runner really started after 90 s of Pending"
    assert run.ended_at - created > 120, "and finished after the old deadline"


def test_pending_inside_the_allowance_is_not_charged(make_platform):
    """The same, shortened: 8 s Pending of a 15 s allowance (of which the runner keeps 5 s as a margin before the
    Job's deadline), 12 s of grading, a model that takes 3 s. Counted from the Job's start, 4 s would have been
    left."""
    _, _, body, (run,) = grade_one(make_platform, "runner.job.activeDeadlineSeconds=12",
                                   "runner.job.startupAllowanceSeconds=15", "llm.rateLimit.requeueLimit=0",
                                   pods=PodBehaviour(unschedulable_seconds=8), model_seconds=3)  # fmt: skip
    assert body["status"] == "graded", body["result"]
    assert not run.killed_at_deadline


def test_pending_beyond_the_allowance_ends_started_late_before_the_jobs_deadline(make_platform):
    """12 s of grading, 4 s of allowance (a 16 s Job), 6 s Pending: the runner has about 4.5 s before the Job's
    deadline (less a margin), the model needs 30: it posts ``started-late`` itself, and the Job completes."""
    platform, sid, body, (run,) = grade_one(make_platform, "runner.job.activeDeadlineSeconds=12",
                                            "runner.job.startupAllowanceSeconds=4", "llm.rateLimit.requeueLimit=0",
                                            pods=PodBehaviour(unschedulable_seconds=6), model_seconds=30)  # fmt: skip
    assert body["status"] == "error", "the cluster's delay is not the student's timeout"
    assert body["result"]["fail_tags"] == ["started-late"]
    assert run.exit_code == 0
    assert not run.killed_at_deadline, "posted before Kubernetes killed it"
    assert platform.k8s.get_job(job_name(sid))["status"]["conditions"][-1]["type"] == "Complete"


def test_a_wedged_runner_killed_at_the_deadline_after_its_whole_grading_time_is_a_timeout(make_platform):
    """The runner starts at once and freezes (a wedged node): only the Job's deadline ends it. It had its whole
    grading time, so the scheduler reports the DeadlineExceeded as ``timeout``."""
    # A short Pending bound: a sweep every 0.5 s sees the runner start before the deadline deletes its pod.
    values = ("runner.job.activeDeadlineSeconds=4", "runner.job.startupAllowanceSeconds=2",
              "scheduler.imagePullTimeoutSeconds=2")  # fmt: skip
    platform, sid, body, (run,) = grade_one(make_platform, *values, pods=PodBehaviour(freeze_after_seconds=0.5),
                                            model_seconds=60)  # fmt: skip
    assert body["status"] == "timeout", body["result"]
    assert body["result"]["fail_tags"] == ["deadline-exceeded"]
    assert run.killed_at_deadline
    assert platform.k8s.get_job(job_name(sid))["status"]["conditions"][-1]["reason"] == "DeadlineExceeded"


def test_an_evicted_runner_is_replaced_and_ends_graded_once(make_platform):
    """Evicted mid-grading (condition DisruptionTarget): podFailurePolicy ignores it, the new pod grades, and the
    student gets one graded result."""
    platform, sid, body, (first, second) = grade_one(make_platform, pods=PodBehaviour(evict_after_seconds=1.5),
                                                     model_seconds=3, timeout=90)  # fmt: skip
    assert body["status"] == "graded", body
    assert first.evicted
    assert second.exit_code == 0
    job = platform.k8s.get_job(job_name(sid))
    assert job["status"]["conditions"][-1]["type"] == "Complete"
    assert not job["status"].get("failed"), "the eviction did not count against backoffLimit"
    pods = platform.k8s.pods_of(job_name(sid))
    assert [p["status"]["phase"] for p in pods] == ["Failed", "Succeeded"]
    assert any(c["type"] == "DisruptionTarget" for c in pods[0]["status"]["conditions"])
    assert first.exit_code == -9, "the first runner was killed mid-grading"


BOUNDS = ("scheduler.podUnschedulableTimeoutSeconds=3", "scheduler.podCreateTimeoutSeconds=3",
          "scheduler.imagePullTimeoutSeconds=3")  # fmt: skip


def test_jobs_that_never_start_end_as_errors_within_their_bounds(make_platform):
    """Unschedulable for good, no pod ever created (a full quota), an image that cannot be pulled: each ends as
    its ``error`` a few seconds after its bound, long before the Job's deadline, and its Job is deleted."""
    platform = make_platform(*BOUNDS)
    campus = open_campus(platform)
    student = campus.register_student()
    k8s, kubelet = platform.k8s, platform.kubelet
    for tag, arrange in (
        ("pod-unschedulable", lambda: kubelet.behave_next(PodBehaviour(unschedulable_seconds=600))),
        ("image-pull-failed", lambda: kubelet.behave_next(PodBehaviour(image_pull_fails=True))),
        ("pod-not-created", lambda: k8s.refuse_pod_creation()),
    ):
        arrange()
        sid = campus.submit(student)
        wait_for(lambda sid=sid: k8s.get_job(job_name(sid)), timeout=30, what=f"the Job of the {tag} case")
        created = time.monotonic()
        k8s.allow_pod_creation()
        body = campus.wait([sid], timeout=30)[sid]
        took = time.monotonic() - created
        assert body["status"] == "error", (tag, body)
        assert body["result"]["fail_tags"] == [tag]
        assert 1.5 < took < 3 + 5, f"{tag} reported {took:.1f} s after the Job: its 3 s bound and a sweep or two"
        wait_for(lambda sid=sid: k8s.get_job(job_name(sid)) is None, timeout=10, what=f"the {tag} Job deleted")
        assert kubelet.runs_for(job_name(sid)) == [], "no runner ever ran"
