"""Scheduler dispatch benchmark against a zero-latency fake Kubernetes API (real Redis, real HTTP, 127.0.0.1).

Measures, each as the median (min-max) of ``--runs`` runs:
1. throughput: Jobs created per second while the scheduler drains a backlog of ``--jobs`` messages;
2. latency: p50/p99 from RPUSH to the fake API receiving the create call, at an offered ``--rate`` per second;
3. the floor: a bare loop of BLMOVE plus one HTTP POST of the same Job body (keep-alive urllib3), in its own
   process like the scheduler, draining the same backlog.
Targets: >= 200 Jobs/s, within 2x of the floor, p99 < 20 ms.

    .venv/bin/python bench/scheduler_dispatch.py            # full size
    .venv/bin/python bench/scheduler_dispatch.py --quick    # tiny size, used by make test to prove it works
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
from common import (
    ROOT,
    finish_machine_info,
    machine_info,
    ok_sink,
    percentile,
    process_cpu_seconds,
    summary,
    table,
    write_json,
)

from demo.chart import BACKEND_SERVICE, write_runner_job_template
from fakes.ports import free_port
from fakes.redis_server import RedisServer

QUEUE = "queue:submissions"
TARGET_RATE = 200.0
TARGET_P99_MS = 20.0
TARGET_FLOOR_RATIO = 2.0


def sid(n: int) -> str:
    return f"{n:024x}"


def message(n: int) -> str:
    return json.dumps({"submission_id": sid(n), "language": "python", "attempt": 1})


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    env.update(extra)
    return env


def sink_worker(port: int) -> None:
    ok_sink(port).serve_forever()


class Bench:
    """Redis, the fake Kubernetes API and the backend sink each run in their own process, like the scheduler,
    so none of them competes with another for one Python interpreter's lock."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.redis_server = RedisServer()
        self.redis_server.start()
        self.redis = self.redis_server.client()
        self.sink_port = free_port()
        self.sink = subprocess.Popen([sys.executable, __file__, "--sink-worker", str(self.sink_port)],
                                     env=child_env({}))  # fmt: skip
        self.api: subprocess.Popen[bytes] | None = None
        self.api_port = 0
        self.kubeconfig = workdir / "kubeconfig"
        self.create_log = workdir / "creates.log"
        self.job_template = write_runner_job_template(  # the chart's, as in production
            workdir / "runner-job.yaml", services={BACKEND_SERVICE: self.sink_port}
        )

    def reset(self) -> None:
        """A fresh Redis database and a fresh fake API (no Jobs, empty create log)."""
        self.redis.flushall()
        if self.api is not None:
            stop(self.api)
        self.create_log.write_text("")
        self.api_port = free_port()
        self.api = subprocess.Popen(
            [sys.executable, "-m", "fakes.k8s_api", "--port", str(self.api_port), "--no-record",
             "--kubeconfig", str(self.kubeconfig), "--create-log", str(self.create_log)],
            env=child_env({}), stdout=subprocess.PIPE,
        )  # fmt: skip
        assert self.api.stdout is not None
        self.api.stdout.readline()  # "listening on ..."

    def create_times(self) -> dict[str, float]:
        times: dict[str, float] = {}
        for line in self.create_log.read_text().splitlines():
            name, _, at = line.partition(" ")
            if at:
                times.setdefault(name, float(at))
        return times

    def start_scheduler(self) -> subprocess.Popen[bytes]:
        env = child_env({
            "REDIS_URL": self.redis_server.url, "QUEUE_SUBMISSIONS": QUEUE, "KUBECONFIG": str(self.kubeconfig),
            "K8S_NAMESPACE": "default", "INTERNAL_RESULT_TOKEN": "bench-master-token", "METRICS_PORT": "0",
            "RUNNER_JOB_TEMPLATE": str(self.job_template),
            "BACKEND_INTERNAL_URL": f"http://127.0.0.1:{self.sink_port}/internal",
            "MAX_ACTIVE_JOBS": "1000000", "POD_NAME": "bench-scheduler", "LOG_LEVEL": "INFO",
        })  # fmt: skip
        log = open(self.workdir / "scheduler.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "cloudemy_scheduler"], env=env, stdout=log, stderr=log)
        self._wait_until_consuming()
        return proc

    def start_floor(self) -> subprocess.Popen[bytes]:
        """The floor posts the very Job body the scheduler builds (from the same template), so both loops make
        the fake API do the same work."""
        from cloudemy_scheduler.job_template import build_job, load_template

        token = "bench-master-token"  # noqa: S105 - a benchmark's made-up token
        body = build_job(load_template(self.job_template), sid(0), 1, token)
        env = child_env({"REDIS_URL": self.redis_server.url, "API_URL": f"http://127.0.0.1:{self.api_port}",
                         "JOB_BODY": json.dumps(body)})  # fmt: skip
        proc = subprocess.Popen([sys.executable, __file__, "--floor-worker"], env=env)
        self._wait_until_consuming()
        return proc

    def _wait_until_consuming(self) -> None:
        """Push one warm-up message and wait until its Job exists (the worker is up and connected)."""
        self.redis.rpush(QUEUE, message(10**9))
        deadline = time.monotonic() + 60
        while f"runner-{sid(10**9)}" not in self.create_times():
            if time.monotonic() > deadline:
                raise RuntimeError("the worker did not start consuming")
            time.sleep(0.02)
        self._wait_drained(10)

    def _wait_drained(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.redis.llen(QUEUE) or self.redis.llen(QUEUE + ":processing"):
            if time.monotonic() > deadline:
                raise RuntimeError("the queue did not drain")
            time.sleep(0.002)

    def throughput(self, start_worker, jobs: int) -> tuple[float, float]:
        """Jobs per second while a worker drains a backlog of ``jobs`` messages, and the worker's own CPU
        milliseconds per Job (all its threads)."""
        self.reset()
        proc = start_worker()
        try:
            self.redis.rpush(QUEUE, *(message(n) for n in range(jobs)))
            cpu_before = process_cpu_seconds(proc.pid)
            started = time.monotonic()
            self._wait_drained(120)
            elapsed = time.monotonic() - started
            cpu = process_cpu_seconds(proc.pid) - cpu_before
        finally:
            stop(proc)
        created = self.create_times()
        assert all(f"runner-{sid(n)}" in created for n in range(jobs)), "every message became a create"
        return jobs / elapsed, cpu * 1000 / jobs

    def latency(self, rate: float, seconds: float) -> list[float]:
        """Milliseconds from RPUSH to the create call, at an open-loop offered ``rate`` per second."""
        self.reset()
        proc = self.start_scheduler()
        pushed: dict[str, float] = {}
        try:
            count = int(rate * seconds)
            start = time.monotonic()
            for n in range(count):
                target = start + n / rate
                delay = target - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pushed[f"runner-{sid(n)}"] = time.time()
                self.redis.rpush(QUEUE, message(n))
            self._wait_drained(60)
        finally:
            stop(proc)
        created = self.create_times()
        return [(created[name] - at) * 1000 for name, at in pushed.items()]

    def close(self) -> None:
        if self.api is not None:
            stop(self.api)
        stop(self.sink)
        self.redis.close()
        self.redis_server.close()


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def floor_worker() -> None:
    """The floor: BLMOVE one message, POST the Job body under its name, LREM it; nothing else."""
    import urllib3

    client = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    http = urllib3.PoolManager(maxsize=1)
    url = os.environ["API_URL"] + "/apis/batch/v1/namespaces/default/jobs"
    body = json.loads(os.environ["JOB_BODY"])
    while True:
        raw = client.blmove(QUEUE, QUEUE + ":processing", 5, "LEFT", "RIGHT")
        if raw is None:
            continue
        body["metadata"]["name"] = "runner-" + json.loads(raw)["submission_id"]
        http.request("POST", url, body=json.dumps(body), headers={"Content-Type": "application/json"})
        client.lrem(QUEUE + ":processing", 1, raw)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny size: prove the benchmark works")
    parser.add_argument("--jobs", type=int, default=3000, help="backlog size for the throughput runs")
    parser.add_argument("--rate", type=float, default=50.0, help="offered submissions per second (latency)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each latency run")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write every number (and the machine) to this file")
    parser.add_argument("--floor-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sink-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_worker:
        floor_worker()
        return 0
    if args.sink_worker:
        sink_worker(args.sink_worker)
        return 0
    if args.quick:
        args.jobs, args.seconds, args.runs = 100, 1.0, 1

    machine = machine_info()
    rates, floors, cpus, floor_cpus, p50s, p99s = [], [], [], [], [], []
    with tempfile.TemporaryDirectory(prefix="cloudemy-bench-") as tmp:
        bench = Bench(Path(tmp))
        try:
            for _ in range(args.runs):
                floor_rate, floor_cpu = bench.throughput(bench.start_floor, args.jobs)
                rate, cpu = bench.throughput(bench.start_scheduler, args.jobs)
                floors.append(floor_rate)
                floor_cpus.append(floor_cpu)
                rates.append(rate)
                cpus.append(cpu)
                latencies = bench.latency(args.rate, args.seconds)
                p50s.append(percentile(latencies, 50))
                p99s.append(percentile(latencies, 99))
        finally:
            bench.close()

    ratios = [floor / rate for floor, rate in zip(floors, rates, strict=True)]
    result = {
        "jobs_per_second": summary(rates),
        "floor_jobs_per_second": summary(floors),
        "floor_ratio": summary(ratios),
        "cpu_ms_per_job": summary(cpus),
        "floor_cpu_ms_per_job": summary(floor_cpus),
        "enqueue_to_create_p50_ms": summary(p50s),
        "enqueue_to_create_p99_ms": summary(p99s),
        "offered_rate_per_second": args.rate,
        "backlog": args.jobs,
        "runs": args.runs,
        "target_jobs_per_second_met": statistics.median(rates) >= TARGET_RATE,
        "target_floor_ratio_met": statistics.median(ratios) <= TARGET_FLOOR_RATIO,
        "target_p99_met": statistics.median(p99s) < TARGET_P99_MS,
        "machine": finish_machine_info(machine),
    }
    write_json(args.json, result)

    def row(name: str, values: list[float], target: str, met: bool | None) -> tuple[str, ...]:
        stats = summary(values)
        verdict = "" if met is None else ("met" if met else "MISSED")
        return (name, f"{stats['median']:.1f}", f"{stats['min']:.1f}..{stats['max']:.1f}", target, verdict)

    print(f"scheduler dispatch: median of {args.runs} run(s); backlog {args.jobs}; latency at {args.rate:g}/s for "
          f"{args.seconds:g} s; {machine['nproc']} CPUs, load {machine['load_average_at_start']}")  # fmt: skip
    print(table(["measure", "median", "min..max", "target", ""], [
        row("scheduler throughput (Jobs/s)", rates, f">= {TARGET_RATE:.0f}", result["target_jobs_per_second_met"]),
        row("floor: BLMOVE + POST (Jobs/s)", floors, "", None),
        row("floor / scheduler", ratios, f"<= {TARGET_FLOOR_RATIO:.0f}", result["target_floor_ratio_met"]),
        row("scheduler CPU per Job (ms, all threads)", cpus, "", None),
        row("floor CPU per Job (ms)", floor_cpus, "", None),
        row("enqueue -> create p50 (ms)", p50s, "", None),
        row("enqueue -> create p99 (ms)", p99s, f"< {TARGET_P99_MS:.0f}", result["target_p99_met"]),
    ]))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
