"""The Job watcher: list runner Jobs by label, then watch from that resourceVersion (re-list on 410 Gone).

The watch is the client library's own ``kubernetes.watch.Watch`` with ``return_type="object"``: events arrive as
plain dicts (no model round trip per event) and an ``ERROR`` event becomes an ``ApiException`` with its code.
``deserialize=False`` would skip the same round trip, but in kubernetes 37.0.2 it breaks on ``ERROR`` events
(``KeyError: 'raw_object'``), so a 410 Gone could not be told from any other failure.

Every Job that ends is handed to ``on_finished`` once: Complete as ``succeeded`` (the runner posted its own
result), DeadlineExceeded as ``timeout``, anything else as ``error`` with a fail tag naming the cause (found on
the Job's condition and its pods: BackoffLimitExceeded, pod evicted, OOMKilled, image pull failing). Jobs that
never start (Unschedulable, no pod created, image pull failing) are found by ``stuck_pods.StuckPodSweep`` and
handed over through ``report_stuck``. The set of unfinished Jobs it keeps is what the active-Job slots are
reconciled against.
"""

import contextlib
import json
import logging
import threading
from typing import Any

import urllib3
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from cloudemy_common.jobs import ATTEMPT_LABEL, SUBMISSION_ID_LABEL
from cloudemy_common.retry import Stopped, retry_until_stopped
from cloudemy_scheduler.executors.base import OnFinished
from cloudemy_scheduler.job_endings import Ending, JobEnding, tag_for_reason
from cloudemy_scheduler.metrics import FAILURES
from cloudemy_scheduler.stuck_pods import IMAGE_PULL_REASONS, exit_code, pull_detail, terminated_reason, waiting_reason

log = logging.getLogger(__name__)

WATCH_ERRORS = (ApiException, urllib3.exceptions.HTTPError, OSError, ValueError)
"""Failures of a list or watch request that another try may fix (the API down, overloaded, or not ready)."""
LIST_BACKOFF = (0.2, 10.0)  # seconds: the first wait after a failed list, and the longest
HTTP_GONE = 410


class WatchGone(Exception):
    """The API no longer has history from our resourceVersion (410 Gone): list again."""


def finished_condition(job: dict[str, Any]) -> dict[str, Any] | None:
    """The Job's Complete or Failed condition with status True, if it has one."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return condition
    return None


class JobWatcher:
    def __init__(
        self,
        batch: client.BatchV1Api,
        core: client.CoreV1Api,
        namespace: str,
        selector: str,
        *,
        watch_timeout: int = 300,
        request_timeout: float = 10,
    ) -> None:
        self.batch = batch
        self.core = core
        self.namespace = namespace
        self.selector = selector
        self.watch_timeout = watch_timeout
        self.request_timeout = request_timeout
        self.on_finished: OnFinished = lambda ended: None
        self.synced = threading.Event()
        self.relists = 0
        self._unfinished: dict[str, dict[str, Any]] = {}  # name -> the Job as last seen
        self._ended: set[str] = set()  # names already handed to on_finished
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_error = ""
        self._watch = watch.Watch(return_type="object")

    # ---- lifecycle -----------------------------------------------------------------------------------------

    def start(self, on_finished: OnFinished) -> None:
        self.on_finished = on_finished
        thread = threading.Thread(target=self._run, name="job-watch", daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self, timeout: float = 5) -> None:
        """Stop the watch thread and wait for it (a thread still logging while the interpreter exits aborts it)."""
        self._stop.set()
        self._watch.stop()  # ends a watch request blocked on the socket at once
        for thread in self._threads:
            thread.join(timeout)

    def unfinished_job_names(self) -> set[str] | None:
        if not self.synced.is_set():
            return None
        with self._lock:
            return set(self._unfinished)

    def healthy(self) -> tuple[bool, str]:
        if self.synced.is_set():
            return True, "watching runner Jobs"
        return False, f"Job watch not synced: {self._last_error or 'starting'}"

    # ---- list, then watch ----------------------------------------------------------------------------------

    def _run(self) -> None:
        """List (retried with backoff while the API fails), then watch from the list's resourceVersion until the
        watch fails or the API has compacted that history (410 Gone); then list again."""
        with contextlib.suppress(Stopped):
            while not self._stop.is_set():
                resource_version = retry_until_stopped(self._relist, retry_on=WATCH_ERRORS, stop=self._stop,
                                                       on_retry=self._failed, initial=LIST_BACKOFF[0],
                                                       maximum=LIST_BACKOFF[1])  # fmt: skip
                try:
                    while not self._stop.is_set():
                        resource_version = self._watch_once(resource_version)
                except WatchGone:
                    self.relists += 1
                    log.info("Job watch expired (410 Gone): listing again")
                except WATCH_ERRORS as exc:
                    self._failed(exc, LIST_BACKOFF[0])
                    self._stop.wait(LIST_BACKOFF[0])

    def _failed(self, exc: BaseException, wait_seconds: float) -> None:
        if self._stop.is_set():
            return  # stop() ended the request: not a failure
        self._last_error = f"{type(exc).__name__}: {getattr(exc, 'status', '') or exc}"
        FAILURES.labels(reason="watch-error").inc()
        log.warning("Job watch failed (%s); retrying in %.1f s", self._last_error, wait_seconds)

    def _relist(self) -> str:
        response = self.batch.list_namespaced_job(
            self.namespace,
            label_selector=self.selector,
            _preload_content=False,
            _request_timeout=self.request_timeout,
        )
        listing = json.loads(response.data)
        response.release_conn()
        listed = {job["metadata"]["name"]: job for job in listing.get("items") or []}
        with self._lock:
            vanished = [name for name in self._unfinished if name not in listed]
            self._ended &= set(listed)
        for name in vanished:
            self._observe_deleted(name)
        for job in listed.values():
            self._observe(job)
        self.synced.set()
        self._last_error = ""
        return str(listing["metadata"]["resourceVersion"])

    def _watch_once(self, resource_version: str) -> str:
        """One watch request; returns the resourceVersion to resume from when the server ends it."""
        events = self._watch.stream(
            self.batch.list_namespaced_job,
            self.namespace,
            label_selector=self.selector,
            allow_watch_bookmarks=True,
            resource_version=resource_version,
            timeout_seconds=self.watch_timeout,  # one request per call: the library does not resume by itself
            _request_timeout=(self.request_timeout, self.watch_timeout + self.request_timeout),
        )
        try:
            for event in events:
                if self._stop.is_set():
                    break
                kind, obj = event["type"], event["raw_object"]
                resource_version = obj.get("metadata", {}).get("resourceVersion", resource_version)
                if kind in ("ADDED", "MODIFIED"):
                    self._observe(obj)
                elif kind == "DELETED":
                    self._observe_deleted(obj["metadata"]["name"])
        except ApiException as exc:
            if exc.status == HTTP_GONE:
                raise WatchGone(str(exc.reason)) from exc
            raise
        finally:
            events.close()
        return resource_version

    # ---- what a Job's state means --------------------------------------------------------------------------

    def _observe(self, job: dict[str, Any]) -> None:
        name = job["metadata"]["name"]
        condition = finished_condition(job)
        with self._lock:
            if condition is None:
                self._unfinished[name] = job
                return
            self._unfinished.pop(name, None)
            if name in self._ended:
                return
            self._ended.add(name)
        self._hand_over(self._classify(job, condition))

    def _observe_deleted(self, name: str) -> None:
        with self._lock:
            job = self._unfinished.pop(name, None)
            already = name in self._ended
            self._ended.discard(name)
        if job is not None and not already:
            ended = self._ending(job, Ending.ERROR, "job-deleted", "the grading job was deleted before it ended")
            self._hand_over(ended)

    def _hand_over(self, ended: JobEnding | None) -> None:
        if ended is None:
            return
        try:
            self.on_finished(ended)
        except Exception:
            log.exception("handling the end of Job %s failed", ended.job_name)

    def _ending(self, job: dict[str, Any], ending: Ending, cause: str, detail: str) -> JobEnding | None:
        labels = job["metadata"].get("labels") or {}
        submission_id = labels.get(SUBMISSION_ID_LABEL)
        if not submission_id:
            return None
        try:
            attempt = int(labels.get(ATTEMPT_LABEL) or 1)
        except ValueError:
            attempt = 1
        deadline = (job.get("spec") or {}).get("activeDeadlineSeconds")
        return JobEnding(
            job_name=job["metadata"]["name"],
            submission_id=submission_id,
            attempt=attempt,
            ending=ending,
            cause=cause,
            detail=detail,
            deadline_seconds=float(deadline) if deadline else None,
        )

    def _classify(self, job: dict[str, Any], condition: dict[str, Any]) -> JobEnding | None:
        if condition["type"] == "Complete":
            return self._ending(job, Ending.SUCCEEDED, "", "")
        reason = condition.get("reason") or ""
        pods = self._pods_of(job["metadata"]["name"])
        if any(waiting_reason(pod) in IMAGE_PULL_REASONS for pod in pods):
            return self._ending(job, Ending.ERROR, "image-pull-failed", pull_detail(pods))
        if reason == "DeadlineExceeded":
            return self._ending(job, Ending.TIMEOUT, "deadline-exceeded", "")
        if any((pod.get("status") or {}).get("reason") == "Evicted" for pod in pods):
            return self._ending(job, Ending.ERROR, "pod-evicted", "")
        if any(terminated_reason(pod) == "OOMKilled" for pod in pods):
            return self._ending(job, Ending.ERROR, "oom-killed", "")
        exit_codes = sorted({code for pod in pods if (code := exit_code(pod)) is not None})
        detail = f"exit code {exit_codes[-1]}" if exit_codes else ""
        return self._ending(job, Ending.ERROR, tag_for_reason(reason), detail)

    def _pods_of(self, job_name: str) -> list[dict[str, Any]]:
        try:
            response = self.core.list_namespaced_pod(
                self.namespace,
                label_selector=f"job-name={job_name}",
                _preload_content=False,
                _request_timeout=self.request_timeout,
            )
            pods = json.loads(response.data).get("items") or []
            response.release_conn()
            return pods
        except (ApiException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            log.warning("could not read the pods of Job %s: %s", job_name, exc)
            return []

    # ---- Jobs that never start (found by stuck_pods.StuckPodSweep) -------------------------------------------

    def unfinished_jobs(self) -> list[dict[str, Any]] | None:
        """The unfinished Jobs as last seen, or None while the watch has not synced."""
        if not self.synced.is_set():
            return None
        with self._lock:
            return list(self._unfinished.values())

    def report_stuck(self, job: dict[str, Any], cause: str, detail: str) -> bool:
        """Hand over a Job that never started as an ``error`` with ``cause``, once; False when its ending was
        already handled (the caller then leaves the Job alone)."""
        name = job["metadata"]["name"]
        with self._lock:
            if name in self._ended:
                return False
            self._ended.add(name)
            self._unfinished.pop(name, None)
        self._hand_over(self._ending(job, Ending.ERROR, cause, detail))
        return True
