"""Helpers for the scheduler tests: scheduler settings and Job template, in-thread and subprocess schedulers."""

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from waiting import wait_for

from cloudemy_scheduler.app import Scheduler
from cloudemy_scheduler.config import Settings
from demo.chart import BACKEND_SERVICE, write_runner_job_template
from fakes.k8s_api import FakeKubernetesAPI

ROOT = Path(__file__).resolve().parents[2]
MASTER_TOKEN = "master-token-for-tests"
QUEUE = "queue:submissions"


def sid(n: int) -> str:
    """A submission id (24 lowercase hex) from a number."""
    return f"{n:024x}"


def message(n: int, attempt: int | None = None, language: str = "python") -> str:
    body: dict[str, Any] = {"submission_id": sid(n), "language": language}
    if attempt is not None:
        body["attempt"] = attempt
    return json.dumps(body)


def job_template_file(path: Path, backend_url: str, *set_values: str) -> Path:
    """The chart's runner Job template (rendered once per test session) at ``path``, its runners pointed at the
    backend at ``backend_url``; ``set_values`` are extra chart values (``runner.job.backoffLimit=0``)."""
    port = urlsplit(backend_url).port
    assert port is not None, backend_url
    return write_runner_job_template(path, set_values=set_values, services={BACKEND_SERVICE: port})


def scheduler_env(
    redis_url: str, kubeconfig: Path | None, backend_url: str, job_template: Path, **extra: str | int | float
) -> dict[str, str]:
    """Environment for one scheduler (process or in-thread Settings), short timings for tests."""
    env = {
        "REDIS_URL": redis_url,
        "QUEUE_SUBMISSIONS": QUEUE,
        "K8S_NAMESPACE": "default",
        "RUNNER_JOB_TEMPLATE": str(job_template),
        "BACKEND_INTERNAL_URL": backend_url,
        "INTERNAL_RESULT_TOKEN": MASTER_TOKEN,
        "METRICS_PORT": "0",
        "MAX_ACTIVE_JOBS": "1000",
        "SCHEDULER_LEASE_SECONDS": "3",
        "RECOVERY_INTERVAL_SECONDS": "0.5",
        "ORPHAN_GRACE_SECONDS": "1",
        "K8S_REQUEST_TIMEOUT_SECONDS": "1",
        "REPORT_TIMEOUT_SECONDS": "20",
        "LOG_LEVEL": "WARNING",
    }
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    env.update({k.upper(): str(v) for k, v in extra.items()})
    return env


def settings_from(env: dict[str, str]) -> Settings:
    """Settings built from ``env`` alone (the test process's own environment does not leak in)."""
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        return Settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


class ThreadScheduler:
    """A scheduler running in a thread of the test process."""

    def __init__(self, env: dict[str, str]) -> None:
        self.scheduler = Scheduler(settings_from(env), environ=env)
        self.thread = threading.Thread(target=self.scheduler.serve, name="scheduler-under-test", daemon=True)

    def __enter__(self) -> "ThreadScheduler":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, timeout: float = 15) -> None:
        self.scheduler.stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the scheduler did not stop"


class ProcessScheduler:
    """``python -m cloudemy_scheduler`` as a subprocess."""

    def __init__(self, env: dict[str, str], log_path: Path | None = None) -> None:
        self.env = {**{k: v for k, v in os.environ.items() if "proxy" not in k.lower()}, **env}
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT / "tests"), str(ROOT), os.environ.get("PYTHONPATH", "")]
        ).rstrip(os.pathsep)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "ProcessScheduler":
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "cloudemy_scheduler"], env=self.env, stdout=out,
                                     stderr=subprocess.STDOUT)  # fmt: skip
        return self

    def wait(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def terminate(self, timeout: float = 20) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def wait_healthy(self, port: int, timeout: float = 30) -> httpx.Response:
        def probe() -> httpx.Response | None:
            assert self.proc is not None
            assert self.proc.poll() is None, "scheduler exited"
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1, trust_env=False)
            except httpx.TransportError:
                return None

        return wait_for(probe, timeout, 0.05, "scheduler /healthz")


def job_env(api: FakeKubernetesAPI, name: str) -> dict[str, Any]:
    job = api.get_job(name)
    assert job is not None, f"no Job {name}"
    container = job["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
