"""EXECUTOR=local: each runner Job runs as a subprocess on this machine (the demo, and tests without a cluster).

The subprocess gets the env the Job's ``runner`` container would get (``kubelet_env``), with each ``secretKeyRef``
looked up by its key in a mapping: the scheduler's own environment, which stands in for the release's Secret.
It is killed at the Job's ``activeDeadlineSeconds`` (reported as ``timeout``) and, like a Job's pod, started again
after a failure up to ``backoffLimit`` times (then reported as ``error``, fail tag ``runner-failed``).
"""

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from cloudemy_common.jobs import ATTEMPT_LABEL, SUBMISSION_ID_LABEL
from cloudemy_scheduler.executors.base import Created, JobView, OnFinished
from cloudemy_scheduler.executors.kubelet_env import resolve_env
from cloudemy_scheduler.job_endings import Ending, JobEnding
from cloudemy_scheduler.job_template import runner_container

log = logging.getLogger(__name__)

DEFAULT_RUNNER_COMMAND = (sys.executable, "-m", "cloudemy_runner")
# What a process needs from the host to start at all; nothing else of the scheduler's env leaks into a runner.
HOST_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV", "SYSTEMROOT")
KILL_GRACE_SECONDS = 2.0


class LocalExecutor:
    def __init__(
        self,
        command: Sequence[str] = DEFAULT_RUNNER_COMMAND,
        secrets: Mapping[str, str] | None = None,
        host_env: Mapping[str, str] | None = None,
    ) -> None:
        self.command = list(command)
        self.secrets = dict(os.environ if secrets is None else secrets)
        source = os.environ if host_env is None else host_env
        self.host_env = {k: source[k] for k in HOST_ENV if k in source}
        self.on_finished: OnFinished = lambda ended: None
        self._running: dict[str, subprocess.Popen[bytes] | None] = {}
        self._finished: set[str] = set()
        self._lock = threading.Lock()
        self._closing = threading.Event()

    def start(self, on_finished: OnFinished) -> None:
        self.on_finished = on_finished

    def create(self, job: dict[str, Any]) -> Created:
        name = job["metadata"]["name"]
        with self._lock:
            if name in self._running or name in self._finished:
                return Created.EXISTS
            self._running[name] = None
        env = {**self.host_env, **resolve_env(runner_container(job), lambda name, key: self.secrets.get(key))}
        threading.Thread(target=self._run_job, args=(job, env), name=f"local-{name}", daemon=True).start()
        return Created.CREATED

    def is_finished(self, job_name: str) -> bool:
        with self._lock:
            return job_name in self._finished

    def unfinished_view(self) -> JobView | None:
        with self._lock:
            return JobView(frozenset(self._running), 0, 0.0)  # this process's own children: always current

    def healthy(self) -> tuple[bool, str]:
        return True, f"local executor, {len(self._running)} runner processes"

    def close(self) -> None:
        """Stop every runner still running (the scheduler is exiting; nothing is left orphaned)."""
        self._closing.set()
        with self._lock:
            procs = [proc for proc in self._running.values() if proc is not None]
        for proc in procs:
            _stop_process(proc)

    # ---- one Job -------------------------------------------------------------------------------------------

    def _run_job(self, job: dict[str, Any], env: dict[str, str]) -> None:
        name = job["metadata"]["name"]
        spec = job.get("spec") or {}
        deadline = float(spec["activeDeadlineSeconds"]) if spec.get("activeDeadlineSeconds") else None
        retries_left = int(spec.get("backoffLimit", 6))
        started = time.monotonic()
        ending, cause, detail = Ending.ERROR, "runner-failed", ""
        while not self._closing.is_set():
            proc = subprocess.Popen(self.command, env=env, start_new_session=True)
            with self._lock:
                self._running[name] = proc
            remaining = None if deadline is None else max(0.0, deadline - (time.monotonic() - started))
            try:
                code = proc.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                _stop_process(proc)
                ending, cause, detail = Ending.TIMEOUT, "deadline-exceeded", ""
                log.warning("local runner %s passed its %.0f s deadline: killed", name, deadline or 0)
                break
            if code == 0:
                ending, cause, detail = Ending.SUCCEEDED, "", ""
                break
            detail = f"exit code {code}"
            if retries_left <= 0:
                break
            retries_left -= 1
            log.info("local runner %s exited with %d; starting it again", name, code)
        with self._lock:
            self._running.pop(name, None)
            self._finished.add(name)
        if self._closing.is_set() and ending is not Ending.SUCCEEDED:
            return  # the scheduler stopped it; the backend's sweeper or a later run takes it from here
        labels = job["metadata"].get("labels") or {}
        ended = JobEnding(
            job_name=name,
            submission_id=labels.get(SUBMISSION_ID_LABEL, ""),
            attempt=int(labels.get(ATTEMPT_LABEL) or 1),
            ending=ending,
            cause=cause,
            detail=detail,
            deadline_seconds=deadline,
        )
        try:
            self.on_finished(ended)
        except Exception:
            log.exception("handling the end of local runner %s failed", name)


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the runner's process group, then SIGKILL it after a short grace."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_SECONDS), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
