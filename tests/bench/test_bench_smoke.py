"""The benchmarks still work: each runs once at its tiny size (``--quick``) and writes sane JSON.

No timing is asserted (speed targets live in bench/ and docs/performance.md); what is asserted is what a
broken benchmark would get wrong: requests failing, submissions not graded, tokens not counted, no JSON.
"""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"


def run_bench(script: str, tmp_path: Path, *extra: str, timeout: float = 240) -> dict[str, Any]:
    out = tmp_path / f"{Path(script).stem}.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", "--json", str(out), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert proc.stdout.strip(), "a benchmark prints its table"
    return json.loads(out.read_text())


def test_llm_cost_counts_the_runners_real_prompt(tmp_path: Path):
    data = run_bench("llm_cost.py", tmp_path)
    prompt = data["prompt_tokens_messages"]["median"]
    # the prompt holds at least the description, rubric and code, and the schema estimate adds to it
    assert prompt > data["floor_tokens_description_rubric_code"] > 0
    assert data["prompt_tokens_with_schema_estimate"]["median"] > prompt
    # the recorded request and the in-process rebuild of the same prompt agree (only the nonce differs)
    assert abs(data["rebuilt_in_process_prompt_tokens"] - prompt) <= 0.05 * prompt
    assert data["completion_tokens_realistic_answer"] > 0
    assert data["cost_usd_per_1000_submissions"] > 0
    assert data["machine"]["nproc"] >= 1


def test_llm_cost_uses_the_exact_tokenizer_when_quicktok_is_installed(tmp_path: Path):
    pytest.importorskip("quicktok")
    pytest.importorskip("tiktoken")
    import llm_cost  # bench/, put on sys.path by tests/bench/conftest.py

    tok = llm_cost.load_tokenizer()
    assert tok.exact, tok.source
    # o200k_base facts that an estimate or another encoding would get wrong
    assert tok.count("hello world") == 2
    assert tok.count(" FizzBuzz") < len(" FizzBuzz") // 2


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_payload_size_measures_both_formats(tmp_path: Path):
    data = run_bench("payload_size.py", tmp_path)
    big = data["results"]["100 KB of tests"]
    assert big["assignment_json_bytes"] > 100_000
    assert big["snapshot_memory_usage_bytes"] >= big["assignment_json_bytes"]
    assert big["inline_bytes_per_submission"]["median"] > big["assignment_json_bytes"], "inline copies it"
    assert big["shared_bytes_per_submission"]["median"] < big["assignment_json_bytes"] / 20, "shared does not"


def test_backend_load_answers_every_request(tmp_path: Path):
    data = run_bench("backend_load.py", tmp_path, timeout=280)
    assert data["setup"]["store"].startswith("in-memory")
    [level] = data["levels"]
    for endpoint in ("healthz", "get", "post"):
        stats = level[endpoint]
        assert stats["requests"] >= 5
        assert stats["errors"] == 0, f"{endpoint}: {stats['runs']}"
        assert stats["p99_ms"]["median"] >= stats["p50_ms"]["median"] > 0
    assert "p99_ratio_to_floor" in level["post"]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_drain_grades_every_submission(tmp_path: Path):
    data = run_bench("drain.py", tmp_path, timeout=280)
    [batch] = data["batches"]
    assert batch["statuses"] == {"graded": batch["submissions"]}
    assert batch["llm_requests"] == batch["submissions"]
    # nothing can finish faster than the LLM lets it
    assert data["drain_seconds"]["median"] >= data["lower_bound_seconds"]
    assert batch["phases"]["created_to_llm"]["count"] == batch["submissions"]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sandbox_bench_runs_every_test_and_measures_both_sides(tmp_path: Path):
    data = run_bench("sandbox.py", tmp_path, timeout=280)
    assert set(data["languages"]) == {"python", "c"}
    for entry in data["languages"].values():
        for kind in ("wall_ms", "cpu_ms"):
            assert entry[kind]["sandboxed"]["median"] > 0
            assert entry[kind]["bare"]["median"] > 0
            assert entry[kind]["floor_per_test"]["median"] > 0
    assert len(data["runner_spawn_to_result_posted"]) == 4


def test_run_all_collects_json_and_rejects_an_unknown_name(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run_all.py"), "--quick", "--only", "llm_cost", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    [entry] = summary["benchmarks"]
    assert entry["status"] == "ok"
    assert entry["result"]["benchmark"] == "llm_cost"
    assert "llm_cost" in (tmp_path / "summary.md").read_text()

    bad = subprocess.run(
        [sys.executable, str(BENCH / "run_all.py"), "--only", "no_such_bench", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode != 0
    assert "unknown benchmark" in bad.stderr


def test_backend_auth_poll_logs_everyone_in_and_costs_each_poll(tmp_path: Path) -> None:
    data = run_bench("backend_auth_poll.py", tmp_path, timeout=280)
    (run,) = data["runs"]
    assert run["logins_per_second"] > 0
    assert run["peak_rss_mib"] >= run["idle_rss_mib"] > 0
    for key in ("floor_healthz_cpu_ms", "full_get_cpu_ms", "status_get_cpu_ms", "not_modified_cpu_ms"):
        assert run[key] > 0, key


def test_watcher_relist_measures_the_scheduler_with_retained_jobs(tmp_path: Path):
    data = run_bench("watcher_relist.py", tmp_path)
    results = data["results"]
    assert len(results) == 3
    upgrade = next(r for case, r in results.items() if "unlabelled" in case)
    assert upgrade["all_labelled_seconds"] >= upgrade["sync_seconds"] > 0, "every retained Job got its label"
    assert all(r["peak_rss_mib"] > 10 for r in results.values()), "the scheduler's own memory was read"
