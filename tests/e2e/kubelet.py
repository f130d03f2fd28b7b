"""A fake kubelet for the fake API server: runs each runner Job's pod as a local ``python -m cloudemy_runner``.

For every Job the scheduler creates it takes the pod the fake Job controller made, starts the runner with the
container's env resolved against the rendered chart, and tells the controller how the container ended
(``pod_exited``): the controller completes the Job, or judges the failure by the Job's podFailurePolicy and
backoffLimit (a new pod, which this kubelet runs in turn, or a failed Job). The Job's deadline is the controller's
(counted from the Job's creation): when it passes, the runner still running is killed.

It is not always kind. A ``PodBehaviour`` (for every Job, one Job by name, or the next Jobs created) can:
- leave the pod Pending, Unschedulable, for a while before it is scheduled (a node autoscale, a full cluster);
- fail the image pull (ErrImagePull, then ImagePullBackOff) so the container never starts;
- evict the pod some seconds after its runner started (a node drain: condition DisruptionTarget);
- freeze the runner some seconds after it started (SIGSTOP: a wedged node), so only the deadline ends it.
A Job whose pods the controller cannot create (``FakeKubernetesAPI.refuse_pod_creation``) has nothing to run.
"""

import os
import signal
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
BACKOFF_AFTER_PULL_ERROR_SECONDS = 1.0  # ErrImagePull, then ImagePullBackOff after this long
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class PodBehaviour:
    unschedulable_seconds: float = 0.0
    """PodScheduled=False (reason Unschedulable) this long before the pod is scheduled; 0: scheduled at once."""
    image_pull_fails: bool = False
    """The image pull fails for good: ErrImagePull, then ImagePullBackOff; the runner never starts."""
    evict_after_seconds: float | None = None
    """Evict the Job's first pod this long after its runner started (its replacement runs normally)."""
    freeze_after_seconds: float | None = None
    """SIGSTOP the runner this long after it started: it neither posts nor exits until the deadline kills it."""


KIND = PodBehaviour()


@dataclass
class PodRun:
    job: str
    attempt: int
    exit_code: int | None = None
    killed_at_deadline: bool = False
    evicted: bool = False
    started_at: float | None = None  # time.time() when the runner process started
    ended_at: float | None = None


@dataclass
class FakeKubelet:
    api: FakeKubernetesAPI
    resolve_env: EnvResolver
    behaviour: PodBehaviour = KIND
    runs: list[PodRun] = field(default_factory=list)
    _by_job: dict[str, PodBehaviour] = field(default_factory=dict)
    _next: list[PodBehaviour] = field(default_factory=list)
    _procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)  # Job name -> its running runner
    _gone: set[str] = field(default_factory=set)  # Jobs past their deadline or deleted
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _closed: bool = False

    def attach(self) -> "FakeKubelet":
        self.api.on_create.append(self._on_create)
        self.api.on_deadline.append(self._on_job_gone)
        self.api.on_delete.append(self._on_job_gone)
        return self

    # ---- how unkind -----------------------------------------------------------------------------------------

    def behave(self, behaviour: PodBehaviour, job_name: str | None = None) -> None:
        """Set the behaviour for every Job from now on (``job_name`` None) or for one Job by name."""
        with self._lock:
            if job_name is None:
                self.behaviour = behaviour
            else:
                self._by_job[job_name] = behaviour

    def behave_next(self, behaviour: PodBehaviour, count: int = 1) -> None:
        """The next ``count`` Jobs created get ``behaviour`` (then the standing one applies again)."""
        with self._lock:
            self._next.extend([behaviour] * count)

    def _behaviour_for(self, name: str) -> PodBehaviour:
        with self._lock:
            if name in self._by_job:
                return self._by_job[name]
            return self._next.pop(0) if self._next else self.behaviour

    # ---- running pods ---------------------------------------------------------------------------------------

    def _on_create(self, job: dict[str, Any]) -> None:
        behaviour = self._behaviour_for(job["metadata"]["name"])
        threading.Thread(target=self._run_job, args=(job, behaviour), daemon=True, name="fake-kubelet").start()

    def _on_job_gone(self, namespace: str, name: str) -> None:
        with self._lock:
            self._gone.add(name)
            proc = self._procs.get(name)
        if proc is not None and proc.poll() is None:
            proc.kill()  # SIGKILL also ends a frozen (SIGSTOPped) runner

    def _wait(self, seconds: float, name: str) -> bool:
        """Sleep ``seconds``; False when the Job ended or went meanwhile (then the pod has nothing more to do)."""
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            if self._closed or self._ended(name):
                return False
            time.sleep(POLL_SECONDS)
        return not (self._closed or self._ended(name))

    def _ended(self, name: str) -> bool:
        with self._lock:
            if name in self._gone:
                return True
        job = self.api.get_job(name)
        return job is None or any(c.get("status") == "True" for c in (job.get("status") or {}).get("conditions", []))

    def _run_job(self, job: dict[str, Any], behaviour: PodBehaviour) -> None:
        name, namespace = job["metadata"]["name"], job["metadata"]["namespace"]
        container = job["spec"]["template"]["spec"]["containers"][0]
        env = {**image_env(), **self.resolve_env(container)}
        attempt = 0
        while not self._closed and self.api.pods_of(name, namespace):
            attempt += 1
            if attempt == 1 and behaviour.unschedulable_seconds:
                self.api.set_pod_scheduled(name, False, namespace=namespace)
                if not self._wait(behaviour.unschedulable_seconds, name):
                    return
            self.api.set_pod_scheduled(name, True, namespace=namespace)
            if behaviour.image_pull_fails:
                self.api.set_pod_state(name, waiting_reason="ErrImagePull", namespace=namespace)
                if self._wait(BACKOFF_AFTER_PULL_ERROR_SECONDS, name):
                    self.api.set_pod_state(name, waiting_reason="ImagePullBackOff", namespace=namespace)
                return  # the container never starts: the scheduler or the deadline ends the Job
            run = self._run_pod(name, namespace, env, attempt, behaviour)
            if run is None:
                return
            if run.evicted:
                if self.api.evict_pod(name, namespace) is None:
                    return
                continue
            if run.killed_at_deadline or run.exit_code is None:
                return
            if self.api.pod_exited(name, run.exit_code, namespace) is None:
                return  # the Job completed, or failed: no new pod

    def _run_pod(
        self, name: str, namespace: str, env: dict[str, str], attempt: int, behaviour: PodBehaviour
    ) -> PodRun | None:
        if self._ended(name):
            return None
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
        run.started_at = time.time()
        with self._lock:
            self._procs[name] = proc
            gone = name in self._gone
        if gone:  # the deadline passed while the process was being started
            proc.kill()
        evict_at = behaviour.evict_after_seconds if attempt == 1 else None
        freeze_at = behaviour.freeze_after_seconds
        started = time.monotonic()
        try:
            while proc.poll() is None:
                ran = time.monotonic() - started
                if evict_at is not None and ran >= evict_at:
                    proc.kill()
                    run.evicted = True
                    break
                if freeze_at is not None and ran >= freeze_at:
                    os.kill(proc.pid, signal.SIGSTOP)
                    freeze_at = None
                time.sleep(POLL_SECONDS)
            run.exit_code = proc.wait()
        finally:
            run.ended_at = time.time()
            with self._lock:
                self._procs.pop(name, None)
                run.killed_at_deadline = name in self._gone and not run.evicted
        return run

    def runs_for(self, job_name: str) -> list[PodRun]:
        with self._lock:
            return [r for r in self.runs if r.job == job_name]

    def close(self) -> None:
        """Kill every runner still running."""
        self._closed = True
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            proc.kill()
            proc.wait()
