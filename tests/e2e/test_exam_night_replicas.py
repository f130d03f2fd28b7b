"""Two schedulers and a backend with four workers (each running its sweep) on one Redis, through faults: one
scheduler killed with SIGKILL mid-run and started again, the Job watch answered 410 Gone, Redis restarted. Whatever
the interleaving, each attempt gets one Job (a 409 from a replica that lost the race is fine) and one answered LLM
call, and every submission ends ``graded``.

Time is compressed 10x (``e2e.exam_night.TimeScale``): Job deadline, sweep interval, scheduler leases and orphan
grace, and every runner-side delay shrink by that factor.
"""

import time
from collections import Counter
from pathlib import Path

import pytest

from e2e.conftest import GOOD_CODE, open_campus
from e2e.exam_night import (
    ReplicatedPlatform,
    TimeScale,
    answered_llm_calls,
    job_tries,
    submit_batch,
    wait_all_terminal,
)

pytestmark = pytest.mark.slow

COMPRESS = 10.0
OWNERS = "queue:submissions:processing:owners"
"""Which scheduler holds each message it took (the dispatch queue's bookkeeping in Redis)."""


def wait_until(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.timeout(180)
def test_two_schedulers_and_four_backend_workers_never_run_an_attempt_twice(tmp_path: Path) -> None:
    scale = TimeScale(COMPRESS)
    platform = ReplicatedPlatform(tmp_path, scale, schedulers=2, backend_workers=4,
                                  set_values=["scheduler.maxActiveJobs=30"])  # fmt: skip
    platform.llm.set_mode("slow", delay=scale.s(3.0))
    platform.start()
    campus = open_campus(platform)
    try:
        students = [campus.register_student(f"s{i}") for i in range(4)]
        created = platform.k8s.created_names
        first = submit_batch(campus.http, campus.assignment_id, students, 60, GOOD_CODE)
        wait_until(lambda: len(created()) >= 15, 30, "the first Jobs")
        platform.k8s.delay_seconds = 0.3  # every API call slow: each scheduler holds a message while it creates
        second = submit_batch(campus.http, campus.assignment_id, students, 45, GOOD_CODE, first=60)
        redis = platform.redis.client()
        wait_until(lambda: "cloudemy-scheduler-0" in set(redis.hvals(OWNERS)), 30, "a held message")
        platform.schedulers[0].stop(kill=True)  # type: ignore[union-attr]  # SIGKILL with a message in its hands
        platform.k8s.delay_seconds = 0.0
        platform.k8s.expire_watches()  # the surviving replica's watch gets 410 Gone and re-lists
        time.sleep(scale.s(20))
        platform.start_replica(0)
        wait_until(lambda: len(created()) >= 80, 40, "Jobs after the restart")
        platform.redis.restart()  # append-only file on: queue, :processing, payloads and leases survive
        third = submit_batch(campus.http, campus.assignment_id, students, 45, GOOD_CODE, first=105)
        numbered = {**first, **second, **third}
        ids = set(numbered.values())

        def healthy() -> None:
            assert platform.kubelet.crashed() == [], "a runner thread crashed"

        done = wait_all_terminal(campus.http, campus.assignment_id, campus.instructor, ids, 90, healthy)
        assert Counter(item["status"] for item in done.values()) == {"graded": len(ids)}
        names = created()
        assert len(names) == len(set(names)), "no Job name created twice"
        tries = job_tries(names)
        requeues = platform.kubelet.deliveries.requeues
        assert {sid: len(tries[sid]) for sid in ids} == {sid: 1 + requeues[sid] for sid in ids}, "one Job per try"
        answered = answered_llm_calls(platform, numbered)
        assert {sid: answered[sid] for sid in ids} == dict.fromkeys(ids, 1), "one answered LLM call per attempt"
        results = platform.kubelet.deliveries.results
        assert {sid: results[sid] for sid in ids} == dict.fromkeys(ids, 1), "one stored result each"
        assert sum(platform.kubelet.deliveries.refused.values()) == 0
        assert platform.backend.log_path.read_text().count('"msg": "backend started"') == 4, "four workers, each an app"  # type: ignore[union-attr]
        logs = "".join(proc.log_path.read_text() for proc in platform.schedulers if proc is not None)
        assert "orphaned message(s) returned to the queue" in logs, "the killed replica's message was recovered"
        conflicts = [c for c in platform.k8s.create_calls() if c.status == 409]
        print(f"replicas: {len(names)} Jobs, {len(conflicts)} create conflicts, requeues {sum(requeues.values())}")
    finally:
        campus.http.close()
        platform.stop()
