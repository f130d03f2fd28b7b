"""A grading that outlives its Job's deadline ends as ``timeout``, never stuck."""

from cloudemy_common.jobs import job_name
from e2e.conftest import open_campus


def test_llm_slower_than_the_deadline_times_out(make_platform):
    """With requeues off (a slow model is otherwise handed back to the queue like an outage)."""
    campus = open_campus(make_platform("runner.job.activeDeadlineSeconds=8", "llm.rateLimit.requeueLimit=0"))
    campus.platform.llm.set_mode("slow", delay=60)
    sid = campus.submit(campus.register_student())
    body = campus.wait([sid], timeout=60)[sid]
    assert body["status"] == "timeout"
    assert body["result"]["score"] is None


def test_a_job_killed_at_its_deadline_is_reported_as_timeout(make_platform):
    """The runner believes it has 10 minutes; Kubernetes kills its Job after 6 s; the scheduler reports it."""
    platform = make_platform(
        "runner.job.activeDeadlineSeconds=6",
        "runner.extraEnv[0].name=JOB_DEADLINE_SECONDS",
        set_strings=("runner.extraEnv[0].value=600",),
    )
    campus = open_campus(platform)
    platform.llm.set_mode("slow", delay=120)
    sid = campus.submit(campus.register_student())
    body = campus.wait([sid], timeout=60)[sid]
    assert body["status"] == "timeout"
    (run,) = platform.kubelet.runs_for(job_name(sid))
    assert run.killed_at_deadline
    assert platform.k8s.get_job(job_name(sid))["status"]["conditions"][-1]["reason"] == "DeadlineExceeded"
