"""A grading that outlives its Job's deadline ends as ``timeout``, never stuck."""

from e2e.conftest import open_campus


def test_llm_slower_than_the_deadline_times_out(make_platform):
    campus = open_campus(make_platform("runner.job.activeDeadlineSeconds=8"))
    campus.platform.llm.set_mode("slow", delay=60)
    sid = campus.submit(campus.register_student())
    body = campus.wait([sid], timeout=60)[sid]
    assert body["status"] == "timeout"
    assert body["result"]["score"] is None
