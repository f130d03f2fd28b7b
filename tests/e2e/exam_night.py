"""Exam night at compressed time: the real backend and scheduler processes, and runner Jobs run by the runner's own
grading code in threads of the test process instead of one ``python -m cloudemy_runner`` per Job.

``InProcessKubelet`` is the seam: for each Job the scheduler creates it waits the pod start, builds
``RunnerSettings`` from the Job's container env (resolved against the rendered chart, as the fake kubelet does) and
calls ``cloudemy_runner.grading.run`` with the pod's name, so the shared LLM budget, the retries with full jitter,
the breaker, the requeue decision and the result post through ``SubmissionReporter`` are the runner's own; only the
sandbox (the assignments here have no program tests) and the process start are skipped. 300 runner processes would
cost this machine's two cores more than the rest of the platform together.

``TimeScale`` compresses every delay on that path by one factor, so a five-minute scenario runs in seconds without
changing its shape: the provider's window and the budget's window (``LLM_BUDGET_PERIOD_SECONDS``), the LLM's
latency, the outage, Retry-After (the fake provider computes it from its compressed window), the breaker's open time
and its cap, the requeue delays and their cap, the runner's retry backoff, timeouts and reserve, the Job deadline
and its startup allowance, the sweep interval and the scheduler's dispatch backlog and leases. The runner's retry
backoff, minimum request time, request reserve and breaker cap are module constants, not settings;
``TimeScale.runner_constants`` scales them for the duration of a test. What does not scale: the backend's
delayed-set promotion tick and the scheduler gate's re-check (one second each, a granularity, not a wait the
scenario depends on) and the HTTP and Redis round trips.
"""

import contextlib
import functools
import os
import re
import secrets
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from cloudemy_common.llm_budget import BreakerSettings
from cloudemy_runner import grading, llm, llm_limits
from cloudemy_runner.config import Budget, RunnerSettings
from cloudemy_runner.reporter import Delivery, SubmissionReporter
from demo.processes import ManagedProcess, free_port
from e2e.platform import TERMINAL, E2EPlatform

TESTS = Path(__file__).resolve().parents[1]

MARKER = re.compile(r"# exam-night-(\d+)")
"""Each submission's code carries its number, so the fake LLM's requests can be counted per submission."""


@dataclass(frozen=True)
class TimeScale:
    """Real-world seconds divided by ``factor``; every method names the knobs it sets."""

    factor: float
    job_deadline_seconds: float = 120.0
    startup_allowance_seconds: float = 180.0
    llm_timeout_seconds: float = 30.0
    breaker_open_seconds: float = 30.0
    breaker_max_open_seconds: float = 300.0
    requeue_delay_seconds: float = 30.0
    requeue_max_delay_seconds: float = 600.0
    dispatch_max_backlog_seconds: float = 30.0
    sweep_interval_seconds: float = 15.0
    stuck_grace_seconds: float = 60.0
    scheduler_lease_seconds: float = 30.0
    recovery_interval_seconds: float = 10.0
    orphan_grace_seconds: float = 30.0

    def s(self, seconds: float) -> float:
        return seconds / self.factor

    @property
    def minute(self) -> float:
        return self.s(60.0)

    @property
    def job_deadline(self) -> int:
        """activeDeadlineSeconds is whole seconds."""
        return max(1, round(self.s(self.job_deadline_seconds)))

    def chart_values(self) -> list[str]:
        allowance = max(1, round(self.s(self.startup_allowance_seconds)))
        return [
            f"runner.job.activeDeadlineSeconds={self.job_deadline}",
            f"runner.job.startupAllowanceSeconds={allowance}",
        ]

    def backend_env(self) -> dict[str, str]:
        return {
            "LLM_REQUEUE_DELAY_SECONDS": str(self.s(self.requeue_delay_seconds)),
            "LLM_REQUEUE_MAX_DELAY_SECONDS": str(self.s(self.requeue_max_delay_seconds)),
            "SWEEP_INTERVAL_SECONDS": str(self.s(self.sweep_interval_seconds)),
            "STUCK_GRACE_SECONDS": str(round(self.s(self.stuck_grace_seconds))),
        }

    def scheduler_env(self) -> dict[str, str]:
        return {
            "LLM_BUDGET_PERIOD_SECONDS": str(self.minute),
            "LLM_DISPATCH_MAX_BACKLOG_SECONDS": str(self.s(self.dispatch_max_backlog_seconds)),
            "SCHEDULER_LEASE_SECONDS": str(self.s(self.scheduler_lease_seconds)),
            "RECOVERY_INTERVAL_SECONDS": str(self.s(self.recovery_interval_seconds)),
            "ORPHAN_GRACE_SECONDS": str(self.s(self.orphan_grace_seconds)),
        }

    def runner_settings(self) -> dict[str, Any]:
        """What the runner reads from its env that the chart does not set (or, for the LLM timeout, sets as a whole
        number only through ``--set``)."""
        return {
            "llm_timeout_seconds": self.s(self.llm_timeout_seconds),
            "llm_budget_period_seconds": self.minute,
            "llm_breaker_open_seconds": self.s(self.breaker_open_seconds),
        }

    @contextlib.contextmanager
    def runner_constants(self) -> Iterator[None]:
        """The runner's time constants, scaled while the scenario runs (restored after)."""
        scaled = {
            (llm, "BACKOFF_INITIAL_SECONDS"): self.s(llm.BACKOFF_INITIAL_SECONDS),
            (llm, "BACKOFF_MAX_SECONDS"): self.s(llm.BACKOFF_MAX_SECONDS),
            (llm, "MIN_REQUEST_SECONDS"): self.s(llm.MIN_REQUEST_SECONDS),
            (llm, "REQUEST_RESERVE_SECONDS"): self.s(llm.REQUEST_RESERVE_SECONDS),
            (llm_limits, "BreakerSettings"): functools.partial(
                BreakerSettings, max_open_seconds=self.s(self.breaker_max_open_seconds)
            ),
        }
        with contextlib.ExitStack() as stack:
            for (module, name), value in scaled.items():
                stack.enter_context(_patched(module, name, value))
            yield


@dataclass
class RunnerRun:
    job: str
    submission_id: str
    exit_code: int | None = None
    crashed: str = ""


@dataclass
class Deliveries:
    """What the runners' reporters got back from the backend, per submission."""

    results: Counter[str] = field(default_factory=Counter)
    """Results the backend stored (200)."""
    refused: Counter[str] = field(default_factory=Counter)
    """Results refused or undeliverable (409 already final, 4xx, unreachable)."""
    requeues: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reporter_class(self) -> type[SubmissionReporter]:
        deliveries = self

        class CountingReporter(SubmissionReporter):
            def post_result(self, result: Any, attempt: int | None = None) -> Delivery:
                delivery = super().post_result(result, attempt)
                with deliveries._lock:
                    counter = deliveries.results if delivery is Delivery.POSTED else deliveries.refused
                    counter[self.submission_id] += 1
                return delivery

            def request_requeue(self, request: Any, attempt: int) -> Delivery:
                delivery = super().request_requeue(request, attempt)
                if delivery is Delivery.REQUEUED:
                    with deliveries._lock:
                        deliveries.requeues[self.submission_id] += 1
                return delivery

        return CountingReporter


class InProcessKubelet:
    """Runs each created runner Job as a thread calling ``cloudemy_runner.grading.run`` (see the module docstring),
    then marks the Job Complete (exit 0) or Failed."""

    def __init__(self, platform: "ExamNightPlatform", *, pod_start_seconds: float) -> None:
        self.platform = platform
        self.pod_start = platform.scale.s(pod_start_seconds)
        self.runs: list[RunnerRun] = []
        self.deliveries = Deliveries()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._active: set[threading.Thread] = set()
        self._patches = contextlib.ExitStack()

    def attach(self) -> "InProcessKubelet":
        """Scale the runner's constants and count its deliveries until ``close``, and take the created Jobs."""
        self._patches.enter_context(self.platform.scale.runner_constants())
        self._patches.enter_context(_patched(grading, "SubmissionReporter", self.deliveries.reporter_class()))
        self.platform.k8s.on_create.append(self._on_create)
        return self

    def _on_create(self, job: dict[str, Any]) -> None:
        thread = threading.Thread(target=self._run_job, args=(job,), daemon=True, name="in-process-runner")
        with self._lock:
            self._active.add(thread)
        thread.start()

    def _run_job(self, job: dict[str, Any]) -> None:
        name, namespace = job["metadata"]["name"], job["metadata"]["namespace"]
        run = RunnerRun(name, "")
        with self._lock:
            self.runs.append(run)
        try:
            if self._closed.wait(self.pod_start):
                return
            env = self.platform.runner_env(job["spec"]["template"]["spec"]["containers"][0])
            run.submission_id = env["SUBMISSION_ID"]
            self.platform.k8s.set_pod_state(name, phase="Running", namespace=namespace)
            given = {key.lower(): value for key, value in env.items()}
            settings = RunnerSettings(**{**given, **self.platform.scale.runner_settings()})
            budget = Budget.for_job(  # as ``python -m cloudemy_runner`` does at its start
                settings.job_deadline_seconds,
                started=time.monotonic(),
                started_wall=time.time(),
                job_created_at=settings.job_created_at,
                job_active_deadline_seconds=settings.job_active_deadline_seconds,
            )
            run.exit_code = int(grading.run(settings, budget, hostname=f"{name}-{secrets.token_hex(3)[:5]}"))
        except Exception as exc:  # shown by the scenario's assertions, never swallowed
            run.crashed = f"{type(exc).__name__}: {exc}"
        finally:
            with self._lock:
                self._active.discard(threading.current_thread())
        if self._closed.is_set():
            return
        if run.exit_code == 0:
            self.platform.k8s.set_pod_state(name, phase="Succeeded", terminated_reason="Completed", exit_code=0,
                                            namespace=namespace)  # fmt: skip
            self.platform.k8s.mark_complete(name, namespace=namespace)
        else:
            self.platform.k8s.mark_failed(name, "BackoffLimitExceeded", "the runner failed", namespace=namespace)

    def crashed(self) -> list[RunnerRun]:
        with self._lock:
            return [r for r in self.runs if r.crashed]

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            active = list(self._active)
        for thread in active:
            thread.join(timeout=5)
        self._patches.close()


@contextlib.contextmanager
def _patched(module: Any, name: str, value: Any) -> Iterator[None]:
    saved = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, saved)


class ExamNightPlatform(E2EPlatform):
    """The e2e platform at ``scale``, with the in-process kubelet."""

    def __init__(
        self, workdir: Path, scale: TimeScale, *, set_values: list[str] | None = None, pod_start_seconds: float = 2.0
    ) -> None:
        self.scale = scale
        self.pod_start_seconds = pod_start_seconds
        super().__init__(workdir, set_values=[*scale.chart_values(), *(set_values or [])])

    def backend_env(self) -> dict[str, str]:
        return {**super().backend_env(), **self.scale.backend_env()}

    def scheduler_env(self) -> dict[str, str]:
        return {**super().scheduler_env(), **self.scale.scheduler_env()}

    def make_kubelet(self) -> InProcessKubelet:
        return InProcessKubelet(self, pod_start_seconds=self.pod_start_seconds).attach()

    def scheduler_metric(self, name: str, labels: str = "") -> float | None:
        """One sample of the scheduler's /metrics (``labels`` as printed, e.g. ``reason="llm-breaker-open"``)."""
        try:
            text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2, trust_env=False).text
        except httpx.HTTPError:
            return None
        wanted = f"{name}{{{labels}}}" if labels else name
        for line in text.splitlines():
            if line.startswith(wanted + " "):
                return float(line.rsplit(" ", 1)[1])
        return None


class ReplicatedPlatform(ExamNightPlatform):
    """``schedulers`` scheduler processes and the backend with ``backend_workers`` workers (``e2e.backend_workers``,
    the image's gunicorn layout), on one Redis. ``scheduler`` is the first; ``schedulers`` all of them."""

    def __init__(self, workdir: Path, scale: TimeScale, *, schedulers: int, backend_workers: int,
                 set_values: list[str] | None = None) -> None:  # fmt: skip
        self.backend_workers = backend_workers
        replicas = [f"backend.webConcurrency={backend_workers}", f"scheduler.replicaCount={schedulers}"]
        super().__init__(workdir, scale, set_values=[*replicas, *(set_values or [])])
        self.metrics_ports = [free_port() for _ in range(schedulers)]
        self.schedulers: list[ManagedProcess | None] = [None] * schedulers

    def backend_command(self) -> list[str]:
        return [sys.executable, "-m", "e2e.backend_workers"]

    def backend_env(self) -> dict[str, str]:
        env = {**super().backend_env(), "WEB_CONCURRENCY": str(self.backend_workers)}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), env.get("PYTHONPATH", "")) if p)
        return env

    def start_scheduler(self) -> None:
        for index, proc in enumerate(self.schedulers):
            if proc is None or not proc.running:
                self.start_replica(index)

    def start_replica(self, index: int) -> None:
        """Start scheduler ``index`` (again), as its Deployment's pod ``...-scheduler-{index}``."""
        port = self.metrics_ports[index]
        env = {**self.scheduler_env(), "METRICS_PORT": str(port), "POD_NAME": f"cloudemy-scheduler-{index}"}
        proc = ManagedProcess(f"scheduler-{index}", [sys.executable, "-m", "cloudemy_scheduler"], env, self.workdir)
        proc.start()
        self.schedulers[index] = proc
        self.scheduler = self.schedulers[0]
        proc.wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60)

    def stop(self) -> None:
        for proc in self.schedulers:
            if proc is not None:
                proc.stop()
        super().stop()


def answered_llm_calls(platform: E2EPlatform, numbered: dict[int, str]) -> Counter[str]:
    """Answered grading requests per submission id (the fake LLM records only the requests it answered)."""
    calls: Counter[str] = Counter()
    for request in platform.llm.requests:
        text = "\n".join(str(m.get("content", "")) for m in request.messages)
        found = MARKER.search(text)
        if found is not None and int(found[1]) in numbered:
            calls[numbered[int(found[1])]] += 1
    return calls


def submit_batch(http: httpx.Client, assignment_id: str, students: list[dict[str, str]], count: int,
                 code: str, *, first: int = 0) -> dict[int, str]:  # fmt: skip
    """``count`` submissions at once (numbered from ``first``), round robin over ``students``; number -> id."""
    numbered = {}
    for n in range(first, first + count):
        body = {"language": "python", "code": f"{code}# exam-night-{n}\n"}
        student = students[n % len(students)]
        resp = http.post(f"/api/assignments/{assignment_id}/submissions", json=body, headers=student)
        assert resp.status_code == 202, resp.text
        numbered[n] = resp.json()["id"]
    return numbered


def statuses(http: httpx.Client, assignment_id: str, who: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Every submission of the assignment (id -> summary) through the paged list, as an instructor sees it."""
    found: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"assignment_id": assignment_id, "limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = http.get("/api/submissions", params=params, headers=who)
        assert page.status_code == 200, page.text
        body = page.json()
        found.update({item["id"]: item for item in body["items"]})
        cursor = body.get("next_cursor")
        if not cursor:
            return found


def wait_all_terminal(http: httpx.Client, assignment_id: str, who: dict[str, str], ids: set[str], timeout: float,
                      on_tick: Any = None) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Poll the list until every one of ``ids`` is terminal; fail with the count of each status left."""
    deadline = time.monotonic() + timeout
    seen: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        seen = {sid: item for sid, item in statuses(http, assignment_id, who).items() if sid in ids}
        if len(seen) == len(ids) and all(item["status"] in TERMINAL for item in seen.values()):
            return seen
        if on_tick is not None:
            on_tick()  # may raise: a scenario stops as soon as it knows it failed
        time.sleep(0.5)
    left = Counter(item["status"] for item in seen.values() if item["status"] not in TERMINAL)
    raise AssertionError(f"not terminal after {timeout}s: {dict(left)} (of {len(ids)})")


def job_tries(created: list[str]) -> dict[str, list[str]]:
    """Created runner Job names per submission id."""
    from cloudemy_common.jobs import parse_job_name

    per: dict[str, list[str]] = defaultdict(list)
    for name in created:
        parsed = parse_job_name(name)
        if parsed is not None:
            per[parsed.submission_id].append(name)
    return per


__all__ = [
    "Deliveries",
    "ExamNightPlatform",
    "InProcessKubelet",
    "ReplicatedPlatform",
    "TimeScale",
    "answered_llm_calls",
    "job_tries",
    "statuses",
    "submit_batch",
    "wait_all_terminal",
]
