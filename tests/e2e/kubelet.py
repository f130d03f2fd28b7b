"""A fake kubelet for the fake API server: runs each created runner Job's container as a local process.

For every Job the scheduler creates, it starts ``python -m cloudemy_runner`` with the container's env resolved
against the rendered chart, then marks the Job Complete, or Failed with DeadlineExceeded when the process outlives
``activeDeadlineSeconds``, or with BackoffLimitExceeded when it failed more than ``backoffLimit`` times.
"""

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from demo.processes import image_env
from fakes.k8s_api import FakeKubernetesAPI

EnvResolver = Callable[[dict[str, Any]], dict[str, str]]


@dataclass
class PodRun:
    job: str
    attempt: int
    exit_code: int | None = None
    killed_at_deadline: bool = False


@dataclass
class FakeKubelet:
    api: FakeKubernetesAPI
    resolve_env: EnvResolver
    runs: list[PodRun] = field(default_factory=list)
    _procs: set[subprocess.Popen[bytes]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _closed: bool = False

    def attach(self) -> "FakeKubelet":
        self.api.on_create.append(self._on_create)
        return self

    def _on_create(self, job: dict[str, Any]) -> None:
        threading.Thread(target=self._run_job, args=(job,), daemon=True, name="fake-kubelet").start()

    def _run_job(self, job: dict[str, Any]) -> None:
        name, namespace = job["metadata"]["name"], job["metadata"]["namespace"]
        spec = job["spec"]
        deadline = time.monotonic() + float(spec.get("activeDeadlineSeconds") or 3600)
        container = spec["template"]["spec"]["containers"][0]
        env = {**image_env(), **self.resolve_env(container)}
        for attempt in range(1, int(spec.get("backoffLimit", 6)) + 2):
            if self._closed:
                return
            run = PodRun(name, attempt)
            with self._lock:
                self.runs.append(run)
            self.api.set_pod_state(name, phase="Running", namespace=namespace)
            proc = subprocess.Popen(
                [sys.executable, "-m", "cloudemy_runner"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            with self._lock:
                self._procs.add(proc)
            try:
                run.exit_code = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                run.killed_at_deadline = True
            finally:
                with self._lock:
                    self._procs.discard(proc)
            if self._closed:
                return
            if run.killed_at_deadline:
                self.api.mark_failed(name, "DeadlineExceeded", "Job was active longer than specified deadline",
                                     namespace=namespace)  # fmt: skip
                return
            if run.exit_code == 0:
                self.api.set_pod_state(name, phase="Succeeded", terminated_reason="Completed", exit_code=0,
                                       namespace=namespace)  # fmt: skip
                self.api.mark_complete(name, namespace=namespace)
                return
        self.api.mark_failed(name, "BackoffLimitExceeded", "Job has reached the specified backoff limit",
                             namespace=namespace)  # fmt: skip

    def runs_for(self, job_name: str) -> list[PodRun]:
        with self._lock:
            return [r for r in self.runs if r.job == job_name]

    def close(self) -> None:
        """Kill every runner still running."""
        self._closed = True
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            proc.kill()
            proc.wait()
