"""Login wave and status polling of one backend worker: logins per second and peak RSS at 50 concurrent logins
(real argon2id, the default 64 MiB hashing budget), and the CPU one status poll costs the server, in ms per
request: the whole submission, the status-only endpoint, and a 304 from If-None-Match. Floor: /healthz CPU
per request, measured in the same run against the same process.

What runs: a real redis-server and ``python -m cloudemy_backend`` (one uvicorn worker, the in-memory store,
LOG_LEVEL WARNING) on 127.0.0.1. Server CPU is the worker's utime+stime from /proc over a fixed number of
sequential requests (one connection, keep-alive), so the client's own cost is not counted.

    .venv/bin/python bench/backend_auth_poll.py [--runs 3] [--quick] [--json out.json]
"""

import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import clean_env, finish_machine_info, git_revision, machine_info, parser, write_json

from demo.processes import ManagedProcess, RedisProcess, free_port, memory_backend_env

CONCURRENT_LOGINS = 50
POLLS = 400
CODE = "x = 1\n" * 2000  # a 12 KB program: what a full GET carries back every poll


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm_kib(pid: int, name: str) -> int:
    line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith(name))
    return int(line.split()[1])


async def cpu_ms_per_request(http: httpx.AsyncClient, pid: int, path: str, headers: dict[str, str]) -> float:
    for _ in range(20):
        await http.get(path, headers=headers)
    before = cpu_seconds(pid)
    for _ in range(POLLS):
        response = await http.get(path, headers=headers)
        assert response.status_code in (200, 304), response.text
    return (cpu_seconds(pid) - before) * 1000 / POLLS


async def one_run(workdir: Path) -> dict[str, Any]:
    redis = RedisProcess(workdir=workdir)
    redis.start()
    port, password = free_port(), secrets.token_urlsafe(12)
    env = clean_env() | memory_backend_env(
        port, redis.url, internal_token=secrets.token_hex(32), jwt_secret=secrets.token_hex(32),
        admin_email="admin@example.com", admin_password=password, LOG_LEVEL="WARNING",
    )  # fmt: skip
    backend = ManagedProcess("backend", [sys.executable, "-m", "cloudemy_backend"], env, workdir)
    backend.start()
    try:
        backend.wait_http(f"http://127.0.0.1:{port}/readyz", timeout=60)
        pid = backend.proc.pid
        limits = httpx.Limits(max_connections=CONCURRENT_LOGINS)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=120) as http:
            form = {"username": "admin@example.com", "password": password}
            token = (await http.post("/api/auth/token", data=form)).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            idle_kib = vm_kib(pid, "VmRSS")
            started = time.perf_counter()
            answers = await asyncio.gather(*(http.post("/api/auth/token", data=form) for _ in range(CONCURRENT_LOGINS)))
            login_wall = time.perf_counter() - started
            assert all(a.status_code == 200 for a in answers)
            peak_kib = vm_kib(pid, "VmHWM")
            course = (await http.post("/api/courses", headers=headers, json={"code": "B1", "title": "Bench"})).json()
            assignment = (await http.post(f"/api/courses/{course['id']}/assignments", headers=headers, json={
                "title": "Bench", "languages": ["python"], "published": True,
                "rubric": [{"id": "c", "title": "Correct", "points": 1}],
            })).json()  # fmt: skip
            submitted = await http.post(
                f"/api/assignments/{assignment['id']}/submissions", headers=headers,
                json={"language": "python", "code": CODE},
            )  # fmt: skip
            submitted.raise_for_status()
            sid = submitted.json()["id"]
            etag = (await http.get(f"/api/submissions/{sid}", headers=headers)).headers["etag"]
            return {
                "logins_per_second": round(CONCURRENT_LOGINS / login_wall, 1),
                "login_wave_seconds": round(login_wall, 2),
                "idle_rss_mib": round(idle_kib / 1024, 1),
                "peak_rss_mib": round(peak_kib / 1024, 1),
                "floor_healthz_cpu_ms": await cpu_ms_per_request(http, pid, "/healthz", {}),
                "full_get_cpu_ms": await cpu_ms_per_request(http, pid, f"/api/submissions/{sid}", headers),
                "status_get_cpu_ms": await cpu_ms_per_request(http, pid, f"/api/submissions/{sid}/status", headers),
                "not_modified_cpu_ms": await cpu_ms_per_request(
                    http, pid, f"/api/submissions/{sid}", headers | {"If-None-Match": etag}
                ),
            }
    finally:
        backend.stop()
        redis.close()


def main() -> None:
    args = parser(__doc__, default_runs=3).parse_args()
    runs = 1 if args.quick else args.runs
    info = machine_info()
    results = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="cloudemy-bench-") as workdir:
            results.append(asyncio.run(one_run(Path(workdir))))
    medians = {key: round(statistics.median(r[key] for r in results), 3) for key in results[0]}
    for key, value in medians.items():
        print(f"{key:24} {value}")
    write_json(args.json, {"revision": git_revision(), "machine": finish_machine_info(info), "runs": results,
                           "median": medians})  # fmt: skip


if __name__ == "__main__":
    main()
