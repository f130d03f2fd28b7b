"""Backend under fixed offered loads: POST and GET submission, p50/p99, floor = the same server's /healthz.

What runs: a real redis-server and ``python -m cloudemy_backend`` (one uvicorn worker, the in-memory store
``MONGO_URI=memory://``, i.e. mongomock-motor, not MongoDB; LOG_LEVEL INFO as in production) on 127.0.0.1.
The load is open-loop: request i is due at t0 + i/rate whatever happened to the ones before it, and its
latency is counted from that due time (so a server that falls behind is charged for the queue it built,
no coordinated omission). Each measurement is bounded: ``--seconds`` of requests (stretched to at least
``--min-requests`` requests, so a p99 is not one outlier), 5 s timeout each.

Per run and offered load, a fresh backend is started (the in-memory store scans every document on each
lookup, so its size must be the same for every measurement: a seed of ``SEED_SUBMISSIONS`` submissions,
plus the POSTs of the measurement itself), warmed up, then measured on /healthz (the floor), GET
/api/submissions/{id} and POST /api/assignments/{id}/submissions, in that order.

The load generator is an asyncio raw HTTP/1.1 client with keep-alive connections (uvloop when installed),
in this process, with at most MAX_CONNECTIONS requests on the wire (an overloaded server makes the rest wait,
and that wait counts in their latency). It checks it is not the bottleneck: its own CPU share and how late
it sent requests (send lag p99; at overload it includes the wait for a connection) are reported per load.

    .venv/bin/python bench/backend_load.py [--runs 5] [--rates 50,100,200,400,600,1000] [--seconds 2]
                                           [--quick] [--json out.json] [--profile DIR [--profile-rate 300]]

Imports ``demo.processes`` (Redis and child processes) via bench/common.py, which puts the repo root and
tests/ on sys.path.
"""

import asyncio
import concurrent.futures
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from common import (
    ROOT,
    CpuWindow,
    clean_env,
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
    write_json,
)

from demo.platform import sample_assignment
from demo.processes import ManagedProcess, RedisProcess, free_port, memory_backend_env

P99_TARGET_MS = 25.0
SEED_SUBMISSIONS = 100
REQUEST_TIMEOUT = 5.0
WARMUP_REQUESTS = 60
MIN_REQUESTS = 400
MAX_CONNECTIONS = 256
WARMUP_RATE = 100.0
DEFAULT_RATES = (50, 100, 200, 300, 400, 600, 800, 1000, 1200)
ENDPOINTS = ("healthz", "get", "post")
SAMPLE = sample_assignment(with_llm_rubric=True)


# ---- the load generator -----------------------------------------------------------------------------------


@dataclass
class Sample:
    latency: float  # seconds from the due time to the last byte of the response
    send_lag: float  # seconds from the due time to the moment the request was written
    status: int  # HTTP status, or 0 for a timeout / connection error


@dataclass
class LoadResult:
    rate: float
    samples: list[Sample] = field(default_factory=list)
    connections_opened: int = 0
    wall: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    def latencies_ms(self) -> list[float]:
        return [s.latency * 1000 for s in self.samples if 200 <= s.status < 300]

    @property
    def errors(self) -> int:
        return sum(1 for s in self.samples if not 200 <= s.status < 300)

    def as_json(self) -> dict[str, Any]:
        ok = self.latencies_ms()
        lags = [s.send_lag * 1000 for s in self.samples]
        return {
            "offered_rps": self.rate,
            "requests": len(self.samples),
            "errors": self.errors,
            "statuses": {str(k): v for k, v in sorted(Counter(s.status for s in self.samples).items())},
            "achieved_rps": len(ok) / self.wall if self.wall else 0.0,
            "p50_ms": percentile(ok, 50),
            "p99_ms": percentile(ok, 99),
            "max_ms": max(ok) if ok else float("nan"),
            "send_lag_p99_ms": percentile(lags, 99),
            "connections_opened": self.connections_opened,
            "cpu_cores": self.cpu,
        }


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def exchange(self, request: bytes) -> int:
        """Send one request and read its whole response; the HTTP status."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
                break
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


class OpenLoop:
    """Sends ``rate`` requests per second for ``seconds`` on a fixed timetable, over a pool of connections."""

    def __init__(self, host: str, port: int, build: Callable[[int], bytes]) -> None:
        self.host, self.port, self.build = host, port, build
        self.idle: list[_Connection] = []
        self.opened = 0
        # at most this many requests on the wire: an overloaded server makes the rest wait (and the wait counts)
        self.in_flight = asyncio.Semaphore(MAX_CONNECTIONS)

    async def _connection(self) -> _Connection:
        if self.idle:
            return self.idle.pop()
        reader, writer = await asyncio.open_connection(self.host, self.port)
        self.opened += 1
        return _Connection(reader, writer)

    async def _one(self, index: int, due: float) -> Sample:
        conn: _Connection | None = None
        sent = due
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT), self.in_flight:
                conn = await self._connection()
                sent = time.perf_counter()
                status = await conn.exchange(self.build(index))
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            if conn is not None:
                conn.close()
            return Sample(time.perf_counter() - due, sent - due, 0)
        self.idle.append(conn)
        return Sample(time.perf_counter() - due, sent - due, status)

    async def run(self, rate: float, seconds: float, *, prewarm: int = 8) -> LoadResult:
        for _ in range(prewarm - len(self.idle)):
            reader, writer = await asyncio.open_connection(self.host, self.port)
            self.idle.append(_Connection(reader, writer))
        opened_before = self.opened
        count = max(1, int(rate * seconds))
        result = LoadResult(rate)
        tasks: list[asyncio.Task[Sample]] = []
        # time.perf_counter, not loop.time(): uvloop's clock has millisecond resolution
        start = time.perf_counter() + 0.01
        for index in range(count):
            due = start + index / rate
            delay = due - time.perf_counter()
            if delay > 0.0005:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self._one(index, due)))
        result.samples = list(await asyncio.gather(*tasks))
        result.wall = time.perf_counter() - start
        result.connections_opened = self.opened - opened_before
        return result

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


def http_request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# ---- the server under test --------------------------------------------------------------------------------


@dataclass
class Fixture:
    """A started backend with a student, an assignment and SEED_SUBMISSIONS submissions of that student."""

    backend: ManagedProcess
    port: int
    auth: dict[str, str]
    assignment_id: str
    submission_ids: list[str]

    def requests(self) -> dict[str, Callable[[int], bytes]]:
        code = SAMPLE["reference_solution"]["code"]
        post_body = json.dumps({"language": "python", "code": code}).encode()
        headers = {"Authorization": self.auth["Authorization"], "Content-Type": "application/json"}
        healthz = http_request("GET", "/healthz", {})
        gets = [http_request("GET", f"/api/submissions/{sid}", headers) for sid in self.submission_ids]
        post = http_request("POST", f"/api/assignments/{self.assignment_id}/submissions", headers, post_body)
        return {
            "healthz": lambda i: healthz,
            "get": lambda i: gets[i % len(gets)],
            "post": lambda i: post,
        }


def start_backend(redis: RedisProcess, workdir: Path) -> tuple[ManagedProcess, int]:
    port = free_port()
    admin_password = secrets.token_urlsafe(12)
    env = clean_env() | memory_backend_env(
        port,
        redis.url,
        internal_token=secrets.token_hex(32),
        jwt_secret=secrets.token_hex(32),
        admin_email="admin@example.com",
        admin_password=admin_password,
        SWEEP_INTERVAL_SECONDS="3600",  # the sweep is not what is measured
        LOG_LEVEL="INFO",
    )
    backend = ManagedProcess("backend", [sys.executable, "-m", "cloudemy_backend"], env, workdir)
    backend.start()
    backend.wait_http(f"http://127.0.0.1:{port}/readyz", timeout=60)
    backend.env["_ADMIN_PASSWORD"] = admin_password
    return backend, port


def seed(backend: ManagedProcess, port: int, submissions: int) -> Fixture:
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as http:

        def login(email: str, password: str) -> dict[str, str]:
            resp = http.post("/api/auth/token", data={"username": email, "password": password})
            resp.raise_for_status()
            return {"Authorization": f"Bearer {resp.json()['access_token']}"}

        admin = login("admin@example.com", backend.env["_ADMIN_PASSWORD"])
        people = {}
        for role in ("instructor", "student"):
            password = secrets.token_urlsafe(12)
            email = f"{role}@example.com"
            body = {"email": email, "password": password, "name": role.title(), "role": role}
            http.post("/api/users", json=body, headers=admin).raise_for_status()
            people[role] = login(email, password)
        assignment = SAMPLE
        course = http.post("/api/courses", json={"code": "BENCH", "title": "Bench"}, headers=people["instructor"])
        course.raise_for_status()
        member = {"email": "student@example.com", "role": "student"}
        joined = http.post(f"/api/courses/{course.json()['id']}/members", json=member, headers=people["instructor"])
        joined.raise_for_status()
        resp = http.post(
            f"/api/courses/{course.json()['id']}/assignments", json=assignment, headers=people["instructor"]
        )
        resp.raise_for_status()
        assignment_id = resp.json()["id"]
        code = SAMPLE["reference_solution"]["code"]
        ids = []
        for _ in range(submissions):
            resp = http.post(
                f"/api/assignments/{assignment_id}/submissions",
                json={"language": "python", "code": code},
                headers=people["student"],
            )
            resp.raise_for_status()
            ids.append(resp.json()["id"])
    return Fixture(backend, port, people["student"], assignment_id, ids)


async def measure_level(fixture: Fixture, rate: float, seconds: float) -> dict[str, LoadResult]:
    """Warm up, then /healthz, GET and POST at ``rate`` for ``seconds`` each, on one backend."""
    requests = fixture.requests()
    pid = fixture.backend.proc.pid if fixture.backend.proc else 0
    results: dict[str, LoadResult] = {}
    for name in ENDPOINTS:
        gen = OpenLoop("127.0.0.1", fixture.port, requests[name])
        try:
            await gen.run(WARMUP_RATE, WARMUP_REQUESTS / WARMUP_RATE)  # warm-up, not counted
            window = CpuWindow({"backend": pid}).start()
            result = await gen.run(rate, seconds)
            result.cpu = {k: round(v, 3) for k, v in window.stop().cores().items()}
            results[name] = result
        finally:
            gen.close()
    return results


# ---- the benchmark ----------------------------------------------------------------------------------------


def level_summary(rate: float, per_run: list[dict[str, LoadResult]]) -> dict[str, Any]:
    """Median/min/max over the runs of every figure at one offered load, and the ratios to /healthz."""
    out: dict[str, Any] = {"offered_rps": rate}
    for name in ENDPOINTS:
        runs = [r[name].as_json() for r in per_run]
        out[name] = {
            "p50_ms": summary([r["p50_ms"] for r in runs]),
            "p99_ms": summary([r["p99_ms"] for r in runs]),
            "achieved_rps": summary([r["achieved_rps"] for r in runs]),
            "errors": sum(r["errors"] for r in runs),
            "requests": sum(r["requests"] for r in runs),
            "send_lag_p99_ms": summary([r["send_lag_p99_ms"] for r in runs]),
            "generator_cpu_cores": summary([r["cpu_cores"]["self"] for r in runs]),
            "backend_cpu_cores": summary([r["cpu_cores"]["backend"] for r in runs]),
            "machine_busy_cores": summary([r["cpu_cores"]["machine"] for r in runs]),
            "runs": runs,
        }
    floor = out["healthz"]
    for name in ("get", "post"):
        out[name]["p50_ratio_to_floor"] = ratio(out[name]["p50_ms"]["median"], floor["p50_ms"]["median"])
        out[name]["p99_ratio_to_floor"] = ratio(out[name]["p99_ms"]["median"], floor["p99_ms"]["median"])
        out[name]["held"] = held(out[name])
    floor["held"] = held(floor)
    return out


def held(stats: dict[str, Any]) -> bool:
    """A load is held when the median p99 is under the target, no request failed and the rate was achieved."""
    return (
        stats["p99_ms"]["median"] < P99_TARGET_MS
        and stats["errors"] == 0
        and stats["achieved_rps"]["median"] >= 0.95 * stats["runs"][0]["offered_rps"]
    )


def highest_held(levels: list[dict[str, Any]], name: str) -> float | None:
    """The highest offered load held, counting only loads whose lower neighbours were all held too."""
    best = None
    for level in sorted(levels, key=lambda lv: lv["offered_rps"]):
        if not level[name]["held"]:
            break
        best = level["offered_rps"]
    return best


def measurement_seconds(rate: float, seconds: float, min_requests: int) -> float:
    """At least ``min_requests`` requests per measurement: a p99 of 100 samples is just the second-worst one,
    and a single hiccup of a shared machine would decide it."""
    return max(seconds, min_requests / rate)


def run(
    rates: list[float],
    runs: int,
    seconds: float,
    seed_count: int,
    min_requests: int,
    profile_dir: Path | None = None,
    profile_rate: float = 300.0,
) -> dict[str, Any]:
    info = machine_info()
    workdir = Path(tempfile.mkdtemp(prefix="cloudemy-bench-backend-"))
    per_level: dict[float, list[dict[str, LoadResult]]] = {rate: [] for rate in rates}
    with RedisProcess() as redis:
        client = redis.client()
        for run_index in range(runs):
            for rate in rates:
                client.flushdb()
                backend, port = start_backend(redis, workdir)
                try:
                    fixture = seed(backend, port, seed_count)
                    length = measurement_seconds(rate, seconds, min_requests)
                    per_level[rate].append(run_async(measure_level(fixture, rate, length)))
                finally:
                    backend.stop()
                print(f"  run {run_index + 1}/{runs} at {rate:g} req/s done", file=sys.stderr, flush=True)
        profiles = profile(redis, workdir, profile_rate, seed_count, profile_dir) if profile_dir else {}
        client.close()
    shutil.rmtree(workdir, ignore_errors=True)  # the backends' logs
    levels = [level_summary(rate, per_level[rate]) for rate in rates]
    return {
        "benchmark": "backend_load",
        "revision": git_revision(),
        "machine": finish_machine_info(info),
        "setup": {
            "server": "python -m cloudemy_backend (one uvicorn worker, uvloop + httptools)",
            "store": "in-memory (MONGO_URI=memory://, mongomock-motor), not MongoDB",
            "redis": "real redis-server on 127.0.0.1",
            "seed_submissions": seed_count,
            "seconds_per_measurement": seconds,
            "min_requests_per_measurement": min_requests,
            "runs": runs,
            "open_loop": True,
            "client": "asyncio raw HTTP/1.1 keep-alive" + (" on uvloop" if _loop_factory() else ""),
        },
        "target_p99_ms": P99_TARGET_MS,
        "levels": levels,
        "highest_load_held_rps": {name: highest_held(levels, name) for name in ENDPOINTS},
        "profiles": profiles,
    }


def profile(redis: RedisProcess, workdir: Path, rate: float, seed_count: int, out_dir: Path) -> dict[str, Any]:
    """py-spy on the backend while it takes POSTs at ``rate`` for 4 s: raw stacks and the top functions."""
    spy = py_spy()
    if spy is None:
        return {"error": "py-spy not installed (pip install py-spy)"}
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = out_dir / f"backend_post_{rate:g}.collapsed.txt"
    redis.client().flushdb()
    backend, port = start_backend(redis, workdir)
    try:
        fixture = seed(backend, port, seed_count)

        async def measure() -> LoadResult:
            gen = OpenLoop("127.0.0.1", fixture.port, fixture.requests()["post"])
            try:
                await gen.run(WARMUP_RATE, WARMUP_REQUESTS / WARMUP_RATE)
                argv = [spy, "record", "--pid", str(backend.proc.pid if backend.proc else 0), "--format", "raw",
                        "--output", str(raw), "--rate", "200", "--duration", "4", "--nonblocking"]  # fmt: skip
                recorder = await asyncio.create_subprocess_exec(
                    *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
                )
                result = await gen.run(rate, 4.0)
                await asyncio.wait_for(recorder.wait(), 30)
                return result
            finally:
                gen.close()

        measured = run_async(measure())
    finally:
        backend.stop()
    top = collapsed_top(raw) if raw.exists() else []
    return {"py_spy_raw": str(raw), "post_at_rate": measured.as_json(), "top_inclusive_percent": top}


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when installed (a cheaper client), else asyncio's default."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_async(coro: Any) -> Any:
    """Run ``coro`` on a fresh (uv)loop; from a thread whose loop is already running (a caller inside asyncio,
    or Playwright's sync API in the same test session), on a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            return runner.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run_async, coro).result()


def print_report(result: dict[str, Any]) -> None:
    setup, machine = result["setup"], result["machine"]
    print(
        f"backend load: {setup['runs']} runs x max({setup['seconds_per_measurement']:g} s, "
        f"{setup['min_requests_per_measurement']} requests) per load, {setup['store']}; "
        f"{machine['nproc']} cores, load average {machine['load_average_at_start']} -> {machine['load_average_at_end']}"
    )
    rows = []
    for level in result["levels"]:
        for name in ENDPOINTS:
            stats = level[name]
            rows.append(
                [
                    f"{level['offered_rps']:g}/s {name}",
                    fmt_stat(stats["p50_ms"]),
                    fmt_stat(stats["p99_ms"]),
                    "-" if name == "healthz" else f"{stats['p99_ratio_to_floor']:.1f}x",
                    f"{stats['achieved_rps']['median']:.0f}",
                    stats["errors"],
                    f"{stats['backend_cpu_cores']['median']:.2f}",
                    f"{stats['generator_cpu_cores']['median']:.2f}",
                    f"{stats['send_lag_p99_ms']['median']:.1f}",
                    "yes" if stats["held"] else "no",
                ]
            )
    headers = ["offered load", "p50 ms", "p99 ms", "p99/floor", "done/s", "errors", "server cpu", "client cpu",
               "lag p99 ms", f"p99<{P99_TARGET_MS:g}"]  # fmt: skip
    print(table(headers, rows))
    for name, best in result["highest_load_held_rps"].items():
        shown = (
            f"{best:g} req/s"
            if best is not None
            else f"none of the offered loads (lowest {result['levels'][0]['offered_rps']:g}/s)"
        )
        print(f"  highest load held with p99 < {P99_TARGET_MS:g} ms, {name}: {shown}")


def main() -> int:
    p = parser(__doc__)
    p.add_argument("--rates", default=",".join(str(r) for r in DEFAULT_RATES), help="offered loads, req/s")
    p.add_argument("--seconds", type=float, default=2.0, help="length of each measurement")
    p.add_argument("--seed-submissions", type=int, default=SEED_SUBMISSIONS)
    p.add_argument("--min-requests", type=int, default=MIN_REQUESTS, help="longer measurements at low loads")
    p.add_argument("--profile", type=Path, help="directory for a py-spy recording of POSTs (needs py-spy)")
    p.add_argument("--profile-rate", type=float, default=300.0, help="POST rate while recording the profile")
    args = p.parse_args()
    runs = effective_runs(args, quick_runs=1)
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    seconds, seed_count, min_requests = args.seconds, args.seed_submissions, args.min_requests
    if args.quick:
        rates, seconds, seed_count, min_requests = [20.0], 0.5, 5, 0
    result = run(rates, runs, seconds, seed_count, min_requests, args.profile, args.profile_rate)
    print_report(result)
    for share, name in result["profiles"].get("top_inclusive_percent", [])[:40]:
        print(f"  profile {share:5.1f}%  {name}")
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
