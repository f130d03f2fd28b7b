"""Shared helpers of the benchmarks: paths, statistics, machine facts, CPU accounting, tables and JSON.

Every benchmark reports a figure as the median of >= 5 runs with min and max (``summary``), next to a
floor measured in the same run, so a ratio survives a busy shared machine better than an absolute time.

Importing this module puts the repository root and ``tests/`` on ``sys.path`` (``add_repo_paths``), so the
benchmarks reuse ``demo.processes``, ``fakes.*`` and ``e2e.*`` exactly as the test suites do.
"""

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MIN_RUNS = 5
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def add_repo_paths() -> None:
    """The repo root (``demo``) and ``tests/`` (``fakes``, ``e2e``) on sys.path, as pytest's pythonpath does."""
    for path in (str(ROOT / "tests"), str(ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)


add_repo_paths()


# ---- statistics -------------------------------------------------------------------------------------------


def summary(values: Sequence[float]) -> dict[str, Any]:
    """Median, min and max of one figure over its runs (and the runs themselves)."""
    if not values:
        raise ValueError("no values to summarise")
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": list(values),
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by the nearest-rank method: a value that was actually observed."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def ratio(value: float, floor: float) -> float:
    return value / floor if floor > 0 else float("inf")


def fmt_stat(stats: dict[str, Any], digits: int = 1) -> str:
    """``median (min..max)``."""
    return f"{stats['median']:.{digits}f} ({stats['min']:.{digits}f}..{stats['max']:.{digits}f})"


# ---- the machine ------------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_total_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine_info() -> dict[str, Any]:
    """What a reader needs to judge the numbers: cores, CPU, memory, Python, and how busy the machine was."""
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gib": round(memory_total_gib(), 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_average_at_start": load_average(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def finish_machine_info(info: dict[str, Any]) -> dict[str, Any]:
    info["load_average_at_end"] = load_average()
    info["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return info


# ---- CPU accounting ---------------------------------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, summed over every core (from /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already inside user/nice
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


@dataclass
class CpuWindow:
    """CPU used by this process, some other processes, and the whole machine between start() and stop()."""

    pids: dict[str, int]
    wall: float = 0.0
    used: dict[str, float] | None = None
    machine_busy_cores: float = 0.0

    def start(self) -> "CpuWindow":
        self._t0 = time.monotonic()
        self._self0 = time.process_time()
        self._pids0 = {name: _safe_cpu(pid) for name, pid in self.pids.items()}
        self._machine0 = machine_cpu_seconds()
        return self

    def stop(self) -> "CpuWindow":
        self.wall = time.monotonic() - self._t0
        used = {"self": time.process_time() - self._self0}
        for name, pid in self.pids.items():
            used[name] = _safe_cpu(pid) - self._pids0[name]
        busy1, total1 = machine_cpu_seconds()
        busy0, total0 = self._machine0
        cores = os.cpu_count() or 1
        self.machine_busy_cores = (busy1 - busy0) / max(total1 - total0, 1e-9) * cores
        self.used = used
        return self

    def cores(self) -> dict[str, float]:
        """CPU of each process as a share of one core over the window; 'machine' is all cores busy."""
        assert self.used is not None, "stop() first"
        out = {name: seconds / max(self.wall, 1e-9) for name, seconds in self.used.items()}
        out["machine"] = self.machine_busy_cores
        return out


def _safe_cpu(pid: int) -> float:
    try:
        return process_cpu_seconds(pid)
    except (OSError, IndexError, ValueError):
        return 0.0


# ---- profiles -------------------------------------------------------------------------------------------


def py_spy() -> str | None:
    """The py-spy binary (``pip install py-spy``), next to this interpreter or on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    if beside.exists():
        return str(beside)
    return shutil.which("py-spy")


def collapsed_top(path: Path, count: int = 40) -> list[tuple[float, str]]:
    """The functions with the largest inclusive share of samples in a py-spy ``--format raw`` file."""
    total, inclusive = 0, Counter()
    for line in path.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        total += int(samples)
        for frame in set(stack.split(";")):
            inclusive[_frame_name(frame)] += int(samples)
    return [(n / total * 100, name) for name, n in inclusive.most_common(count)] if total else []


def _frame_name(frame: str) -> str:
    """``func (file.py:12)`` -> ``func (package/file.py)``, so one function's lines count together."""
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", str(ROOT) + "/"):
        file = file.split(marker)[-1]
    return f"{name} ({file})"


# ---- output -----------------------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain-text table with right-aligned columns (first column left-aligned)."""
    text_rows = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in text_rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(list(headers)), sep, *(line(r) for r in text_rows)])


def write_json(path: Path | None, data: dict[str, Any]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def parser(doc: str | None, *, default_runs: int = MIN_RUNS) -> argparse.ArgumentParser:
    """The flags every benchmark of ours takes: --runs, --quick, --json."""
    first_line = (doc or "").strip().splitlines()[0] if doc else None
    p = argparse.ArgumentParser(description=first_line, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--runs", type=int, default=default_runs, help=f"runs per figure (at least {MIN_RUNS} unless --quick)"
    )
    p.add_argument("--quick", action="store_true", help="a tiny size and few runs, to prove it works (make test)")
    p.add_argument("--json", type=Path, help="also write every number to this JSON file")
    return p


def effective_runs(args: argparse.Namespace, quick_runs: int = 2) -> int:
    return quick_runs if args.quick else max(args.runs, MIN_RUNS)


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def clean_env() -> dict[str, str]:
    """This process's env without proxies (loopback stays local) and without LLM/OpenAI settings."""
    drop = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
    return {k: v for k, v in os.environ.items() if k.lower() not in drop and not k.startswith(("LLM_", "OPENAI_"))}


def runner_env(submission_id: str, redis_url: str, sink: ThreadingHTTPServer, **extra: str) -> dict[str, str]:
    """A runner's environment for a benchmark: this process's clean env, the payload's Redis, ``sink`` as the
    internal API, a throw-away result token and LOG_LEVEL WARNING; ``extra`` adds or overrides variables."""
    return clean_env() | {
        "SUBMISSION_ID": submission_id,
        "REDIS_URL": redis_url,
        "BACKEND_INTERNAL_URL": f"http://127.0.0.1:{sink.server_address[1]}/internal",
        "INTERNAL_RESULT_TOKEN": "bench-token",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


class OkSink(BaseHTTPRequestHandler):
    """The backend's internal API as a zero-latency sink: every POST (status, result) is answered 200 at once."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


def ok_sink(port: int = 0) -> ThreadingHTTPServer:
    """An ``OkSink`` server bound to 127.0.0.1 (``port`` 0: any free one); call ``serve_forever`` to run it."""
    server = ThreadingHTTPServer(("127.0.0.1", port), OkSink)
    server.daemon_threads = True
    return server
