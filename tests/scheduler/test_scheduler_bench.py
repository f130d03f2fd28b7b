"""The dispatch benchmark still works (tiny size). It asserts no speed: the numbers are for docs, not for CI."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_dispatch_benchmark_runs_at_quick_size(tmp_path):
    out = tmp_path / "scheduler_dispatch.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "scheduler_dispatch.py"), "--quick", "--json",
                           str(out)], capture_output=True, text=True, timeout=110, check=False, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    data = json.loads(out.read_text())
    for key in ("jobs_per_second", "floor_jobs_per_second", "floor_ratio", "enqueue_to_create_p99_ms"):
        assert data[key]["median"] > 0
    assert data["backlog"] == 100
    assert "enqueue -> create p99" in done.stdout
