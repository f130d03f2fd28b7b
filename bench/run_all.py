"""``make bench``: run every benchmark, one after the other, and collect their JSON and a summary.

Each benchmark is its own script, run here as a child process with ``--json <out>/<name>.json`` (and
``--quick`` when given), so one that fails does not stop the others; the exit status is 1 when any failed or
is missing. Its printed table is kept in ``<out>/<name>.txt``; a script without ``--json`` is still run and
reported from that table ("table-only"). At the end ``<out>/summary.json`` holds the machine, every result
and its headline figures, and ``<out>/summary.md`` the same headlines as Markdown tables.

    .venv/bin/python bench/run_all.py [--out artifacts/bench] [--only llm_cost,drain] [--quick]

Benchmarks, in order (cheapest first; the longest, drain, last):
    llm_cost            bench/llm_cost.py            tokens and price of grading the sample solution
    payload_size        bench/payload_size.py        Redis bytes per queued submission (assignment inline vs shared)
    watcher_relist      bench/watcher_relist.py      scheduler peak RSS and sync time with 20,000 retained Jobs
    runner_startup      bench/runner_startup.py      runner process start -> first LLM request, peak RSS
    sandbox             bench/sandbox.py             20-test Python/C assignments sandboxed vs bare; runner to result
    scheduler_dispatch  bench/scheduler_dispatch.py  Jobs/s and enqueue -> create p99 against a fake API
    backend_load        bench/backend_load.py        POST/GET submission p50/p99 at fixed offered loads
    drain               bench/drain.py               200 submissions, MAX_ACTIVE_JOBS=20, 2 s LLM
    drain_2_slots       bench/drain.py               20 submissions, 2 slots: the same 20 s bound, no CPU contention
"""

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import ROOT, finish_machine_info, git_revision, machine_info, table, write_json


@dataclass(frozen=True)
class Benchmark:
    name: str
    script: str
    what: str
    timeout: float  # seconds; a benchmark that runs longer is stopped and reported as failed
    args: tuple[str, ...] = ()


BENCHMARKS = (
    Benchmark("llm_cost", "llm_cost.py", "LLM tokens and cost per 1,000 submissions", 600),
    Benchmark("payload_size", "payload_size.py", "Redis bytes per queued submission, inline vs shared", 600),
    Benchmark("watcher_relist", "watcher_relist.py", "scheduler peak RSS through a re-list of 20,000 Jobs", 900),
    Benchmark("runner_startup", "runner_startup.py", "runner start -> first LLM request; peak RSS", 900),
    Benchmark("sandbox", "sandbox.py", "sandboxed vs bare tests (Python, C); runner start -> result", 900),
    Benchmark("scheduler_dispatch", "scheduler_dispatch.py", "scheduler dispatch rate and p99 at 50/s", 1200),
    Benchmark("backend_load", "backend_load.py", "backend POST/GET p50/p99 at fixed loads", 2400),
    Benchmark("backend_auth_poll", "backend_auth_poll.py", "50 concurrent logins; CPU per status poll", 600),
    Benchmark("drain", "drain.py", "200 submissions, 20 slots, 2 s LLM", 2400),
    # the same 10 waves and 20 s bound with 2 slots: per-Job overhead without CPU contention between runners
    Benchmark(
        "drain_2_slots",
        "drain.py",
        "20 submissions, 2 slots, 2 s LLM (control)",
        1200,
        ("--submissions", "20", "--max-active", "2"),
    ),
)


def _get(data: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _stat(stats: Any, unit: str = "", digits: int = 1) -> str:
    if not isinstance(stats, dict) or "median" not in stats:
        return "n/a"
    return f"{stats['median']:.{digits}f}{unit} ({stats['min']:.{digits}f}..{stats['max']:.{digits}f})"


def headlines(name: str, data: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(figure, value, verdict) rows for the summary; the full numbers stay in each benchmark's JSON."""
    if name == "llm_cost":
        return [
            ("prompt tokens (messages)", _stat(data.get("prompt_tokens_messages"), "", 0), ""),
            (
                "prompt tokens incl. response_format schema (est.)",
                _stat(data.get("prompt_tokens_with_schema_estimate"), "", 0),
                f"< {data.get('target_prompt_tokens_max')}: {'met' if data.get('target_met') else 'MISSED'}",
            ),
            ("ratio to floor (description + rubric + code)", f"{data.get('ratio_to_floor_with_schema', 0):.1f}x", ""),
            ("completion tokens (realistic answer, est.)", str(data.get("completion_tokens_realistic_answer")), ""),
            ("USD per 1,000 submissions", f"{data.get('cost_usd_per_1000_submissions', 0):.3f}", ""),
        ]
    if name == "watcher_relist":
        rows = []
        for case, entry in (data.get("results") or {}).items():
            rows.append((f"{case}: peak RSS at sync", f"{entry.get('peak_rss_mib', 0):.1f} MiB", ""))
            rows.append((f"{case}: start -> synced", f"{entry.get('sync_seconds', 0):.1f} s", ""))
        rows.append(("worst peak RSS", f"{data.get('worst_peak_rss_mib', 0):.1f} MiB", "< 256 MiB limit"))
        return rows
    if name == "payload_size":
        limit = data.get("target_bytes_per_submission")
        rows = []
        for assignment, entry in (data.get("results") or {}).items():
            met = f"<= {limit} B: {'met' if entry.get('target_met') else 'MISSED'}"
            shared = _stat(entry.get("shared_bytes_per_submission"), " B", 0)
            inline = _stat(entry.get("inline_bytes_per_submission"), " B", 0)
            rows.append((f"{assignment}: shared, per submission", shared, met))
            rows.append((f"{assignment}: inline, per submission", inline, ""))
        return rows
    if name == "sandbox":
        rows = []
        for language, entry in (data.get("languages") or {}).items():
            met = f"<= {data.get('target_ratio_max')}x: {'met' if entry.get('target_met') else 'MISSED'}"
            rows.append((f"{language}: sandboxed / bare wall", f"{entry.get('wall_ratio', 0):.2f}x", met))
            rows.append((f"{language}: sandboxed / bare CPU", f"{entry.get('cpu_ratio', 0):.2f}x", ""))
        for figure, stats in (data.get("runner_spawn_to_result_posted") or {}).items():
            rows.append((f"runner {figure.removesuffix('_ms')}: spawn -> result", _stat(stats, " ms", 0), ""))
        return rows
    if name == "runner_startup":
        targets = data.get("targets", {})
        return [
            ("start -> first LLM request", _stat(data.get("runner_start_to_first_llm_request_ms"), " ms"), ""),
            ("floor: python -c pass", _stat(data.get("floor_python_c_pass_ms"), " ms"), ""),
            (
                "ratio to floor",
                f"{data.get('ratio_to_floor', 0):.1f}x",
                f"<= {targets.get('ratio_max')}x: {'met' if targets.get('ratio_met') else 'MISSED'}",
            ),
            (
                "peak RSS",
                _stat(data.get("runner_peak_rss_mb"), " MB"),
                f"< {targets.get('rss_mb_max')} MB: {'met' if targets.get('rss_met') else 'MISSED'}",
            ),
        ]
    if name == "backend_load":
        rows = []
        for level in data.get("levels", []):
            for endpoint in ("healthz", "get", "post"):
                stats = level[endpoint]
                ratio = "" if endpoint == "healthz" else f", p99 {stats['p99_ratio_to_floor']:.1f}x floor"
                rows.append(
                    (
                        f"{level['offered_rps']:g}/s {endpoint}: p50 / p99 ms",
                        f"{_stat(stats['p50_ms'])} / {_stat(stats['p99_ms'])}{ratio}",
                        "held" if stats["held"] else "not held",
                    )
                )
        for endpoint, best in (data.get("highest_load_held_rps") or {}).items():
            rows.append((f"highest load held, {endpoint} (p99 < 25 ms)", f"{best} req/s", ""))
        return rows
    if name.startswith("drain"):
        return [
            ("drain time (s)", _stat(data.get("drain_seconds"), "", 2), ""),
            ("lower bound (s)", f"{data.get('lower_bound_seconds', 0):.1f}", ""),
            (
                "ratio to bound",
                f"{data.get('ratio_to_bound', 0):.2f}x",
                f"<= {data.get('target_ratio_max')}x: {'met' if data.get('target_met') else 'MISSED'}",
            ),
            ("one submission alone (s)", _stat(data.get("single_submission_seconds"), "", 2), ""),
            ("machine busy cores", _stat(data.get("machine_busy_cores"), "", 2), ""),
            ("CPU s per runner", _stat(data.get("runner_cpu_seconds_each"), "", 2), ""),
        ]
    # scheduler_dispatch (the scheduler engineer's JSON): show every top-level number and target verdict
    rows = []
    for key, value in data.items():
        if isinstance(value, dict) and "median" in value:
            rows.append((key, _stat(value), ""))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            rows.append((key, f"{value:.3g}", ""))
        elif isinstance(value, bool):
            rows.append((key, "", "met" if value else "MISSED"))
    return rows


def accepts_json(script: Path) -> bool:
    """Whether the script takes ``--json PATH`` (every benchmark should; see bench/README.md)."""
    proc = subprocess.run(
        [sys.executable, str(script), "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    return "--json" in proc.stdout


def run_one(bench: Benchmark, out_dir: Path, quick: bool) -> dict[str, Any]:
    script = ROOT / "bench" / bench.script
    json_path = out_dir / f"{bench.name}.json"
    if not script.exists():
        return {"name": bench.name, "status": "missing", "detail": f"{script.relative_to(ROOT)} does not exist"}
    with_json = accepts_json(script)
    argv = [sys.executable, str(script), *bench.args] + (["--json", str(json_path)] if with_json else [])
    if quick:
        argv.append("--quick")
    json_path.unlink(missing_ok=True)
    print(f"== {bench.name}: {bench.what}\n   {' '.join(argv[1:])}", flush=True)
    started = time.monotonic()
    try:
        proc = subprocess.run(argv, cwd=ROOT, timeout=bench.timeout, check=False, stdout=subprocess.PIPE, text=True)
        code, stdout = proc.returncode, proc.stdout
    except subprocess.TimeoutExpired as exc:
        code, stdout = None, exc.stdout if isinstance(exc.stdout, str) else ""
    print(stdout, end="", flush=True)
    (out_dir / f"{bench.name}.txt").write_text(stdout or "")
    seconds = time.monotonic() - started
    if code != 0:
        detail = "timed out" if code is None else f"exit {code}"
        return {"name": bench.name, "status": "failed", "detail": detail, "seconds": seconds}
    if not with_json:
        # measured, but only as a printed table: kept verbatim, and the missing flag is named
        detail = f"{bench.script} has no --json flag: its printed table is kept in {bench.name}.txt"
        return {"name": bench.name, "status": "table-only", "detail": detail, "seconds": seconds, "stdout": stdout}
    if not json_path.exists():
        return {"name": bench.name, "status": "failed", "detail": "exit 0 but no JSON written", "seconds": seconds}
    return {"name": bench.name, "status": "ok", "seconds": seconds, "json": str(json_path)}


def collect(bench: Benchmark, out_dir: Path) -> dict[str, Any]:
    """An earlier run's result, from its JSON file."""
    json_path = out_dir / f"{bench.name}.json"
    if not json_path.exists():
        return {"name": bench.name, "status": "missing", "detail": f"no {json_path.name} in {out_dir}"}
    return {"name": bench.name, "status": "ok", "json": str(json_path)}


def markdown(entries: list[dict[str, Any]], machine: dict[str, Any]) -> str:
    lines = [
        f"Machine: {machine['nproc']} cores, {machine['cpu_model']}, {machine['memory_gib']} GiB, Python "
        f"{machine['python']}; load average {machine['load_average_at_start']} at start, "
        f"{machine['load_average_at_end']} at end; revision {machine.get('revision', '?')}.",
        "",
    ]
    for entry in entries:
        lines.append(f"### {entry['name']} ({entry['status']})")
        lines.append("")
        if entry["status"] == "table-only":
            lines += [entry["detail"] + ":", "", "```", entry["stdout"].rstrip(), "```", ""]
            continue
        if entry["status"] != "ok":
            lines += [entry.get("detail", ""), ""]
            continue
        lines += ["| figure | median (min..max) | target |", "| --- | --- | --- |"]
        lines += [f"| {a} | {b} | {c} |" for a, b, c in entry["headlines"]]
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "artifacts" / "bench", help="where the JSON files go")
    p.add_argument("--only", help="comma-separated names: " + ", ".join(b.name for b in BENCHMARKS))
    p.add_argument("--quick", action="store_true", help="every benchmark at its tiny size (a smoke run)")
    p.add_argument(
        "--no-run", action="store_true", help="summarise the JSON already in --out (from earlier runs) without running"
    )
    args = p.parse_args()
    chosen = BENCHMARKS
    if args.only:
        names = {n.strip() for n in args.only.split(",") if n.strip()}
        unknown = names - {b.name for b in BENCHMARKS}
        if unknown:
            p.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
        chosen = tuple(b for b in BENCHMARKS if b.name in names)
    args.out.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    machine["revision"] = git_revision()
    entries = []
    for bench in chosen:
        entry = collect(bench, args.out) if args.no_run else run_one(bench, args.out, args.quick)
        if entry["status"] == "ok":
            data = json.loads(Path(entry["json"]).read_text())
            entry["headlines"] = headlines(bench.name, data)
            entry["result"] = data
        entries.append(entry)
    finish_machine_info(machine)
    write_json(args.out / "summary.json", {"machine": machine, "quick": args.quick, "benchmarks": entries})
    (args.out / "summary.md").write_text(markdown(entries, machine) + "\n")
    print("\n== summary (medians with min..max; every figure in", args.out / "summary.json", ")")
    rows = []
    for entry in entries:
        if entry["status"] != "ok":
            rows.append([entry["name"], entry["status"].upper(), entry.get("detail", "")])
            continue
        for figure, value, target in entry["headlines"]:
            rows.append([f"{entry['name']}: {figure}", value, target])
    print(table(["benchmark: figure", "value", "target"], rows))
    failed = [e["name"] for e in entries if e["status"] not in ("ok", "table-only")]
    if failed:
        print(f"\nnot measured: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
