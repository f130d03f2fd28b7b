"""The scheduler's Role grants exactly what the scheduler uses: every request it makes against the fake API
while it grades, reports a failed Job, handles a re-delivered message and gives up on a stuck image pull is
recorded and compared with the rules of the Role the chart renders."""

from waiting import wait_for

from cloudemy_common.jobs import job_name
from cloudemy_common.models import QueueMessage
from e2e.conftest import open_campus
from fakes.k8s_api import rbac_request


def test_the_scheduler_uses_exactly_what_its_role_grants(make_platform):
    platform = make_platform("scheduler.imagePullTimeoutSeconds=2")
    campus = open_campus(platform)
    student = campus.register_student()
    k8s = platform.k8s

    graded = campus.submit(student)  # list, watch, create
    assert campus.wait([graded])[graded]["status"] == "graded"

    platform.llm.set_mode("slow", delay=60)  # runners now wait on the LLM: their Jobs stay unfinished
    failed = campus.submit(student)  # a failed Job: its pods are read for the cause
    wait_for(lambda: k8s.get_job(job_name(failed)), timeout=60, what="the Job of the failing submission")
    k8s.mark_failed(job_name(failed), "BackoffLimitExceeded")
    assert campus.wait([failed])[failed]["status"] == "error"

    redelivered = QueueMessage(submission_id=graded, language="python").to_json()
    platform.redis.client().rpush("queue:submissions", redelivered)  # 409, then a read of the existing Job
    wait_for(lambda: any(c.status == 409 for c in k8s.create_calls()), timeout=60, what="the re-delivery's 409")

    stuck = campus.submit(student)  # an image pull that never ends: reported, and its Job deleted
    wait_for(lambda: k8s.get_job(job_name(stuck)), timeout=60, what="the Job of the stuck submission")
    k8s.set_pod_state(job_name(stuck), waiting_reason="ErrImagePull")
    wait_for(lambda: k8s.get_job(job_name(stuck)) is None, timeout=60, what="the stuck Job deleted")
    assert campus.wait([stuck])[stuck]["status"] == "error"

    used = {rbac_request(call) for call in list(k8s.calls)}
    role = platform.release.component("Role", "scheduler")
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert used <= granted, f"requests the Role does not allow: {used - granted}"
    assert granted <= used, f"rights the scheduler never used: {granted - used}"
