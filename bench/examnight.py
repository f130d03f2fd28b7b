"""Exam night: 3,000 submissions arriving over 10 minutes, through the real backend and scheduler, against an
LLM provider that takes 3 s per request and refuses more than 500 requests per minute.

What runs: the chart rendered with values/minikube.yaml (``tests/e2e/platform.py``), the backend (in-memory store,
``SUBMISSION_RATE_PER_MINUTE=0``: one bench student sends them all) and the scheduler (EXECUTOR=kubernetes) as
local processes with their rendered env, Redis, the fake Kubernetes API and the fake OpenAI server enforcing
500 requests per window with 429 + Retry-After. The fake API starts with ``--retained`` finished runner Jobs
(default 20,000), labelled ``cloudemy.io/reported=true`` as the watcher leaves handled endings (``--unreported``:
a backlog of endings nobody handled, which the watcher must page through and report).

The runner is a stand-in so that this machine's two cores are not the bottleneck: for each Job the scheduler
creates, a thread waits the pod start time, then does what the runner does over the network: reads the payload
hash, reports ``running``, waits for its turn in the shared LLM budget (``cloudemy_common.llm_budget``, the
runners' own code, at 95 % of the provider's limit), asks the fake LLM, retries a 429 with full jitter over
its Retry-After, posts a ``graded`` result with its attempt token, and marks its pod Succeeded and the Job Complete.

Time is compressed by ``--compress`` (default 5; 1 runs in real time): the arrival window, the pod start
(``--pod-start``, 2 s), the LLM's time (``--llm-seconds``, 3 s) and the provider's and budget's minute all shrink
by that factor, so the run lasts about 600 / compress seconds plus the tail. The floor, measured in the same run
before the exam starts: the platform's own submit-to-result (real seconds) for 20 submissions sent one at a time
with no pod start and an instant LLM. Reported: p50/p95 submit-to-result (in uncompressed seconds), the bound the
LLM limit sets (each submission's ideal finish when requests are served in arrival order at exactly the provider's
limit, after the pod start), their ratio (target <= 1.15), scheduler peak RSS (target < 128 MB with the retained
Jobs) and Redis peak memory, 429s per 1,000 submissions (target < 5), lost (not terminal at the end) and
duplicates (a second Job or a second answered LLM call for one attempt).

    .venv/bin/python bench/examnight.py [--submissions 3000] [--minutes 10] [--compress 5] [--retained 20000]
                                        [--rpm 500] [--max-active 400] [--pod-start 2] [--llm-seconds 3]
                                        [--unreported] [--quick] [--json out.json]
"""

import argparse
import asyncio
import json
import secrets
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import redis
from common import ROOT, CpuWindow, finish_machine_info, git_revision, machine_info, percentile, write_json

from cloudemy_common.jobs import REPORTED, REPORTED_LABEL, job_name, parse_job_name
from cloudemy_common.llm_budget import BudgetLimits, LlmBudget
from cloudemy_common.payload_store import read_payload
from cloudemy_common.retry import full_jitter
from cloudemy_scheduler.job_template import build_job
from e2e.platform import E2EPlatform
from fakes.k8s_api import retained_jobs

SAMPLE = json.loads((ROOT / "demo" / "sample_assignment.json").read_text())
ASSIGNMENT_FIELDS = ("title", "description", "languages", "rubric", "tests", "limits", "fail_tags", "published")
"""What the benchmark needs of the sample (the stand-in runner grades by the LLM alone)."""
RATIO_TARGET = 1.15
SCHEDULER_MB_TARGET = 128
THROTTLED_PER_1000_TARGET = 5
BUDGET_SHARE = 0.95
"""The runners' budget is set this far below the provider's limit (the headroom docs/scheduler.md advises)."""
FLOOR_SUBMISSIONS = 20
"""Submissions sent one at a time, before the exam, with no pod start and an instant LLM: the platform's own
submit-to-result on this machine in the same run (the floor)."""
POST_CONCURRENCY = 32
"""Submissions in flight to the backend at once (browsers behind an Ingress); later ones start late if it lags."""


class ExamPlatform(E2EPlatform):
    """The e2e platform (rendered chart, the chart's Redis users) with the stand-in kubelet instead of runner
    processes, and ``retained`` finished Jobs in the fake API before the scheduler starts."""

    def __init__(self, workdir: Path, args: argparse.Namespace, *, set_values: list[str]) -> None:
        super().__init__(workdir, set_values=set_values)
        self.retained, self.retained_reported = args.retained, not args.unreported
        self.stand_in = StandInKubelet(self, compress=args.compress, rpm=args.rpm, pod_start=args.pod_start)

    def make_kubelet(self) -> "StandInKubelet":
        seed_retained_jobs(self, self.retained, reported=self.retained_reported)  # the scheduler starts after this
        self.stand_in.attach()
        return self.stand_in


class StandInKubelet:
    """Runs each created Job as a thread doing the runner's network work (see the module docstring)."""

    def __init__(self, platform: ExamPlatform, *, compress: float, rpm: int, pod_start: float) -> None:
        self.platform = platform
        self.compress = compress
        self.pod_start = pod_start / compress
        self.limits = BudgetLimits(requests_per_minute=int(rpm * BUDGET_SHARE), period_seconds=60.0 / compress)
        self.http = httpx.Client(timeout=30, trust_env=False, limits=httpx.Limits(max_connections=200))
        self.redis_url = ""
        self.answered: Counter[str] = Counter()
        self.finished_at: dict[str, float] = {}
        self.errors: Counter[str] = Counter()
        self.failed: set[str] = set()
        """Jobs whose stand-in run raised (counted in ``errors``)."""
        self._lock = threading.Lock()

    def attach(self) -> None:
        self.platform.k8s.on_create.append(self._on_create)

    def close(self) -> None:
        self.http.close()

    def _on_create(self, job: dict[str, Any]) -> None:
        timer = threading.Timer(self.pod_start, self._run_guarded, args=(job,))
        timer.daemon = True
        timer.start()

    def _run_guarded(self, job: dict[str, Any]) -> None:
        try:
            self._run(job)
        except Exception as exc:  # counted and shown: a bench must not hide a broken path
            with self._lock:
                self.errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
                self.failed.add(job["metadata"]["name"])

    def _run(self, job: dict[str, Any]) -> None:
        name, namespace = job["metadata"]["name"], job["metadata"]["namespace"]
        self.platform.k8s.set_pod_state(name, phase="Running", namespace=namespace)
        env = self.platform.runner_env(job["spec"]["template"]["spec"]["containers"][0])
        sid, token, internal = env["SUBMISSION_ID"], env["INTERNAL_RESULT_TOKEN"], env["BACKEND_INTERNAL_URL"]
        attempt = (parse_job_name(name) or parse_job_name(job_name(sid))).attempt  # type: ignore[union-attr]
        client = redis.Redis.from_url(env["REDIS_URL"])
        try:
            read_payload(client, sid)  # the hash and its assignment snapshot, as the runner reads them
            budget = LlmBudget(client, self.limits)
            headers = {"X-Result-Token": token}
            self.http.post(f"{internal}/submissions/{sid}/status", json={"status": "running"}, headers=headers)
            self._ask_llm(budget, sid)
            result = {"status": "graded", "score": 1, "max_score": 1, "feedback": "stand-in", "grader": "llm"}
            answer = self.http.post(
                f"{internal}/submissions/{sid}/result?attempt={attempt}", json=result, headers=headers
            )
            if answer.status_code != 200:
                raise RuntimeError(f"result HTTP {answer.status_code}")
        finally:
            client.close()
        with self._lock:
            self.finished_at[sid] = time.time()
        # The runner exited 0: its pod Succeeded and the Job is Complete. A pod left Running would stay in the
        # stuck-pod sweep's list of live pods (phase not Succeeded or Failed) for the rest of the run, so that
        # list, and the scheduler's memory with it, would grow with every Job handled.
        self.platform.k8s.pod_exited(name, 0, namespace=namespace)

    def _ask_llm(self, budget: LlmBudget, sid: str) -> None:
        body = {
            "model": "stand-in",
            "messages": [
                {"role": "system", "content": '[{"id": "correctness", "points": 1}]'},
                {"role": "user", "content": f"grade {sid}"},
            ],
        }
        for retry in range(1, 50):
            turn = budget.reserve(2_000, 3600)
            time.sleep(turn.wait_seconds)
            answer = self.http.post(f"{self.platform.llm.base_url}/chat/completions", json=body)
            if answer.status_code == 200:
                with self._lock:
                    self.answered[sid] += 1
                return
            floor = float(answer.headers.get("retry-after-ms", 0)) / 1000
            time.sleep(full_jitter(retry, base=0.5 / self.compress, cap=8 / self.compress, floor=floor))
        raise RuntimeError("LLM never answered")


def seed_retained_jobs(platform: ExamPlatform, count: int, *, reported: bool) -> None:
    """``count`` finished runner Jobs, as a busy exam hour leaves them until their TTL: with ``reported`` labelled
    ``cloudemy.io/reported=true`` (their endings handled, the steady state), else still to report (a scheduler
    starting after a backlog of endings nobody handled: the watcher must page through all of them)."""
    body = build_job(platform.release.job_template(), f"{0:024x}", 1, "seed-token")
    labels = {REPORTED_LABEL: REPORTED} if reported else None
    platform.k8s.seed_jobs(retained_jobs(body, count, labels), platform.namespace)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def ideal_bounds(arrivals: list[float], *, pod_start: float, llm: float, interval: float) -> list[float]:
    """Submit-to-result of each submission when the provider serves requests in arrival order at its limit."""
    bounds, free_at = [], 0.0
    for arrived in sorted(arrivals):
        start = max(arrived + pod_start, free_at)
        free_at = start + interval
        bounds.append(start + llm - arrived)
    return bounds


async def post_all(
    url: str, headers: dict[str, str], assignment_id: str, count: int, window: float
) -> dict[str, float]:
    """POST ``count`` submissions spread evenly over ``window`` seconds; submission id -> when it was accepted."""
    code = SAMPLE["reference_solution"]["code"]
    posted: dict[str, float] = {}
    started = time.monotonic()
    gate = asyncio.Semaphore(POST_CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, timeout=120, trust_env=False) as http:

        async def post(index: int) -> None:
            await asyncio.sleep(max(started + index * window / count - time.monotonic(), 0))
            async with gate:
                sent = time.time()
                answer = await http.post(
                    f"/api/assignments/{assignment_id}/submissions",
                    json={"language": "python", "code": f"{code}# exam-night {index}\n"},
                    headers=headers,
                )
            answer.raise_for_status()
            posted[answer.json()["id"]] = sent

        await asyncio.gather(*(post(i) for i in range(count)))
    return posted


def measure_floor(platform: ExamPlatform, kubelet: StandInKubelet, http: httpx.Client, student: dict[str, str],
                  assignment: str) -> list[float]:  # fmt: skip
    """Submit-to-result (real seconds) of ``FLOOR_SUBMISSIONS`` sent one at a time, with no pod start and an
    instant LLM, on the started platform: everything but the exam's load and its deliberate waits."""
    pod_start, kubelet.pod_start = kubelet.pod_start, 0.0
    platform.llm.set_mode("good")
    code = SAMPLE["reference_solution"]["code"]
    waits = []
    try:
        for index in range(FLOOR_SUBMISSIONS):
            sent = time.time()
            answer = http.post(f"/api/assignments/{assignment}/submissions", headers=student,
                               json={"language": "python", "code": f"{code}# floor {index}\n"})  # fmt: skip
            answer.raise_for_status()
            sid = answer.json()["id"]
            deadline = time.monotonic() + 60
            while sid not in kubelet.finished_at and time.monotonic() < deadline:
                time.sleep(0.002)
            if sid not in kubelet.finished_at:
                raise RuntimeError(f"floor submission not graded within 60 s; stand-in errors {dict(kubelet.errors)}")
            waits.append(kubelet.finished_at[sid] - sent)
    finally:
        kubelet.pod_start = pod_start
    return waits


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-examnight-"))
    budget_rpm = int(args.rpm * BUDGET_SHARE)
    platform = ExamPlatform(
        workdir,
        args,
        set_values=[f"scheduler.maxActiveJobs={args.max_active}", f"llm.rateLimit.requestsPerMinute={budget_rpm}"],
    )
    window = 60.0 / args.compress
    kubelet = platform.stand_in
    machine = machine_info()
    try:
        platform.start()
        http = platform.client()
        admin = login(http, *platform.admin)
        (instructor, _), (student, student_email) = (account(http, admin, role) for role in ("instructor", "student"))
        assignment = course_assignment(http, instructor, student_email)
        floor = measure_floor(platform, kubelet, http, student, assignment)
        platform.llm.set_mode("slow", delay=args.llm_seconds / args.compress, rpm=args.rpm, window=window)
        platform.llm.reset()
        pids = {"scheduler": platform.scheduler.proc.pid, "backend": platform.backend.proc.pid}  # type: ignore[union-attr]
        cpu = CpuWindow(pids).start()
        posted = asyncio.run(
            post_all(platform.url, student, assignment, args.submissions, args.minutes * 60 / args.compress)
        )
        deadline = time.monotonic() + 600
        names = {job_name(sid) for sid in posted}
        while time.monotonic() < deadline:
            if len(set(posted) & set(kubelet.finished_at)) + len(names & kubelet.failed) >= len(posted):
                break
            time.sleep(0.5)
        cpu.stop()
        statuses = Counter(http.get(f"/api/submissions/{sid}", headers=instructor).json()["status"] for sid in posted)
        scheduler_mb = peak_rss_mb(platform.scheduler.proc.pid)  # type: ignore[union-attr]
        redis_info = redis.Redis(port=platform.redis.port, password=platform._redis_password()).info("memory")
        created = Counter(platform.k8s.created_names())
    finally:
        platform.stop()
    arrivals = sorted(posted.values())
    waits = [(kubelet.finished_at[s] - t) * args.compress for s, t in posted.items() if s in kubelet.finished_at]
    bounds = [
        b * args.compress
        for b in ideal_bounds(
            [t - arrivals[0] for t in arrivals],
            pod_start=args.pod_start / args.compress,
            llm=args.llm_seconds / args.compress,
            interval=window / args.rpm,
        )
    ]
    throttled = platform.llm.calls["throttled"]
    p50, p95 = percentile(waits, 50), percentile(waits, 95)
    b50, b95 = percentile(bounds, 50), percentile(bounds, 95)
    f50, f95 = percentile(floor, 50), percentile(floor, 95)
    runner_jobs = {n for n in created if not n.startswith("runner-0000")}
    return {
        "submissions": len(posted),
        "minutes": args.minutes,
        "compress": args.compress,
        "rpm": args.rpm,
        "pod_start_seconds": args.pod_start,
        "llm_seconds": args.llm_seconds,
        "statuses": dict(statuses),
        "submit_to_result_seconds": {"p50": p50, "p95": p95, "mean": statistics.fmean(waits) if waits else None},
        "llm_bound_seconds": {"p50": b50, "p95": b95},
        "ratio": {"p50": p50 / b50 if b50 else None, "p95": p95 / b95 if b95 else None},
        "floor_submit_to_result_seconds": {"p50": f50, "p95": f95, "count": len(floor)},
        "overhead_over_bound_seconds": {"p50": p50 - b50, "p95": p95 - b95},
        "overhead_in_floors": {"p50": (p50 - b50) / (f50 * args.compress) if f50 else None},
        "cpu_cores": cpu.cores(),
        "scheduler_peak_rss_mb": scheduler_mb,
        "redis_peak_mb": redis_info["used_memory_peak"] / 2**20,
        "retained_jobs": args.retained,
        "retained_reported": not args.unreported,
        "throttled_429": throttled,
        "throttled_per_1000": throttled * 1000 / max(len(posted), 1),
        "lost": len(posted) - len(set(posted) & set(kubelet.finished_at)),
        "duplicate_jobs": sum(1 for n in runner_jobs if created[n] > 1),
        "duplicate_llm_calls": sum(1 for n in kubelet.answered.values() if n > 1),
        "stand_in_errors": dict(kubelet.errors),
        "machine": finish_machine_info(machine),
        "revision": git_revision(),
    }


def login(http: httpx.Client, email: str, password: str) -> dict[str, str]:
    answer = http.post("/api/auth/token", data={"username": email, "password": password})
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def account(http: httpx.Client, admin: dict[str, str], role: str) -> tuple[dict[str, str], str]:
    email, password = f"{role}-{secrets.token_hex(3)}@example.edu", secrets.token_urlsafe(12)
    http.post(
        "/api/users", json={"email": email, "password": password, "name": role.title(), "role": role}, headers=admin
    ).raise_for_status()
    return login(http, email, password), email


def course_assignment(http: httpx.Client, instructor: dict[str, str], student_email: str) -> str:
    """A course with the student enrolled and the sample assignment in it; the assignment's id."""
    course = http.post("/api/courses", json={"code": "EXAM", "title": "Exam night"}, headers=instructor)
    course.raise_for_status()
    course_id = course.json()["id"]
    member = {"email": student_email, "role": "student"}
    http.post(f"/api/courses/{course_id}/members", json=member, headers=instructor).raise_for_status()
    body = {k: v for k, v in SAMPLE.items() if k in ASSIGNMENT_FIELDS}
    answer = http.post(f"/api/courses/{course_id}/assignments", json=body, headers=instructor)
    answer.raise_for_status()
    return answer.json()["id"]


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--submissions", type=int, default=3000)
    cli.add_argument("--minutes", type=float, default=10.0)
    cli.add_argument("--compress", type=float, default=5.0)
    cli.add_argument("--retained", type=int, default=20_000)
    cli.add_argument("--rpm", type=int, default=500)
    cli.add_argument("--max-active", type=int, default=400)
    cli.add_argument("--pod-start", type=float, default=2.0, help="seconds from Job creation to the runner's start")
    cli.add_argument("--llm-seconds", type=float, default=3.0, help="the provider's time per request")
    cli.add_argument("--unreported", action="store_true", help="retained Jobs not yet labelled reported")
    cli.add_argument("--quick", action="store_true", help="300 submissions over 1 minute, 2,000 retained Jobs")
    cli.add_argument("--json", type=Path)
    args = cli.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the child processes on the way out
    if args.quick:
        args.submissions, args.minutes, args.retained = 300, 1.0, 2_000
    report = run(args)
    met = {
        "ratio_p95": (report["ratio"]["p95"] or 99) <= RATIO_TARGET,
        "scheduler_mb": report["scheduler_peak_rss_mb"] < SCHEDULER_MB_TARGET,
        "throttled": report["throttled_per_1000"] < THROTTLED_PER_1000_TARGET,
        "lost": report["lost"] == 0,
        "duplicates": report["duplicate_jobs"] == 0 and report["duplicate_llm_calls"] == 0,
    }
    report["targets_met"] = met
    print(json.dumps({k: v for k, v in report.items() if k != "machine"}, indent=2))
    write_json(args.json, report)


if __name__ == "__main__":
    main()
