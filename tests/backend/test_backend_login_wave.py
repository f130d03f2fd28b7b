"""The exam-start login wave: 200 concurrent logins against one backend process whose address space the
test caps (RLIMIT_AS), with the real argon2 parameters. Nothing crashes, every login succeeds, the process's
peak memory stays within the hashing pool's budget of its idle size; the latency percentiles are reported.
Bounded: 127.0.0.1 only, 200 requests, a 90-second deadline."""

import asyncio
import secrets
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from demo.processes import ManagedProcess, RedisProcess, free_port, image_env, memory_backend_env

LOGINS = 200
ADDRESS_SPACE_LIMIT = 1536 * 1024 * 1024
HASHING_BUDGET_MIB = 64
SLACK_MIB = 64  # thread stacks, connection buffers and the allocator's rounding
WAVE_DEADLINE_SECONDS = 90

CAPPED = (
    "import resource, runpy; "
    f"resource.setrlimit(resource.RLIMIT_AS, ({ADDRESS_SPACE_LIMIT}, {ADDRESS_SPACE_LIMIT})); "
    "runpy.run_module('cloudemy_backend', run_name='__main__')"
)


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


@pytest.fixture
def capped_backend(tmp_path: Path) -> Iterator[dict[str, Any]]:
    redis = RedisProcess(workdir=tmp_path)
    redis.start()
    port, password = free_port(), secrets.token_urlsafe(12)
    env = image_env() | memory_backend_env(
        port,
        redis.url,
        internal_token=secrets.token_hex(32),
        jwt_secret=secrets.token_hex(32),
        admin_email="admin@example.com",
        admin_password=password,
        PASSWORD_HASHING_MEMORY_MIB=str(HASHING_BUDGET_MIB),
        LOGIN_MAX_FAILURES="10",
        LOG_LEVEL="WARNING",
        MALLOC_ARENA_MAX="2",  # glibc: two arenas, so the address space tracks what is really used
    )
    backend = ManagedProcess("backend", [sys.executable, "-c", CAPPED], env, tmp_path)
    backend.start()
    try:
        backend.wait_http(f"http://127.0.0.1:{port}/readyz", timeout=60)
        yield {"url": f"http://127.0.0.1:{port}", "password": password, "process": backend}
    finally:
        backend.stop()
        redis.close()


@pytest.mark.slow
async def test_two_hundred_concurrent_logins_under_a_memory_cap(
    capped_backend: dict[str, Any], record_property: Any
) -> None:
    pid = capped_backend["process"].proc.pid
    form = {"username": "admin@example.com", "password": capped_backend["password"]}
    limits = httpx.Limits(max_connections=LOGINS, max_keepalive_connections=LOGINS)
    async with httpx.AsyncClient(base_url=capped_backend["url"], limits=limits, timeout=60, trust_env=False) as http:
        assert (await http.post("/api/auth/token", data=form)).status_code == 200  # warm: one hash, imports
        idle_kib = memory_kib(pid, "VmRSS")

        async def login() -> tuple[int, float]:
            started = time.perf_counter()
            response = await http.post("/api/auth/token", data=form)
            return response.status_code, time.perf_counter() - started

        started = time.perf_counter()
        answers = await asyncio.wait_for(asyncio.gather(*(login() for _ in range(LOGINS))), WAVE_DEADLINE_SECONDS)
        wall = time.perf_counter() - started
        after = await http.get("/healthz")
    peak_kib = memory_kib(pid, "VmHWM")
    latencies = sorted(seconds for _, seconds in answers)
    p50, p99 = statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1]
    report = {
        "logins": LOGINS,
        "wall_seconds": round(wall, 2),
        "logins_per_second": round(LOGINS / wall, 1),
        "p50_ms": round(p50 * 1000),
        "p99_ms": round(p99 * 1000),
        "idle_rss_mib": round(idle_kib / 1024, 1),
        "peak_rss_mib": round(peak_kib / 1024, 1),
    }
    print(f"login wave: {report}")
    for name, value in report.items():
        record_property(name, value)
    assert [code for code, _ in answers] == [200] * LOGINS
    assert after.status_code == 200
    assert capped_backend["process"].running
    assert peak_kib - idle_kib <= (HASHING_BUDGET_MIB + SLACK_MIB) * 1024, report
