"""Runner start-up benchmark: process start to the first LLM request, and peak RSS.

Each run starts ``python -m cloudemy_runner`` exactly as a Job does (real Redis with the payload, a
small internal-API sink on 127.0.0.1, the fake OpenAI server in this process, which stamps the arrival
of the first request). Time = that stamp minus the moment just before the process was spawned. The
floor is the wall time of ``python -c pass`` on the same interpreter; ``import openai`` alone is shown
as a reference for how much of the runner's start the official client's import takes. Peak RSS comes
from ``wait4`` (the child's ru_maxrss) over the whole grading run.

Targets: runner <= 3x the floor; peak RSS < 80 MB. Reported as median (min..max) of
``--runs`` runs (>= 5; ``--quick`` does 3 runs with a tiny submission, for ``make test``).

    .venv/bin/python bench/runner_startup.py [--runs 7] [--quick] [--python PATH] [--json out.json]
                                             [--profile profile.txt] [--strict]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from common import clean_env, ok_sink, runner_env  # noqa: E402

from cloudemy_common.models import SubmissionPayload  # noqa: E402
from cloudemy_common.payload_store import write_payload  # noqa: E402
from fakes.openai_server import FakeOpenAI  # noqa: E402
from fakes.redis_server import RedisServer  # noqa: E402

SUBMISSION_ID = "65a1b2c3d4e5f60718293a4b"
RATIO_TARGET = 3.0
RSS_TARGET_MB = 80.0
ASSIGNMENT = {
    "title": "Word frequencies",
    "description": "Write top_words(text, n) returning the n most frequent words with their counts.",
    "rubric": [
        {"id": "correctness", "title": "Correct result", "description": "Ties broken alphabetically.", "points": 6},
        {"id": "style", "title": "Readable code", "description": "Names, structure, docstrings.", "points": 4},
    ],
    "max_score": 10,
    "fail_tags": ["wrong-output"],
}


def submission_code(size: int) -> str:
    """A plausible Python submission of about ``size`` bytes."""
    head = (
        "from collections import Counter\n\n\n"
        "def top_words(text: str, n: int) -> list[tuple[str, int]]:\n"
        '    """The n most frequent words, ties broken alphabetically."""\n'
        "    counts = Counter(text.lower().split())\n"
        "    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]\n"
    )
    filler, index = [], 0
    while len(head) + sum(map(len, filler)) < size:
        filler.append(
            f"\n\ndef helper_{index}(values: list[int]) -> int:\n    return sum(v * {index} for v in values)\n"
        )
        index += 1
    return head + "".join(filler)


def payload(code: str) -> SubmissionPayload:
    return SubmissionPayload.model_validate(
        {
            "submission_id": SUBMISSION_ID,
            "user_id": "65a1b2c3d4e5f60718293a00",
            "assignment_id": "65a1b2c3d4e5f60718293aff",
            "language": "python",
            "code": code,
            "attempt": 1,
            "assignment": ASSIGNMENT,
        }
    )


def spawn_and_wait(argv: list[str], env: dict[str, str]) -> tuple[float, float, int, float]:
    """(spawn time, wall seconds, peak RSS in KB, CPU seconds) of one child process."""
    spawned = time.time()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.time() - spawned
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} exited with {proc.returncode}")
    return spawned, wall, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3 runs, tiny submission (for make test)")
    parser.add_argument("--code-bytes", type=int, default=16_000)
    parser.add_argument("--python", default=sys.executable, help="interpreter with cloudemy_runner installed")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument("--profile", type=Path, help="pyinstrument text profile of one runner run")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    runs, code_bytes = (3, 600) if args.quick else (max(args.runs, 5), args.code_bytes)

    floor_env = clean_env()

    sink = ok_sink()
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    with RedisServer() as redis_server, FakeOpenAI(mode="good") as fake:
        client = redis_server.client()
        env = runner_env(SUBMISSION_ID, redis_server.url, sink, LLM_API_KEY="sk-bench", LLM_BASE_URL=fake.base_url)
        code = submission_code(code_bytes)

        floor, openai_import, to_first_request, runner_rss, floor_rss = [], [], [], [], []
        floor_cpu, openai_cpu, runner_cpu = [], [], []
        for _ in range(runs):
            _, wall, rss_kb, cpu = spawn_and_wait([args.python, "-c", "pass"], floor_env)
            floor.append(wall)
            floor_rss.append(rss_kb / 1024)
            floor_cpu.append(cpu)
        for _ in range(runs):
            _, wall, _, cpu = spawn_and_wait([args.python, "-c", "import openai"], floor_env)
            openai_import.append(wall)
            openai_cpu.append(cpu)
        for _ in range(runs):
            write_payload(client, payload(code))
            fake.reset()
            spawned, _, rss_kb, cpu = spawn_and_wait([args.python, "-m", "cloudemy_runner"], env)
            if fake.first_request_at is None:
                raise RuntimeError("the runner never called the LLM")
            to_first_request.append(fake.first_request_at - spawned)
            runner_rss.append(rss_kb / 1024)
            runner_cpu.append(cpu)

        if args.profile:
            write_payload(client, payload(code))
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "profile.txt"
                argv = [args.python, "-m", "pyinstrument", "-o", str(out), "-m", "cloudemy_runner"]
                subprocess.run(argv, env=env, check=True, capture_output=True)
                args.profile.write_text(out.read_text())
        client.close()
    sink.shutdown()

    result = {
        "runs": runs,
        "code_bytes": len(code.encode()),
        "python": args.python,
        "floor_python_c_pass_ms": {k: v * 1000 for k, v in summary(floor).items()},
        "reference_import_openai_ms": {k: v * 1000 for k, v in summary(openai_import).items()},
        "runner_start_to_first_llm_request_ms": {k: v * 1000 for k, v in summary(to_first_request).items()},
        "ratio_to_floor": statistics.median(to_first_request) / statistics.median(floor),
        "openai_import_ratio_to_floor": statistics.median(openai_import) / statistics.median(floor),
        "runner_peak_rss_mb": summary(runner_rss),
        "floor_peak_rss_mb": summary(floor_rss),
        # CPU time (user + system) is steadier than wall time on a busy machine.
        "cpu_ms": {
            "floor_python_c_pass": {k: v * 1000 for k, v in summary(floor_cpu).items()},
            "import_openai": {k: v * 1000 for k, v in summary(openai_cpu).items()},
            "runner_whole_run": {k: v * 1000 for k, v in summary(runner_cpu).items()},
        },
    }
    ratio_ok = result["ratio_to_floor"] <= RATIO_TARGET
    rss_ok = result["runner_peak_rss_mb"]["max"] < RSS_TARGET_MB
    result["targets"] = {
        "ratio_max": RATIO_TARGET,
        "ratio_met": ratio_ok,
        "rss_mb_max": RSS_TARGET_MB,
        "rss_met": rss_ok,
    }

    def line(name: str, stats: dict[str, float], unit: str) -> str:
        return f"  {name:<38} {stats['median']:8.1f} {unit}  ({stats['min']:.1f} .. {stats['max']:.1f})"

    print(f"runner start-up: {runs} runs, {result['code_bytes']} bytes of code, {args.python}")
    print(line("python -c pass (floor)", result["floor_python_c_pass_ms"], "ms"))
    print(line("python -c 'import openai' (reference)", result["reference_import_openai_ms"], "ms"))
    print(line("runner: start -> first LLM request", result["runner_start_to_first_llm_request_ms"], "ms"))
    verdict = "met" if ratio_ok else "MISSED"
    print(f"  ratio to floor: {result['ratio_to_floor']:.1f}x (target <= {RATIO_TARGET}x: {verdict});")
    print(f"  for comparison, import openai alone: {result['openai_import_ratio_to_floor']:.1f}x the floor")
    print("  CPU time (user + system), steadier on a busy machine:")
    print(line("  python -c pass", result["cpu_ms"]["floor_python_c_pass"], "ms"))
    print(line("  python -c 'import openai'", result["cpu_ms"]["import_openai"], "ms"))
    print(line("  runner, whole run", result["cpu_ms"]["runner_whole_run"], "ms"))
    print(line("runner peak RSS", result["runner_peak_rss_mb"], "MB"))
    print(f"  peak RSS target < {RSS_TARGET_MB:.0f} MB: {'met' if rss_ok else 'MISSED'}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if args.strict and not (ratio_ok and rss_ok) else 0


if __name__ == "__main__":
    sys.exit(main())
