"""The Job watcher: list runner Jobs still to report, page by page, then watch from that resourceVersion.

The list asks for ``K8S_LIST_PAGE_SIZE`` Jobs per request and follows ``continue`` at the first page's
resourceVersion (an expired continue token, 410, restarts the list from the beginning); each page is read, its
Jobs reduced to the few fields the watcher uses (``slim_job``), and dropped, so memory follows the Jobs still to
report, not the Jobs the cluster retains. The watch is the client library's own ``kubernetes.watch.Watch`` with
``return_type="object"``: events arrive as plain dicts (no model round trip per event) and an ``ERROR`` event
becomes an ``ApiException`` with its code. ``deserialize=False`` would skip the same round trip, but in kubernetes
37.0.2 it breaks on ``ERROR`` events (``KeyError: 'raw_object'``), so a 410 Gone could not be told from any other
failure.

Both select ``cloudemy.io/reported!=true``: once an ending is handled (the backend accepted the report or the
attempt was stale, or the Job completed and its slot was freed), ``ReportedLabeller`` patches that label onto the
Job, so a re-list, or a restarted scheduler, no longer sees it. The watch then sees the Job leave its selector as
DELETED, which with the label on it is not a vanished Job. A failed patch is retried with backoff while the Job is
still in view; if the scheduler stops first, the next one hands the ending over again, which the backend answers
as an identical repeat (results are deterministic), and labels it then.

Every Job that ends is handed to ``on_finished`` once: Complete as ``succeeded`` (the runner posted its own
result), DeadlineExceeded as ``timeout`` when the runner had its whole grading time before it (else ``error``,
``started-late``: the cluster started it too late), anything else as ``error`` with a fail tag naming the cause
(found on the Job's condition and its pods: BackoffLimitExceeded, pod evicted, OOMKilled, image pull failing). Jobs that
never start (Unschedulable, no pod created, image pull failing) are found by ``stuck_pods.StuckPodSweep`` and
handed over through ``report_stuck``. The set of unfinished Jobs it keeps is what the active-Job slots are
reconciled against, and only while
``synced`` is set: it is cleared when a watch or a list fails (and while a re-list runs), and set again when a
list completes.
"""

import contextlib
import heapq
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

import urllib3
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from cloudemy_common.jobs import ATTEMPT_LABEL, REPORTED, REPORTED_LABEL, SUBMISSION_ID_LABEL, is_reported, unreported
from cloudemy_common.retry import Stopped, retry_until_stopped
from cloudemy_scheduler.executors.base import Handled, JobView, OnFinished
from cloudemy_scheduler.job_endings import Ending, JobEnding, tag_for_reason
from cloudemy_scheduler.k8s_json import json_body
from cloudemy_scheduler.metrics import FAILURES, LABELS_PENDING, WATCH_SYNCED
from cloudemy_scheduler.stuck_pods import (
    IMAGE_PULL_REASONS,
    exit_code,
    job_grading_seconds,
    late_start,
    pull_detail,
    runner_started_at,
    terminated_reason,
    waiting_reason,
)

log = logging.getLogger(__name__)

WATCH_ERRORS = (ApiException, urllib3.exceptions.HTTPError, OSError, ValueError)
"""Failures of a list or watch request that another try may fix (the API down, overloaded, or not ready)."""
LIST_BACKOFF = (0.2, 10.0)  # seconds: the first wait after a failed list, and the longest
LABEL_BACKOFF = (0.5, 60.0)  # seconds: the first wait after a failed label patch, and the longest
HTTP_NOT_FOUND = 404
HTTP_GONE = 410
MERGE_PATCH = "application/merge-patch+json"
KEPT_METADATA = ("name", "namespace", "uid", "labels", "annotations", "creationTimestamp", "resourceVersion")
KEPT_SPEC = ("activeDeadlineSeconds", "backoffLimit")
DELETED_DETAIL = "the grading job was deleted before it ended"


class WatchGone(Exception):
    """The API no longer has history from our resourceVersion (410 Gone): list again."""


def finished_condition(job: dict[str, Any]) -> dict[str, Any] | None:
    """The Job's Complete or Failed condition with status True, if it has one."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return condition
    return None


def read_job(batch: client.BatchV1Api, namespace: str, name: str, request_timeout: float) -> dict[str, Any] | None:
    """The Job as a plain dict (no model round trip), or None when it does not exist (404); other failures raise."""
    try:
        response = batch.read_namespaced_job(name, namespace, _preload_content=False, _request_timeout=request_timeout)
    except ApiException as exc:
        if exc.status == HTTP_NOT_FOUND:
            return None
        raise
    return json_body(response)


def slim_job(job: dict[str, Any]) -> dict[str, Any]:
    """The Job reduced to what the watcher reads (name, labels, creation time, deadline, status), in the Job's
    own shape: the pod template, often most of a Job's size, is not kept."""
    meta, spec = job.get("metadata") or {}, job.get("spec") or {}
    return {
        "metadata": {key: meta[key] for key in KEPT_METADATA if key in meta},
        "spec": {key: spec[key] for key in KEPT_SPEC if key in spec},
        "status": job.get("status") or {},
    }


class ReportedLabeller:
    """Patches ``cloudemy.io/reported=true`` onto Jobs whose ending is handled, from a thread of its own, so a slow
    API never holds up the watch. A failed patch is tried again with backoff (0.5 s doubling to 60 s) for as long
    as ``wanted(name)`` says the Job is still in view; a Job deleted meanwhile (404) needs no label."""

    def __init__(self, batch: client.BatchV1Api, namespace: str, request_timeout: float) -> None:
        self.batch = batch
        self.namespace = namespace
        self.request_timeout = request_timeout
        self.wanted: Callable[[str], bool] = lambda name: True
        self.labelled = 0
        self.failures = 0
        self._due: list[tuple[float, int, str, float]] = []  # (when, order, name, next backoff): a heap
        self._order = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()

    def submit(self, name: str, delay: float = 0.0, backoff: float = LABEL_BACKOFF[0]) -> None:
        with self._cond:
            self._order += 1
            heapq.heappush(self._due, (time.monotonic() + delay, self._order, name, backoff))
            LABELS_PENDING.set(len(self._due))
            self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return len(self._due)

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def run(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                while not self._stop.is_set() and (not self._due or self._due[0][0] > time.monotonic()):
                    self._cond.wait(timeout=(self._due[0][0] - time.monotonic()) if self._due else None)
                if self._stop.is_set():
                    return
                _, _, name, backoff = heapq.heappop(self._due)
                LABELS_PENDING.set(len(self._due))
            if self.wanted(name):
                self._label(name, backoff)

    def _label(self, name: str, backoff: float) -> None:
        body = {"metadata": {"labels": {REPORTED_LABEL: REPORTED}}}
        try:
            response = self.batch.patch_namespaced_job(
                name, self.namespace, body, _content_type=MERGE_PATCH, _preload_content=False,
                _request_timeout=self.request_timeout,
            )  # fmt: skip
            response.release_conn()
            self.labelled += 1
        except ApiException as exc:
            if exc.status == HTTP_NOT_FOUND:
                return  # deleted meanwhile: nothing to label
            self._retry_later(name, backoff, f"{exc.status} {exc.reason}")
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            self._retry_later(name, backoff, type(exc).__name__)

    def _retry_later(self, name: str, backoff: float, why: str) -> None:
        self.failures += 1
        FAILURES.labels(reason="label-error").inc()
        log.warning("could not label Job %s reported (%s); trying again in %.1f s", name, why, backoff)
        self.submit(name, delay=backoff, backoff=min(LABEL_BACKOFF[1], backoff * 2))


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
        page_size: int = 500,
        labeller: ReportedLabeller | None = None,
    ) -> None:
        self.batch = batch
        self.core = core
        self.namespace = namespace
        self.selector = unreported(selector)  # the list and the watch: runner Jobs whose ending is still to handle
        self.watch_timeout = watch_timeout
        self.request_timeout = request_timeout
        self.page_size = page_size
        self.on_finished: OnFinished = lambda ended: None
        self.runner_seen: Callable[[str], tuple[bool, float | None]] = lambda name: (False, None)  # the pod sweep's
        self.synced = threading.Event()
        self.relists = 0  # lists after the first (410 Gone, a failed watch)
        self.list_restarts = 0  # lists begun again from the first page (an expired continue token)
        self.generation = 0  # completed lists: a view is only as new as the list it came from
        self.labeller = labeller or ReportedLabeller(batch, namespace, request_timeout)
        self.labeller.wanted = self._still_to_label
        self._unfinished: dict[str, dict[str, Any]] = {}  # name -> the Job as last seen (slim_job)
        self._ended: set[str] = set()  # names handed to on_finished and still in view
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_error = ""
        self._state_since = time.time()  # when synced was last set or cleared
        self._fresh_at = 0.0  # monotonic: the view holds every Job created before this (minus the watch's lag);
        # the first list's start, then each watch event (bookmarks included) and each watch request the server ended
        self._watch = watch.Watch(return_type="object")

    # ---- lifecycle -----------------------------------------------------------------------------------------

    def start(self, on_finished: OnFinished) -> None:
        self.on_finished = on_finished
        for target, name in ((self._run, "job-watch"), (self.labeller.run, "job-labeller")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5) -> None:
        """Stop every thread and wait for them (a thread still logging while the interpreter exits aborts it)."""
        self._stop.set()
        self.labeller.stop()
        self._watch.stop()  # ends a watch request blocked on the socket at once
        for thread in self._threads:
            thread.join(timeout)

    def unfinished_job_names(self) -> set[str] | None:
        view = self.unfinished_view()
        return None if view is None else set(view.names)

    def unfinished_view(self) -> JobView | None:
        """The unfinished Jobs and how fresh they are, or None while not synced: never a stale set."""
        with self._lock:
            if not self.synced.is_set():
                return None
            staleness = max(0.0, time.monotonic() - self._fresh_at)
            return JobView(frozenset(self._unfinished), self.generation, staleness)

    def healthy(self) -> tuple[bool, str]:
        since = datetime.fromtimestamp(self._state_since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.synced.is_set():
            return True, f"watching runner Jobs (synced since {since})"
        return False, f"Job watch not synced since {since}: {self._last_error or 'starting'}"

    def _set_synced(self) -> None:
        with self._lock:
            self.generation += 1
            self.synced.set()
            self._state_since = time.time()
        WATCH_SYNCED.set(1)
        self._last_error = ""

    def _clear_synced(self, why: str) -> None:
        self._last_error = why
        if self.synced.is_set():
            with self._lock:
                self.synced.clear()
                self._state_since = time.time()
        WATCH_SYNCED.set(0)

    # ---- list, then watch ----------------------------------------------------------------------------------

    def _run(self) -> None:
        """List (retried with backoff while the API fails), then watch from the list's resourceVersion until the
        watch fails or the API has compacted that history (410 Gone); then list again."""
        with contextlib.suppress(Stopped):
            while not self._stop.is_set():
                try:
                    resource_version = retry_until_stopped(self._relist, retry_on=WATCH_ERRORS, stop=self._stop,
                                                           on_retry=self._failed, initial=LIST_BACKOFF[0],
                                                           maximum=LIST_BACKOFF[1])  # fmt: skip
                    while not self._stop.is_set():
                        resource_version = self._watch_once(resource_version)
                except WatchGone:
                    self.relists += 1
                    self._clear_synced("the watch expired (410 Gone): listing again")
                    log.info("Job watch expired (410 Gone): listing again")
                except WATCH_ERRORS as exc:
                    self.relists += 1
                    self._failed(exc, LIST_BACKOFF[0])
                    self._stop.wait(LIST_BACKOFF[0])
                except Exception as exc:  # a bug or an answer nobody foresaw: never a dead thread with synced set
                    self.relists += 1
                    self._clear_synced(f"{type(exc).__name__}: {exc}")
                    log.exception("Job watch failed unexpectedly; listing again in %.0f s", LIST_BACKOFF[1])
                    self._stop.wait(LIST_BACKOFF[1])

    def _failed(self, exc: BaseException, wait_seconds: float) -> None:
        if self._stop.is_set():
            return  # stop() ended the request: not a failure
        why = f"{type(exc).__name__}: {getattr(exc, 'status', '') or exc}"
        self._clear_synced(why)
        FAILURES.labels(reason="watch-error").inc()
        log.warning("Job watch failed (%s); retrying in %.1f s", why, wait_seconds)

    def _list_page(self, token: str | None) -> dict[str, Any]:
        response = self.batch.list_namespaced_job(
            self.namespace,
            label_selector=self.selector,
            limit=self.page_size,
            _continue=token,
            _preload_content=False,
            _request_timeout=self.request_timeout,
        )
        return json_body(response)

    def _relist(self) -> str:
        """List every Job still to report, page by page; returns the list's resourceVersion for the watch.

        Unfinished Jobs are collected (slim) and replace the previous set at the end; finished ones are handed
        over as their page arrives (once: ``_ended`` remembers them). A 410 on a continue token means the API
        compacted the list's snapshot: the list starts again from the first page."""
        started = time.monotonic()
        listed: dict[str, dict[str, Any]] = {}
        seen: set[str] = set()
        token: str | None = None
        resource_version = ""
        while True:
            try:
                page = self._list_page(token)
            except ApiException as exc:
                if exc.status != HTTP_GONE or token is None:
                    raise
                self.list_restarts += 1
                log.info("the Job list's continue token expired (410): listing again from the first page")
                started, token, resource_version = time.monotonic(), None, ""
                listed.clear()
                seen.clear()
                continue
            resource_version = resource_version or str(page["metadata"]["resourceVersion"])
            for job in page.get("items") or []:
                name = job["metadata"]["name"]
                seen.add(name)
                if finished_condition(job) is None:
                    listed[name] = slim_job(job)
                else:
                    self._observe(job)
            token = (page.get("metadata") or {}).get("continue") or None
            del page
            if token is None:
                break
        with self._lock:
            vanished = {name: job for name, job in self._unfinished.items() if name not in seen}
        for name, job in vanished.items():  # a failed read raises here: the list is tried again, nothing lost
            if (still := self._vanished(name, job)) is not None:
                listed[name] = still
        with self._lock:
            self._unfinished = listed
            self._ended &= seen
        self._fresh_at = started
        self._set_synced()
        return resource_version

    def _vanished(self, name: str, job: dict[str, Any]) -> dict[str, Any] | None:
        """An unfinished Job the list no longer holds: deleted, or ended and labelled reported by another replica
        while our watch was down. One read tells them apart; returns the Job if it is in fact still unfinished."""
        current = read_job(self.batch, self.namespace, name, self.request_timeout)
        if current is None:
            self._hand_over(self._ending(job, Ending.ERROR, "job-deleted", DELETED_DETAIL))
            return None
        if is_reported(current["metadata"].get("labels")):
            return None
        if finished_condition(current) is None:
            return slim_job(current)  # changed between the list and the read
        self._observe(current)
        return None

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
                    self._observe_deleted(obj)
                self._fresh_at = time.monotonic()  # the stream delivers in order: current up to its lag
        except ApiException as exc:
            if exc.status == HTTP_GONE:
                raise WatchGone(str(exc.reason)) from exc
            raise
        finally:
            events.close()
        if not self._stop.is_set():
            self._fresh_at = time.monotonic()  # the server ended the request after sending everything
        return resource_version

    # ---- what a Job's state means --------------------------------------------------------------------------

    def _observe(self, job: dict[str, Any]) -> None:
        name = job["metadata"]["name"]
        if is_reported(job["metadata"].get("labels")):
            return  # handled already (a list or watch without our selector's help)
        condition = finished_condition(job)
        with self._lock:
            if condition is None:
                self._unfinished[name] = slim_job(job)
                return
            self._unfinished.pop(name, None)
            if name in self._ended:
                return
            self._ended.add(name)
        self._hand_over(self._classify(job, condition))

    def _observe_deleted(self, job: dict[str, Any]) -> None:
        """A DELETED event: the Job was deleted, or (labelled reported) it left the watch's selector."""
        name = job["metadata"]["name"]
        with self._lock:
            known = self._unfinished.pop(name, None)
            already = name in self._ended
            self._ended.discard(name)
        if known is not None and not already and not is_reported(job["metadata"].get("labels")):
            self._hand_over(self._ending(known, Ending.ERROR, "job-deleted", DELETED_DETAIL))

    def _still_to_label(self, name: str) -> bool:
        with self._lock:
            return name in self._ended

    def _hand_over(self, ended: JobEnding | None) -> None:
        if ended is None:
            return
        try:
            handled: Handled = self.on_finished(ended)
        except Exception:
            log.exception("handling the end of Job %s failed", ended.job_name)
            handled = False
        if isinstance(handled, Future):
            handled.add_done_callback(lambda future: self._settle(ended.job_name, _succeeded(future)))
        else:
            self._settle(ended.job_name, handled is not False)

    def _settle(self, name: str, handled: bool) -> None:
        """Label a handled ending; forget one that was not, so the next list or event hands it over again."""
        if handled:
            self.labeller.submit(name)
            return
        with self._lock:
            self._ended.discard(name)

    def _ending(self, job: dict[str, Any], ending: Ending, cause: str, detail: str) -> JobEnding | None:
        labels = job["metadata"].get("labels") or {}
        submission_id = labels.get(SUBMISSION_ID_LABEL)
        if not submission_id:
            return None
        try:
            attempt = int(labels.get(ATTEMPT_LABEL) or 1)
        except ValueError:
            attempt = 1
        # The time limit a student hears of is the grading time, not the startup allowance on top of it.
        deadline = job_grading_seconds(job) or (job.get("spec") or {}).get("activeDeadlineSeconds")
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
            # The student's timeout only when the runner had its whole grading time; else the cluster's delay.
            seen, started = self.runner_seen(job["metadata"]["name"])
            late = late_start(job, runner_started_at(pods) or started, pod_seen=seen or bool(pods))
            if late is not None:
                return self._ending(job, Ending.ERROR, "started-late", late)
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
            return json_body(response).get("items") or []
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


def _succeeded(future: Future[bool]) -> bool:
    return not future.cancelled() and future.exception() is None and future.result() is not False
