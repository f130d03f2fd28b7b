"""Recovery of orphaned :processing messages, several replicas, and kill -9 at every dispatch step."""

import random
import time
from collections import Counter

import pytest
import redis
from crash_injection import EXIT_CODE, POINTS, CrashingSchedulers
from scheduler_harness import QUEUE, ProcessScheduler, message, scheduler_env, sid, wait_for

from cloudemy_scheduler.work_queue import WorkQueue

PROCESSING = QUEUE + ":processing"


def move_to_processing(client: redis.Redis, raw: str) -> None:
    client.rpush(QUEUE, raw)
    assert client.lmove(QUEUE, PROCESSING, "LEFT", "RIGHT") == raw


def test_message_of_a_dead_scheduler_goes_back(redis_client):
    dead = WorkQueue(redis_client, QUEUE, "scheduler-a")
    alive = WorkQueue(redis_client, QUEUE, "scheduler-b")
    dead.heartbeat(0.2)
    alive.heartbeat(30)
    move_to_processing(redis_client, message(1))
    dead.claim(message(1), f"runner-{sid(1)}", 10)
    assert alive.recover(startup=False, grace_seconds=60) == 0, "the owner's lease has not expired yet"
    time.sleep(0.3)
    assert alive.recover(startup=False, grace_seconds=60) == 1
    assert redis_client.lrange(QUEUE, 0, -1) == [message(1)]
    assert redis_client.llen(PROCESSING) == 0
    assert redis_client.hlen(PROCESSING + ":owners") == 0


def test_message_held_by_a_live_scheduler_stays(redis_client):
    holder = WorkQueue(redis_client, QUEUE, "scheduler-a")
    other = WorkQueue(redis_client, QUEUE, "scheduler-b")
    holder.heartbeat(30)
    move_to_processing(redis_client, message(2))
    holder.claim(message(2), f"runner-{sid(2)}", 10)
    assert other.recover(startup=True, grace_seconds=0) == 0
    assert redis_client.lrange(PROCESSING, 0, -1) == [message(2)]


def test_unowned_message_goes_back_after_the_grace(redis_client):
    queue = WorkQueue(redis_client, QUEUE, "scheduler-a")
    move_to_processing(redis_client, message(3))  # moved, then the scheduler died before claiming it
    assert queue.recover(startup=False, grace_seconds=0.3) == 0, "first sighting only starts the clock"
    assert queue.recover(startup=False, grace_seconds=0.3) == 0
    time.sleep(0.4)
    assert queue.recover(startup=False, grace_seconds=0.3) == 1
    assert redis_client.lrange(QUEUE, 0, -1) == [message(3)]
    assert redis_client.hlen(PROCESSING + ":unowned") == 0


def test_startup_takes_back_what_the_same_pod_held(redis_client):
    before = WorkQueue(redis_client, QUEUE, "scheduler-0")
    before.heartbeat(30)
    move_to_processing(redis_client, message(4))
    before.claim(message(4), f"runner-{sid(4)}", 10)
    move_to_processing(redis_client, message(5))  # unowned
    after = WorkQueue(redis_client, QUEUE, "scheduler-0")  # the container restarted: same POD_NAME
    assert after.recover(startup=True, grace_seconds=60) == 2
    assert sorted(redis_client.lrange(QUEUE, 0, -1)) == sorted([message(4), message(5)])


def test_requeue_refuses_when_another_scheduler_claimed_meanwhile(redis_client):
    queue = WorkQueue(redis_client, QUEUE, "scheduler-a")
    other = WorkQueue(redis_client, QUEUE, "scheduler-b")
    move_to_processing(redis_client, message(6))
    other.claim(message(6), f"runner-{sid(6)}", 10)
    assert queue.requeue(message(6), expected_owner="") is False, "observed unowned, but now it has an owner"
    assert redis_client.lrange(PROCESSING, 0, -1) == [message(6)]


def test_slots_reconcile_with_the_jobs_that_really_run(redis_client):
    queue = WorkQueue(redis_client, QUEUE, "scheduler-a")
    for n in range(3):
        queue.claim(f"m{n}", f"job-{n}", 10)
    assert queue.reconcile_slots({"job-0", "job-9"}, grace_seconds=60) == (0, 4), "young slots are kept"
    time.sleep(0.2)
    freed, used = queue.reconcile_slots({"job-0", "job-9"}, grace_seconds=0.1)
    assert (freed, used) == (2, 2)
    assert set(redis_client.zrange(QUEUE + ":active-jobs", 0, -1)) == {"job-0", "job-9"}


def test_cap_holds_across_replicas(redis_client):
    a = WorkQueue(redis_client, QUEUE, "scheduler-a")
    b = WorkQueue(redis_client, QUEUE, "scheduler-b")
    taken = [q.claim(f"m{n}", f"job-{n}", 3).slot_taken for n, q in enumerate([a, b, a, b, a])]
    assert taken == [True, True, True, False, False]
    assert a.claim("m0", "job-0", 3).slot_taken, "a Job that holds a slot keeps it when dispatched again"


@pytest.mark.slow
def test_two_scheduler_processes_drain_200_messages_without_duplicates(redis_url, redis_client, k8s_api, backend,
                                                                        job_template, tmp_path):  # fmt: skip
    count = 200
    redis_client.rpush(QUEUE, *(message(1000 + n) for n in range(count)))
    procs = [
        ProcessScheduler(
            scheduler_env(
                redis_url,
                k8s_api.write_kubeconfig(tmp_path / f"kubeconfig-{i}", token=f"scheduler-{i}"),
                backend.internal_url,
                job_template,
                pod_name=f"scheduler-{i}",
            ),
            tmp_path / f"scheduler-{i}.log",
        ).start()
        for i in range(2)
    ]
    try:
        wait_for(lambda: len(k8s_api.created_names()) >= count and redis_client.llen(PROCESSING) == 0,
                 timeout=60, interval=0.1, what="200 Jobs")  # fmt: skip
    finally:
        codes = [p.terminate() for p in procs]
    names = k8s_api.created_names()
    assert len(names) == count
    assert len(set(names)) == count, "zero duplicate creates"
    assert set(names) == {f"runner-{sid(1000 + n)}" for n in range(count)}
    assert redis_client.llen(QUEUE) == 0
    assert codes == [0, 0], "SIGTERM ends each scheduler cleanly"
    per_scheduler = Counter(c.token for c in k8s_api.create_calls() if c.status == 201)
    assert set(per_scheduler) == {"scheduler-0", "scheduler-1"}, f"both replicas took work: {per_scheduler}"


@pytest.mark.slow
def test_kill_9_at_random_points_loses_nothing_and_makes_one_job_each(redis_url, redis_client, k8s_api, kubeconfig,
                                                                      backend, job_template, tmp_path):  # fmt: skip
    """50 schedulers die like kill -9 (os._exit(137), no clean-up) right after BLMOVE, right after the create
    call, or just before LREM, each on its 1st-3rd message; a last one drains the rest."""
    rng = random.Random(4)
    count = 120  # at most two messages finish per crash, so the queue never runs dry inside the loop
    redis_client.rpush(QUEUE, *(message(2000 + n) for n in range(count)))
    crashes: dict[str, int] = {}
    base = ProcessScheduler({}).env
    env = {**base, **scheduler_env(redis_url, kubeconfig, backend.internal_url, job_template, pod_name="scheduler-0")}
    with CrashingSchedulers(base) as schedulers:
        for _ in range(50):
            point = rng.choice(POINTS)
            code = schedulers.run(env, tmp_path / "crashes.log", point, after=rng.randint(1, 3))
            assert code == EXIT_CODE, f"the scheduler was to die at {point}, exited {code}"
            crashes[point] = crashes.get(point, 0) + 1
    assert sum(crashes.values()) == 50
    assert set(crashes) == set(POINTS)
    assert redis_client.llen(QUEUE) > 0, "the loop really left work for the survivor"
    env = scheduler_env(redis_url, kubeconfig, backend.internal_url, job_template, pod_name="scheduler-0")
    survivor = ProcessScheduler(env, tmp_path / "survivor.log").start()
    try:
        wait_for(lambda: redis_client.llen(QUEUE) == 0 and redis_client.llen(PROCESSING) == 0,
                 timeout=60, interval=0.1, what="everything dispatched")  # fmt: skip
    finally:
        assert survivor.terminate() == 0
    names = k8s_api.created_names()
    expected = {f"runner-{sid(2000 + n)}" for n in range(count)}
    assert set(names) == expected, "no submission lost"
    assert len(names) == len(expected), "exactly one Job each (later attempts ended in 409)"
    assert any(c.status == 409 for c in k8s_api.create_calls()), "crashes after create were re-dispatched"
