"""Sandbox overhead: a 20-test Python and a 20-test C assignment, sandboxed vs a bare ``subprocess.run``.

Sandboxed = the runner's own test phase (``cloudemy_runner.execution.run_tests``: compile once, then every
test in a fresh working directory with rlimits, no_new_privs, Landlock, seccomp, output capture and the
leftover sweep, started by the sandbox's launcher process, whose CPU is counted too; one untimed warm-up
run starts the launcher, a cost the runner figure below includes). Bare = the same commands (compile once,
then one ``subprocess.run`` per test with the test's stdin) and nothing else. Both are timed in this process:
wall time, and CPU time of this process plus its children (the sandbox's own work counts). The per-test
floor is the bare run of a program that does nothing (``python3 -c pass``, an empty C program). The runner
figure is ``python -m cloudemy_runner`` from spawn to the result arriving at a zero-latency internal API,
with the fake LLM answering at once (tests + rubric) and with no LLM (tests only).

Target: sandboxed <= 1.3x bare, wall and CPU. Median (min..max) of ``--runs`` runs (>= 5; ``--quick``: 2
runs of 4 tests, for ``make test``).

    .venv/bin/python bench/sandbox.py [--runs 5] [--quick] [--json out.json]
"""

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from common import CLOCK_TICKS, clean_env, effective_runs, parser, ratio, summary, table, verdict, write_json

from cloudemy_common.models import SubmissionPayload
from cloudemy_common.payload_store import write_payload
from cloudemy_runner.execution import launcher_for, run_tests
from cloudemy_runner.languages import load_table
from fakes.openai_server import FakeOpenAI
from fakes.redis_server import RedisServer

TARGET_RATIO = 1.3
SUBMISSION_ID = "65a1b2c3d4e5f60718293a4b"
PROGRAMS = {
    "python": (
        "n = int(input())\nprint(sum(i * i for i in range(n)))\n",
        "pass\n",
    ),
    "c": (
        '#include <stdio.h>\nint main(void) { long n, s = 0; if (scanf("%ld", &n) != 1) return 1;\n'
        '  for (long i = 0; i < n; i++) s += i * i; printf("%ld\\n", s); return 0; }\n',
        "int main(void) { return 0; }\n",
    ),
}


def assignment(tests: int, *, rubric: bool = False) -> dict[str, Any]:
    sizes = [1000 * (i + 1) for i in range(tests)]
    cases = [
        {"id": f"t{i}", "stdin": f"{n}\n", "expected_stdout": f"{n * (n - 1) * (2 * n - 1) // 6}\n"}
        for i, n in enumerate(sizes)
    ]
    criteria = [{"id": "style", "title": "Readable code", "points": 4}] if rubric else []
    return {
        "title": "Sum of squares",
        "rubric": criteria,
        "tests": cases,
        "limits": {"time_seconds": 2, "memory_mb": 256, "output_kb": 64},
        "max_score": len(cases) + (4 if rubric else 0),
    }


def payload(language: str, code: str, tests: int, *, rubric: bool = False) -> SubmissionPayload:
    return SubmissionPayload.model_validate(
        {
            "submission_id": SUBMISSION_ID,
            "user_id": "65a1b2c3d4e5f60718293a00",
            "assignment_id": "65a1b2c3d4e5f60718293aff",
            "language": language,
            "code": code,
            "attempt": 1,
            "assignment": assignment(tests, rubric=rubric),
        }
    )


def launcher_cpu() -> float:
    """CPU of the sandbox's launcher and of the programs it reaped (it outlives each run, so this process's
    RUSAGE_CHILDREN does not include it yet)."""
    pid = launcher_for(load_table()).pid
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / CLOCK_TICKS  # utime, stime, cutime, cstime


def cpu_now() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime + launcher_cpu()


def timed(action: Any) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), cpu_now()
    action()
    return time.perf_counter() - wall, cpu_now() - cpu


def bare(language: str, code: str, stdins: list[str], workdir: Path) -> None:
    """Compile once (C), then one plain subprocess.run per test: what running without a sandbox costs."""
    table = load_table()
    lang = table.languages[language]
    env = {"PATH": table.sandbox.path, "HOME": str(workdir), "LANG": table.sandbox.lang}  # the sandbox's own
    source = workdir / lang.main_file
    source.write_text(code)
    values = {"main": str(source), "build": str(workdir), "memory_mb": "256"}
    if lang.compile:
        compile_argv = [p.format(**values) for p in lang.compile]
        subprocess.run(compile_argv, check=True, capture_output=True, cwd=workdir, env=env)
    argv = [p.format(**values) for p in lang.run]
    for stdin in stdins:
        subprocess.run(argv, input=stdin.encode(), capture_output=True, cwd=workdir, check=True, env=env)


def sandboxed(language: str, code: str, tests: int) -> None:
    report = run_tests(payload(language, code, tests), load_table(), phase_end=time.monotonic() + 600)
    if not all(o.verdict == "passed" for o in report.outcomes):
        raise RuntimeError(f"{language}: {[o.verdict for o in report.outcomes]}")


class ResultClock(BaseHTTPRequestHandler):
    """A zero-latency internal API that stamps when the result arrives."""

    protocol_version = "HTTP/1.1"
    arrived: ClassVar[list[float]] = []

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "/result" in self.path:
            ResultClock.arrived.append(time.time())
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


def runner_to_result(runs: int, tests: int) -> dict[str, Any]:
    """Seconds from spawning ``python -m cloudemy_runner`` to its result arriving, per language and mode."""
    sink = ThreadingHTTPServer(("127.0.0.1", 0), ResultClock)
    sink.daemon_threads = True
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    out: dict[str, Any] = {}
    with RedisServer() as redis_server, FakeOpenAI(mode="good") as fake:
        client = redis_server.client()
        base = clean_env() | {
            "SUBMISSION_ID": SUBMISSION_ID,
            "REDIS_URL": redis_server.url,
            "BACKEND_INTERNAL_URL": f"http://127.0.0.1:{sink.server_address[1]}/internal",
            "INTERNAL_RESULT_TOKEN": "bench-token",
            "LOG_LEVEL": "WARNING",
        }
        llm = {"LLM_API_KEY": "sk-bench", "LLM_BASE_URL": fake.base_url}
        modes = {"tests_only": ({}, False), "tests_and_rubric_llm_0s": (llm, True)}
        for language, (code, _) in PROGRAMS.items():
            for mode, (env, rubric) in modes.items():
                seconds = []
                for _ in range(runs):
                    write_payload(client, payload(language, code, tests, rubric=rubric))
                    ResultClock.arrived.clear()
                    spawned = time.time()
                    argv = [sys.executable, "-m", "cloudemy_runner"]
                    subprocess.run(argv, env=base | env, check=True, capture_output=True)
                    if not ResultClock.arrived:
                        raise RuntimeError("the runner posted no result")
                    seconds.append(ResultClock.arrived[0] - spawned)
                out[f"{language}_{mode}_ms"] = summary([s * 1000 for s in seconds])
        client.close()
    sink.shutdown()
    return out


def main() -> int:
    args = parser(__doc__).parse_args()
    runs = effective_runs(args)
    tests = 4 if args.quick else 20
    if shutil.which("gcc") is None:
        print("bench/sandbox.py: gcc is needed for the C assignment", file=sys.stderr)
        return 1
    figures: dict[str, Any] = {"runs": runs, "tests": tests, "languages": {}}
    rows = []
    sandboxed("python", PROGRAMS["python"][0], 1)  # warm-up: starts the launcher, once per runner process
    for language, (code, empty) in PROGRAMS.items():
        stdins = [t["stdin"] for t in assignment(tests)["tests"]]
        walls: dict[str, list[float]] = {"sandboxed": [], "bare": [], "floor_per_test": []}
        cpus: dict[str, list[float]] = {"sandboxed": [], "bare": [], "floor_per_test": []}
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as tmp:
                for name, action in (
                    ("sandboxed", lambda: sandboxed(language, code, tests)),  # noqa: B023
                    ("bare", lambda: bare(language, code, stdins, Path(tmp))),  # noqa: B023
                ):
                    wall, cpu = timed(action)
                    walls[name].append(wall * 1000)
                    cpus[name].append(cpu * 1000)
            with tempfile.TemporaryDirectory() as tmp:
                wall, cpu = timed(lambda: bare(language, empty, [""] * tests, Path(tmp)))  # noqa: B023
                walls["floor_per_test"].append(wall * 1000 / tests)
                cpus["floor_per_test"].append(cpu * 1000 / tests)
        entry = {
            "wall_ms": {k: summary(v) for k, v in walls.items()},
            "cpu_ms": {k: summary(v) for k, v in cpus.items()},
        }
        entry["wall_ratio"] = ratio(entry["wall_ms"]["sandboxed"]["median"], entry["wall_ms"]["bare"]["median"])
        entry["cpu_ratio"] = ratio(entry["cpu_ms"]["sandboxed"]["median"], entry["cpu_ms"]["bare"]["median"])
        entry["target_met"] = entry["wall_ratio"] <= TARGET_RATIO and entry["cpu_ratio"] <= TARGET_RATIO
        figures["languages"][language] = entry
        for kind in ("wall_ms", "cpu_ms"):
            stats = entry[kind]
            medians = [f"{stats[side]['median']:.0f}" for side in ("sandboxed", "bare")]
            ratio_text = f"{entry[kind.replace('_ms', '_ratio')]:.2f}x"
            floor_text = f"{stats['floor_per_test']['median']:.1f}"
            rows.append([language, kind.removesuffix("_ms"), *medians, ratio_text, floor_text])
    figures["runner_spawn_to_result_posted"] = runner_to_result(runs, tests)
    figures["target_ratio_max"] = TARGET_RATIO
    figures["target_met"] = all(e["target_met"] for e in figures["languages"].values())
    print(f"sandbox overhead: {tests} tests per assignment, {runs} runs, medians")
    print(table(["language", "figure", "sandboxed ms", "bare ms", "ratio", "floor ms/test"], rows))
    print(f"target <= {TARGET_RATIO}x wall and CPU: {verdict(figures['target_met'])}")
    for name, stats in figures["runner_spawn_to_result_posted"].items():
        print(f"  runner {name}: {stats['median']:.0f} ms ({stats['min']:.0f}..{stats['max']:.0f})")
    write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
