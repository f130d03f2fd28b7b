"""Drain: 200 submissions through the e2e harness, MAX_ACTIVE_JOBS=20, a fake LLM that takes 2 s per request.

What runs: ``tests/e2e/platform.py``'s E2EPlatform — the chart rendered with values/minikube.yaml and
``--set scheduler.maxActiveJobs=20``, the backend (in-memory store) and the scheduler (EXECUTOR=kubernetes) as
local processes with their rendered env, the fake Kubernetes API, the fake kubelet that runs each Job's real
``python -m cloudemy_runner`` process, and the fake OpenAI server in ``slow`` mode (2 s per request).

Each run creates a fresh assignment, POSTs ``--submissions`` submissions of the sample reference solution
(16 at a time) and polls the assignment's submission list until all are terminal. Drain time = the last
terminal ``updated_at`` (the backend's clock) minus the moment just before the first POST. The floor is the
lower bound ``submissions x delay / max_active`` (200 x 2 / 20 = 20 s); target: at most 1.25x.

Before the batch, one submission goes through alone: its end-to-end time is the per-Job cost with no
contention, so ``ceil(submissions / max_active) x single`` is what the platform could do on an idle machine.

Where the time goes (per run, in the JSON and the table):
- per Job: Job created -> first LLM request (runner start-up, as spawned by the fake kubelet), the LLM's 2 s,
  LLM answer -> terminal result stored (runner posts its result), terminal -> Job marked Complete (runner exit);
- slot reuse: from a submission turning terminal to the create call that reuses its slot;
- LLM concurrency: the mean number of LLM requests in flight while draining (20 when slots never idle);
- CPU: busy cores of the machine, and CPU seconds of the runners (all of them), backend, scheduler and this
  process (fake API, fake LLM, kubelet threads, poller).

    .venv/bin/python bench/drain.py [--runs 5] [--submissions 200] [--max-active 20] [--delay 2]
                                    [--quick] [--json out.json] [--profile DIR]

Imports ``e2e.platform`` and ``fakes.*`` via bench/common.py, which puts the repo root and tests/ on sys.path.
``--profile`` needs py-spy (``pip install py-spy``): it records the backend and the scheduler during one more run.
"""

import asyncio
import math
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from common import (
    CpuWindow,
    collapsed_top,
    effective_runs,
    finish_machine_info,
    fmt_stat,
    git_revision,
    machine_info,
    parser,
    percentile,
    py_spy,
    ratio,
    summary,
    table,
    verdict,
    write_json,
)

from cloudemy_common.jobs import job_name
from demo.platform import sample_assignment
from e2e.platform import TERMINAL, E2EPlatform

RATIO_TARGET = 1.25
POST_CONCURRENCY = 16
POLL_SECONDS = 0.5
SAMPLE = sample_assignment(with_llm_rubric=True)
MARKER = "# bench-drain "


def wall(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class Recorder:
    """Wall-clock stamps of what happens in this process: Job creates and completions (fake API)."""

    def __init__(self, platform: E2EPlatform) -> None:
        self.created: dict[str, float] = {}
        self.completed: dict[str, float] = {}
        self._lock = threading.Lock()
        platform.k8s.on_create.insert(0, self._on_create)
        original = platform.k8s.mark_complete

        def mark_complete(name: str, namespace: str = "default") -> None:
            with self._lock:
                self.completed[name] = time.time()
            original(name, namespace=namespace)

        platform.k8s.mark_complete = mark_complete  # type: ignore[method-assign]

    def _on_create(self, job: dict[str, Any]) -> None:
        with self._lock:
            self.created[job["metadata"]["name"]] = time.time()


class Drain:
    def __init__(self, platform: E2EPlatform, submissions: int, max_active: int, delay: float) -> None:
        self.platform = platform
        self.submissions, self.max_active, self.delay = submissions, max_active, delay
        self.recorder = Recorder(platform)
        self.http = platform.client()
        self.instructor: dict[str, str] = {}
        self.student: dict[str, str] = {}
        self.course_id = ""

    # ---- accounts -------------------------------------------------------------------------------------------

    def login(self, email: str, password: str) -> dict[str, str]:
        resp = self.http.post("/api/auth/token", data={"username": email, "password": password})
        resp.raise_for_status()
        return {"Authorization": f"Bearer {resp.json()['access_token']}"}

    def open(self) -> None:
        admin = self.login(*self.platform.admin)
        emails = {}
        for role in ("instructor", "student"):
            email, password = f"{role}-{secrets.token_hex(3)}@example.edu", secrets.token_urlsafe(12)
            body = {"email": email, "password": password, "name": role.title(), "role": role}
            self.http.post("/api/users", json=body, headers=admin).raise_for_status()
            setattr(self, role, self.login(email, password))
            emails[role] = email
        resp = self.http.post("/api/courses", json={"code": "DRAIN", "title": "Drain"}, headers=self.instructor)
        resp.raise_for_status()
        self.course_id = resp.json()["id"]
        member = {"email": emails["student"], "role": "student"}
        self.http.post(
            f"/api/courses/{self.course_id}/members", json=member, headers=self.instructor
        ).raise_for_status()

    def new_assignment(self) -> str:
        body = SAMPLE
        resp = self.http.post(f"/api/courses/{self.course_id}/assignments", json=body, headers=self.instructor)
        resp.raise_for_status()
        return resp.json()["id"]

    # ---- one batch ------------------------------------------------------------------------------------------

    async def _post_all(self, assignment_id: str, tag: str, count: int) -> list[tuple[str, str, float]]:
        code = SAMPLE["reference_solution"]["code"]
        gate = asyncio.Semaphore(POST_CONCURRENCY)
        limits = httpx.Limits(max_connections=POST_CONCURRENCY)
        async with httpx.AsyncClient(base_url=self.platform.url, timeout=30, trust_env=False, limits=limits) as http:

            async def post(index: int) -> tuple[str, str, float]:
                async with gate:
                    body = {"language": "python", "code": f"{code}{MARKER}{tag}-{index}\n"}
                    resp = await http.post(
                        f"/api/assignments/{assignment_id}/submissions", json=body, headers=self.student
                    )
                    resp.raise_for_status()
                    return resp.json()["id"], f"{tag}-{index}", time.time()

            return list(await asyncio.gather(*(post(i) for i in range(count))))

    def statuses(self, assignment_id: str) -> list[dict[str, Any]]:
        items, cursor = [], None
        while True:
            params: dict[str, Any] = {"assignment_id": assignment_id, "limit": 100}
            if cursor:
                params["cursor"] = cursor
            page = self.http.get("/api/submissions", params=params, headers=self.instructor).json()
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    def wait_all_terminal(self, assignment_id: str, count: int, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        items: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            items = self.statuses(assignment_id)
            if len(items) == count and all(i["status"] in TERMINAL for i in items):
                return items
            time.sleep(POLL_SECONDS)
        pending = [i["status"] for i in items if i["status"] not in TERMINAL]
        by_status = {s: pending.count(s) for s in sorted(set(pending))}
        raise TimeoutError(f"{len(pending)} of {count} submissions not terminal after {timeout:.0f} s: {by_status}")

    def batch(self, tag: str, count: int, timeout: float) -> dict[str, Any]:
        """POST ``count`` submissions, wait for all, return timings and the per-Job phases."""
        assignment_id = self.new_assignment()
        llm_before = len(self.platform.llm.requests)
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        pids = {"backend": _pid(self.platform.backend), "scheduler": _pid(self.platform.scheduler)}
        window = CpuWindow(pids).start()
        first_post = time.time()
        posted = asyncio.run(self._post_all(assignment_id, tag, count))
        last_post = max(t for _, _, t in posted)
        marker_to_sid = {marker: sid for sid, marker, _ in posted}
        items = self.wait_all_terminal(assignment_id, count, timeout)
        window.stop()
        children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        last_terminal = max(wall(i["updated_at"]) for i in items)
        drain = last_terminal - first_post
        statuses = {s: sum(1 for i in items if i["status"] == s) for s in sorted({i["status"] for i in items})}
        llm = [r for r in self.platform.llm.requests[llm_before:] if f"{MARKER}{tag}-" in _user_text(r.body)]
        phases = self.phases(items, llm, marker_to_sid)
        cpu = window.cores()
        runner_cpu = (children1.ru_utime + children1.ru_stime) - (children0.ru_utime + children0.ru_stime)
        return {
            "submissions": count,
            "drain_seconds": drain,
            "post_seconds": last_post - first_post,
            "statuses": statuses,
            "llm_requests": len(llm),
            "mean_llm_in_flight": len(llm) * self.delay / drain if drain > 0 else 0.0,
            "phases": phases,
            "cpu": {
                "machine_busy_cores": cpu["machine"],
                "runners_cpu_seconds": runner_cpu,
                "runner_cpu_seconds_each": runner_cpu / max(len(llm), 1),
                "backend_cpu_seconds": window.used["backend"] if window.used else 0.0,
                "scheduler_cpu_seconds": window.used["scheduler"] if window.used else 0.0,
                "harness_cpu_seconds": window.used["self"] if window.used else 0.0,
            },
        }

    def phases(self, items: list[dict[str, Any]], llm: list[Any], marker_to_sid: dict[str, str]) -> dict[str, Any]:
        """Median/p90/max of each step of a Job's life, and how long a freed slot stayed idle."""
        llm_by_sid: dict[str, float] = {}
        for request in llm:  # the first LLM request of each submission, found by the marker in its code
            marker = _user_text(request.body).split(MARKER, 1)[1].split()[0]
            if marker in marker_to_sid:
                llm_by_sid.setdefault(marker_to_sid[marker], request.received_at)
        steps: dict[str, list[float]] = {
            "queued_to_created": [],
            "created_to_llm": [],
            "llm_to_terminal": [],
            "terminal_to_complete": [],
        }
        created_all, terminal_all = [], []
        for item in items:
            name = job_name(item["id"], item["attempt"])
            queued, terminal = wall(item["created_at"]), wall(item["updated_at"])
            created, completed = self.recorder.created.get(name), self.recorder.completed.get(name)
            llm_at = llm_by_sid.get(item["id"])
            terminal_all.append(terminal)
            if created is not None:
                created_all.append(created)
                steps["queued_to_created"].append(created - queued)
                if llm_at is not None:
                    steps["created_to_llm"].append(llm_at - created)
            if llm_at is not None:
                steps["llm_to_terminal"].append(terminal - (llm_at + self.delay))
            if completed is not None:
                steps["terminal_to_complete"].append(completed - terminal)
        # the (j + max_active)-th create can only happen once j + 1 Jobs have ended: pair them in time order
        created_all.sort()
        terminal_all.sort()
        reuse = [
            created_all[j + self.max_active] - terminal_all[j]
            for j in range(len(terminal_all))
            if j + self.max_active < len(created_all)
        ]
        out = {name: _dist(values) for name, values in steps.items()}
        out["slot_reuse_terminal_to_next_create"] = _dist(reuse)
        return out

    def close(self) -> None:
        self.http.close()


def _pid(proc: Any) -> int:
    return proc.proc.pid if proc is not None and proc.proc is not None else 0


def _user_text(body: dict[str, Any]) -> str:
    return "".join(str(m.get("content") or "") for m in body.get("messages", []) if m.get("role") == "user")


def _dist(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "median": statistics.median(values),
        "p90": percentile(values, 90),
        "max": max(values),
    }


# ---- the benchmark ----------------------------------------------------------------------------------------


def run(runs: int, submissions: int, max_active: int, delay: float, profile_dir: Path | None) -> dict[str, Any]:
    info = machine_info()
    workdir = Path(tempfile.mkdtemp(prefix="cloudemy-bench-drain-"))
    bound = submissions * delay / max_active
    timeout = max(300.0, bound * 15)  # a busy 2-core machine is slow, but a stuck drain must still end
    platform = E2EPlatform(workdir, set_values=[f"scheduler.maxActiveJobs={max_active}"])
    singles, batches, profiles = [], [], {}
    try:
        platform.start()
        platform.llm.set_mode("slow", delay=delay)
        drain = Drain(platform, submissions, max_active, delay)
        drain.open()
        drain.batch("warmup", 1, timeout)  # first use: imports, caches, connections
        for index in range(runs):
            single = drain.batch(f"single{index}", 1, timeout)
            singles.append(single["drain_seconds"])
            batch = drain.batch(f"run{index}", submissions, timeout)
            batches.append(batch)
            print(
                f"  run {index + 1}/{runs}: {batch['drain_seconds']:.1f} s (one alone {single['drain_seconds']:.2f} s)",
                file=sys.stderr,
                flush=True,
            )
        if profile_dir is not None:
            profiles = profile(drain, platform, profile_dir, submissions, timeout)
        drain.close()
    finally:
        platform.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    drains = [b["drain_seconds"] for b in batches]
    single = summary(singles)
    waves = math.ceil(submissions / max_active)
    result = {
        "benchmark": "drain",
        "revision": git_revision(),
        "machine": finish_machine_info(info),
        "setup": {
            "harness": "tests/e2e/platform.py E2EPlatform (chart rendered with values/minikube.yaml)",
            "set_values": [f"scheduler.maxActiveJobs={max_active}"],
            "submissions": submissions,
            "max_active_jobs": max_active,
            "llm_delay_seconds": delay,
            "runs": runs,
            "store": "in-memory (MONGO_URI=memory://)",
        },
        "lower_bound_seconds": bound,
        "drain_seconds": summary(drains),
        "ratio_to_bound": ratio(statistics.median(drains), bound),
        "target_ratio_max": RATIO_TARGET,
        "target_met": ratio(statistics.median(drains), bound) <= RATIO_TARGET,
        "single_submission_seconds": single,
        "waves": waves,
        "waves_times_single_seconds": waves * single["median"],
        "mean_llm_in_flight": summary([b["mean_llm_in_flight"] for b in batches]),
        "machine_busy_cores": summary([b["cpu"]["machine_busy_cores"] for b in batches]),
        "runner_cpu_seconds_each": summary([b["cpu"]["runner_cpu_seconds_each"] for b in batches]),
        "cpu_seconds_per_run": {
            key: summary([b["cpu"][key] for b in batches])
            for key in ("runners_cpu_seconds", "backend_cpu_seconds", "scheduler_cpu_seconds", "harness_cpu_seconds")
        },
        "phases_median_seconds": {
            step: summary([b["phases"][step]["median"] for b in batches if b["phases"][step].get("count")])
            for step in batches[0]["phases"]
        },
        "batches": batches,
        "profiles": profiles,
    }
    cpu_total = sum(result["cpu_seconds_per_run"][k]["median"] for k in result["cpu_seconds_per_run"])
    result["cpu_bound_seconds"] = cpu_total / (info["nproc"] or 1)
    return result


def profile(drain: Drain, platform: E2EPlatform, out_dir: Path, submissions: int, timeout: float) -> dict[str, Any]:
    """One more batch with py-spy recording the backend and the scheduler (raw stacks + top functions)."""
    spy = py_spy()
    if spy is None:
        return {"error": "py-spy not installed (pip install py-spy)"}
    out_dir.mkdir(parents=True, exist_ok=True)
    recorders = {}
    for name, proc in (("backend", platform.backend), ("scheduler", platform.scheduler)):
        out = out_dir / f"drain_{name}.collapsed.txt"
        argv = [spy, "record", "--pid", str(_pid(proc)), "--format", "raw", "--output", str(out), "--rate", "50",
                "--nonblocking"]  # fmt: skip
        recorders[name] = (subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out)
    time.sleep(1.0)
    try:
        drain.batch("profile", submissions, timeout)
    finally:
        for proc, _ in recorders.values():
            proc.send_signal(2)  # SIGINT: py-spy writes its output and exits
            proc.wait(timeout=30)
    return {
        name: {"py_spy_raw": str(out), "top_inclusive_percent": collapsed_top(out) if out.exists() else []}
        for name, (_, out) in recorders.items()
    }


def print_report(r: dict[str, Any]) -> None:
    setup, machine = r["setup"], r["machine"]
    print(
        f"drain: {setup['submissions']} submissions, MAX_ACTIVE_JOBS={setup['max_active_jobs']}, LLM "
        f"{setup['llm_delay_seconds']:g} s, {setup['runs']} runs; {machine['nproc']} cores, load average "
        f"{machine['load_average_at_start']} -> {machine['load_average_at_end']}"
    )
    rows = [
        ["drain time, first POST -> last terminal (s)", fmt_stat(r["drain_seconds"], 2)],
        ["lower bound n x delay / max_active (s)", f"{r['lower_bound_seconds']:.2f}"],
        [
            "ratio to the bound",
            f"{r['ratio_to_bound']:.2f}x (target <= {r['target_ratio_max']}x: {verdict(r['target_met'])})",
        ],
        ["one submission alone, POST -> terminal (s)", fmt_stat(r["single_submission_seconds"], 2)],
        [f"{r['waves']} waves x one alone (s)", f"{r['waves_times_single_seconds']:.2f}"],
        ["mean LLM requests in flight", fmt_stat(r["mean_llm_in_flight"], 1)],
        ["machine busy cores while draining", fmt_stat(r["machine_busy_cores"], 2)],
        ["CPU seconds per runner", fmt_stat(r["runner_cpu_seconds_each"], 2)],
        ["CPU-bound drain time, all CPU / cores (s)", f"{r['cpu_bound_seconds']:.1f}"],
    ]
    for key, stats in r["cpu_seconds_per_run"].items():
        rows.append([f"  CPU s per run: {key.removesuffix('_cpu_seconds')}", fmt_stat(stats, 1)])
    for step, stats in r["phases_median_seconds"].items():
        rows.append([f"  per Job, median: {step} (s)", fmt_stat(stats, 2)])
    print(table(["figure", "median (min..max)"], rows))
    for name, prof in r["profiles"].items():
        for share, frame in (prof.get("top_inclusive_percent") or [])[:25] if isinstance(prof, dict) else []:
            print(f"  profile {name} {share:5.1f}%  {frame}")


def main() -> int:
    p = parser(__doc__)
    p.add_argument("--submissions", type=int, default=200)
    p.add_argument("--max-active", type=int, default=20)
    p.add_argument("--delay", type=float, default=2.0, help="seconds the fake LLM takes per request")
    p.add_argument("--profile", type=Path, help="directory for py-spy recordings of one more batch")
    args = p.parse_args()
    runs = effective_runs(args, quick_runs=1)
    submissions, max_active, delay = args.submissions, args.max_active, args.delay
    if args.quick:
        submissions, max_active, delay = 6, 3, 0.2
    result = run(runs, submissions, max_active, delay, args.profile)
    print_report(result)
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
