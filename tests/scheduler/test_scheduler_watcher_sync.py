"""The watcher against an unkind API: paged lists whose continue token expires, Jobs labelled reported once
handled (and not listed again), label patches that fail, an API outage (synced cleared, readiness red), and slot
reconciliation that never trusts the stale set a failed re-list leaves."""

import time

import httpx
from scheduler_harness import MASTER_TOKEN, QUEUE, message, sid, wait_for

from cloudemy_common.jobs import REPORTED_LABEL
from cloudemy_scheduler.job_template import build_job, load_template
from fakes.ports import free_port

SLOTS = QUEUE + ":active-jobs"


def runner_jobs(job_template, numbers):
    template = load_template(job_template)
    return [build_job(template, sid(n), 1, MASTER_TOKEN) for n in numbers]


def list_calls(k8s_api):
    return [c for c in list(k8s_api.calls) if c.method == "GET" and c.path.endswith("/jobs") and "watch" not in c.query]


def labelled(k8s_api, name):
    job = k8s_api.get_job(name)
    return job is not None and (job["metadata"].get("labels") or {}).get(REPORTED_LABEL) == "true"


def dispatch(k8s_api, redis_client, n):
    redis_client.rpush(QUEUE, message(n))
    name = f"runner-{sid(n)}"
    wait_for(lambda: k8s_api.get_job(name), what=f"Job {name}")
    return name


def test_the_list_follows_pages_and_a_mid_list_410_starts_it_again(
    k8s_api, backend, redis_client, start_scheduler, job_template
):
    k8s_api.seed_jobs(runner_jobs(job_template, range(1, 6)), complete=False)  # 5 unfinished
    k8s_api.seed_jobs(runner_jobs(job_template, range(6, 9)), complete=False)
    for n in range(6, 9):  # 3 that ended while no scheduler watched
        k8s_api.mark_failed(f"runner-{sid(n)}", "DeadlineExceeded")
    k8s_api.fail_next(1, 410, query="continue", after=1)  # the third page's token has expired
    scheduler = start_scheduler(k8s_list_page_size=3)
    watcher = scheduler.scheduler.executor.watcher
    wait_for(lambda: watcher.synced.is_set(), what="synced")
    assert watcher.list_restarts == 1
    assert watcher.unfinished_job_names() == {f"runner-{sid(n)}" for n in range(1, 6)}
    pages = list_calls(k8s_api)
    assert [c.status for c in pages] == [200, 200, 410, 200, 200, 200]
    assert all(c.query["limit"] == "3" for c in pages)
    assert all(c.query["labelSelector"].endswith(f"{REPORTED_LABEL}!=true") for c in pages)
    for n in range(6, 9):
        assert [r["status"] for r in wait_for(lambda n=n: backend.results_for(sid(n)), what="result")] == ["timeout"]
        wait_for(lambda n=n: labelled(k8s_api, f"runner-{sid(n)}"), what="labelled reported")
    time.sleep(0.5)
    assert all(len(backend.results_for(sid(n))) == 1 for n in range(6, 9)), "the restarted list reported none twice"


def test_reported_jobs_are_not_listed_again_after_a_restart(k8s_api, backend, redis_client, start_scheduler):
    first = start_scheduler()
    failed, completed = dispatch(k8s_api, redis_client, 1), dispatch(k8s_api, redis_client, 2)
    k8s_api.mark_failed(failed, "BackoffLimitExceeded")
    k8s_api.mark_complete(completed)
    wait_for(lambda: labelled(k8s_api, failed) and labelled(k8s_api, completed), what="both labelled reported")
    first.stop()
    before = len(list_calls(k8s_api))
    second = start_scheduler()
    wait_for(lambda: second.scheduler.executor.watcher.synced.is_set(), what="second scheduler synced")
    assert len(list_calls(k8s_api)) == before + 1
    listed = k8s_api.list_jobs_page("default", list_calls(k8s_api)[-1].query["labelSelector"], 0, None)[1]
    assert b"runner-" not in listed, "what the second scheduler listed holds neither Job"
    time.sleep(1)
    assert len(backend.results_for(sid(1))) == 1
    assert backend.results_for(sid(2)) == []
    assert redis_client.zcard(SLOTS) == 0


def test_an_ending_whose_label_patch_failed_is_reported_exactly_once(k8s_api, backend, redis_client, start_scheduler):
    first = start_scheduler()
    name = dispatch(k8s_api, redis_client, 3)
    k8s_api.fail_next(2, 500, method="PATCH")
    k8s_api.fail_next(1, 403, method="PATCH")
    k8s_api.mark_failed(name, "DeadlineExceeded")
    wait_for(lambda: labelled(k8s_api, name), timeout=20, what="labelled after the retries")
    patches = [c.status for c in list(k8s_api.calls) if c.method == "PATCH"]
    assert patches == [500, 500, 403, 200]
    first.stop()
    start_scheduler()
    time.sleep(1.5)
    assert [r["status"] for r in backend.results_for(sid(3))] == ["timeout"]


def test_an_api_outage_clears_synced_and_readiness_until_the_watch_is_back(k8s_api, redis_client, start_scheduler):
    port = free_port()
    scheduler = start_scheduler(metrics_port=port)
    watcher = scheduler.scheduler.executor.watcher
    base = f"http://127.0.0.1:{port}"

    def probe(path):
        try:
            return httpx.get(base + path, timeout=2, trust_env=False)
        except httpx.TransportError:
            return None

    ready = wait_for(lambda: (r := probe("/readyz")) is not None and r.status_code == 200 and r, what="ready")
    assert "synced since" in ready.json()["detail"]
    generation = watcher.generation
    k8s_api.stop()
    down = wait_for(lambda: (r := probe("/readyz")) is not None and r.status_code == 503 and r, what="not ready")
    assert down.json()["status"] == "unhealthy"
    assert "not synced since" in down.json()["detail"]
    assert watcher.unfinished_job_names() is None
    live = probe("/healthz")
    assert live is not None
    assert live.status_code == 200, "liveness holds: a restart cannot bring the API back"
    assert "not synced" in live.json()["detail"]
    assert "cloudemy_scheduler_job_watch_synced 0.0" in probe("/metrics").text
    k8s_api.start()
    wait_for(lambda: (r := probe("/readyz")) is not None and r.status_code == 200, timeout=30, what="ready again")
    assert watcher.generation > generation
    assert "cloudemy_scheduler_job_watch_synced 1.0" in probe("/metrics").text


def test_reconciliation_after_a_failed_relist_frees_no_live_slot_and_re_adds_no_ended_one(
    k8s_api, backend, redis_client, start_scheduler, job_template
):
    scheduler = start_scheduler()
    watcher = scheduler.scheduler.executor.watcher
    ended = dispatch(k8s_api, redis_client, 4)
    wait_for(lambda: ended in (watcher.unfinished_job_names() or set()), what="watcher saw the Job")
    k8s_api.fail_next(10_000, 500, method="GET", query="limit")  # every list fails from now on
    k8s_api.expire_watches()  # the watch ends with 410 Gone: a re-list, which fails
    wait_for(lambda: not watcher.synced.is_set(), what="synced cleared")
    # While the view is stale: a Job created meanwhile (by another replica) holds an old slot, and the Job the
    # stale view still calls unfinished ends and has its slot freed by another replica.
    (live_body,) = runner_jobs(job_template, [5])
    k8s_api.create_job("default", live_body)
    live = live_body["metadata"]["name"]
    old = float(redis_client.time()[0]) - 300
    redis_client.zadd(SLOTS, {live: old})
    k8s_api.mark_failed(ended, "DeadlineExceeded")
    redis_client.zrem(SLOTS, ended)
    assert scheduler.scheduler.housekeeper.reconcile() is False
    time.sleep(1.5)  # three more housekeeping rounds of its own
    assert redis_client.zscore(SLOTS, live) == old, "the live Job keeps its slot"
    assert redis_client.zscore(SLOTS, ended) is None, "the ended Job's slot is not re-added"
    k8s_api.clear_faults()
    wait_for(lambda: watcher.synced.is_set(), timeout=20, what="synced again")
    assert (
        wait_for(lambda: backend.results_for(sid(4)), what="the ending seen after the outage")[0]["status"] == "timeout"
    )
    assert scheduler.scheduler.housekeeper.reconcile() is True
    assert redis_client.zscore(SLOTS, live) is not None
    assert redis_client.zscore(SLOTS, ended) is None


def test_a_job_that_ends_while_a_slow_list_is_read_is_not_missed(
    k8s_api, backend, redis_client, start_scheduler, job_template
):
    k8s_api.seed_jobs(runner_jobs(job_template, range(10, 20)), complete=False)
    k8s_api.list_page_delay_seconds = 0.4  # five pages of two: the list takes two seconds
    scheduler = start_scheduler(k8s_list_page_size=2, k8s_request_timeout_seconds=5)
    watcher = scheduler.scheduler.executor.watcher
    wait_for(lambda: len(list_calls(k8s_api)) >= 1, what="the list begun")
    early = f"runner-{sid(10)}"  # on the first page: listed unfinished, ends while later pages are read
    k8s_api.mark_failed(early, "DeadlineExceeded")
    k8s_api.create_job("default", runner_jobs(job_template, [5])[0])  # sorts before the cursor: only the watch has it
    wait_for(lambda: watcher.synced.is_set(), timeout=20, what="synced")
    assert len(list_calls(k8s_api)) == 5
    assert wait_for(lambda: backend.results_for(sid(10)), what="the ending seen")[0]["status"] == "timeout"
    expected = {f"runner-{sid(n)}" for n in [5, *range(11, 20)]}
    wait_for(lambda: watcher.unfinished_job_names() == expected, what="the Job created meanwhile, from the watch")
    time.sleep(0.5)
    assert len(backend.results_for(sid(10))) == 1


def test_after_a_watch_gap_a_job_labelled_elsewhere_is_not_taken_for_deleted_but_a_deleted_one_is(
    k8s_api, backend, redis_client, start_scheduler
):
    scheduler = start_scheduler()
    watcher = scheduler.scheduler.executor.watcher
    handled, deleted = dispatch(k8s_api, redis_client, 21), dispatch(k8s_api, redis_client, 22)
    wait_for(lambda: {handled, deleted} <= (watcher.unfinished_job_names() or set()), what="both seen unfinished")
    k8s_api.fail_next(10_000, 500, method="GET", query="limit")
    k8s_api.expire_watches()
    wait_for(lambda: not watcher.synced.is_set(), what="synced cleared")
    # While this replica's watch is down, another replica sees the first Job end, reports it and labels it; the
    # second Job is deleted before it ends.
    k8s_api.mark_failed(handled, "DeadlineExceeded")
    assert k8s_api.patch_job("default", handled, {"metadata": {"labels": {REPORTED_LABEL: "true"}}},
                             "application/merge-patch+json")[0] == 200  # fmt: skip
    k8s_api.delete_job("default", deleted)
    k8s_api.clear_faults()
    wait_for(lambda: watcher.synced.is_set(), timeout=20, what="synced again")
    result = wait_for(lambda: backend.results_for(sid(22)), what="the deleted Job reported")[0]
    assert result["fail_tags"] == ["job-deleted"]
    time.sleep(0.5)
    assert backend.results_for(sid(21)) == [], "handled by the other replica: not reported as deleted"
    assert watcher.unfinished_job_names() == set()
