"""Faults in the middle of a batch: nothing is lost, nothing is graded twice."""

import time
from collections import Counter

import pytest

from cloudemy_common.jobs import job_name
from e2e.conftest import Campus

pytestmark = pytest.mark.slow


def test_backend_unreachable_for_20_seconds(campus: Campus):
    platform = campus.platform
    platform.llm.set_mode("slow", delay=2)
    student = campus.register_student()
    ids = [campus.submit(student) for _ in range(6)]
    platform.proxy.cut()  # runners can no longer reach the backend; the public API still answers
    cut_at = time.monotonic()
    time.sleep(20)
    assert all(campus.get(sid)["status"] != "graded" for sid in ids), "nothing can arrive while the path is cut"
    platform.proxy.restore()
    done = campus.wait(ids, timeout=90)
    assert time.monotonic() - cut_at >= 20
    assert Counter(b["status"] for b in done.values()) == {"graded": 6}
    assert sorted(platform.k8s.created_names()) == sorted(job_name(s) for s in ids)
    # each runner ran once and posted its result once it could: no Job was retried
    assert all(len(platform.kubelet.runs_for(job_name(s))) == 1 for s in ids)


def test_scheduler_killed_mid_batch(campus: Campus):
    platform = campus.platform
    platform.llm.set_mode("slow", delay=1)
    student = campus.register_student()
    ids = [campus.submit(student) for _ in range(20)]
    while len(platform.k8s.created_names()) < 3:
        time.sleep(0.02)
    platform.scheduler.stop(kill=True)
    more = [campus.submit(student) for _ in range(5)]
    platform.start_scheduler()
    done = campus.wait(ids + more, timeout=120)
    assert Counter(b["status"] for b in done.values()) == {"graded": 25}
    created = platform.k8s.created_names()
    assert len(created) == len(set(created)) == 25


def test_redis_restarted_mid_batch(campus: Campus):
    platform = campus.platform
    platform.llm.set_mode("slow", delay=1)
    student = campus.register_student()
    ids = [campus.submit(student) for _ in range(15)]
    while len(platform.k8s.created_names()) < 3:
        time.sleep(0.02)
    platform.redis.restart()  # AOF on: the queue, :processing and payloads survive
    ids += [campus.submit(student) for _ in range(5)]
    done = campus.wait(ids, timeout=150)
    assert Counter(b["status"] for b in done.values()) == {"graded": 20}
    created = platform.k8s.created_names()
    assert len(created) == len(set(created)) == 20
