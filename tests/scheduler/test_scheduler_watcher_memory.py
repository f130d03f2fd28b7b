"""20,000 retained runner Jobs keep the scheduler under the memory limit the chart gives it, through a re-list:
both when they are all labelled reported (the steady state) and when none is (an upgrade from a version without
the label: every one is listed, handed over and queued for its label). The fake API runs as its own process with
the Jobs, so that the scheduler's own peak RSS (VmHWM) is what is measured."""

import subprocess
from pathlib import Path

import httpx
import pytest
from scheduler_harness import MASTER_TOKEN, ProcessScheduler, scheduler_env
from waiting import wait_for

from cloudemy_common.jobs import REPORTED, REPORTED_LABEL
from cloudemy_scheduler.job_template import build_job, load_template
from demo.chart import render
from fakes.k8s_api import spawn
from fakes.ports import free_port

RETAINED = 20_000
UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}


def memory_limit_bytes() -> int:
    """The scheduler container's memory limit in the chart's default render."""
    (deployment,) = render(show_only=("templates/scheduler/deployment.yaml",))
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "scheduler"]
    limit = str(container["resources"]["limits"]["memory"])
    for suffix, factor in UNITS.items():
        if limit.endswith(suffix):
            return int(float(limit.removesuffix(suffix)) * factor)
    return int(limit)


def peak_rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.fixture
def big_api(tmp_path, job_template):
    """Start the fake API process holding RETAINED finished runner Jobs (labelled reported or not)."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(*labels: str) -> Path:
        body = build_job(load_template(job_template), "0" * 24, 1, MASTER_TOKEN)
        proc, kubeconfig = spawn(tmp_path, body, RETAINED, labels)
        procs.append(proc)
        return kubeconfig

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize(
    "labels", [(f"{REPORTED_LABEL}={REPORTED}",), ()], ids=["labelled-reported", "upgrade-unlabelled"]
)
def test_twenty_thousand_retained_jobs_stay_under_the_memory_limit_through_a_relist(
    big_api, labels, redis_url, backend, job_template, tmp_path
):
    limit = memory_limit_bytes()
    kubeconfig = big_api(*labels)
    metrics = free_port()
    env = scheduler_env(redis_url, kubeconfig, backend.internal_url, job_template, metrics_port=metrics,
                        k8s_request_timeout_seconds=10)  # fmt: skip
    scheduler = ProcessScheduler(env, tmp_path / "scheduler.log").start()
    try:

        def ready() -> bool:
            assert scheduler.proc is not None
            assert scheduler.proc.poll() is None, "the scheduler exited"
            try:
                return httpx.get(f"http://127.0.0.1:{metrics}/readyz", timeout=2, trust_env=False).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, timeout=90, interval=0.2, what="the scheduler synced (its list done)")
        assert scheduler.proc is not None
        peak = peak_rss_bytes(scheduler.proc.pid)
        print(f"scheduler peak RSS with {RETAINED} retained Jobs {labels or 'unlabelled'}: {peak / 2**20:.1f} MiB")
        assert peak < limit, f"peak RSS {peak / 2**20:.0f} MiB over the limit {limit / 2**20:.0f} MiB"
    finally:
        assert scheduler.terminate(timeout=30) == 0
