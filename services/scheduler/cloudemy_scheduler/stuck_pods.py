"""Runner Jobs that never start: one periodic list of the runner pods checks every unfinished Job for the three
ways Kubernetes leaves a Job Pending without ever failing it.

======================  ==========================================================  =============================
cause (fail tag)        seen as                                                     bound
======================  ==========================================================  =============================
``pod-unschedulable``   a pod with condition PodScheduled=False, reason             POD_UNSCHEDULABLE_TIMEOUT_SECONDS
                        Unschedulable (no node fits; the autoscaler had its chance)  (120 s), from that condition
``pod-not-created``     the Job exists but has no pod at all (the Job controller's   POD_CREATE_TIMEOUT_SECONDS
                        FailedCreate: a ResourceQuota, an admission webhook, Pod     (60 s), from the Job's creation
                        Security, a missing service account)
``image-pull-failed``   a container waiting in ErrImagePull / ImagePullBackOff /     IMAGE_PULL_TIMEOUT_SECONDS
                        InvalidImageName / ErrImageNeverPull                         (60 s), from the pod's scheduling
======================  ==========================================================  =============================

Every bound is measured from a timestamp the API server keeps (not from when this replica first looked), so two
scheduler replicas, or one that restarted, reach the same verdict at the same time. A Job found stuck is handed to
the watcher once (``JobWatcher.report_stuck``: an ``error`` result with that fail tag), counted in
``cloudemy_scheduler_stuck_jobs_total{cause}``, and deleted, so its active-Job slot is freed long before its
``activeDeadlineSeconds``.

FailedCreate is recognised by "no pod after the bound" rather than by the Job's Events: it needs no access to
Events (the scheduler's Role stays jobs and pods only), and it covers every reason a pod cannot be created alike.

The same list records when each Job's runner container started (``runner_started_at``): Kubernetes deletes a
Job's running pod at DeadlineExceeded, so the start seen earlier is what tells (``late_start``) a runner that had
its whole grading time from one the cluster started too late for it. Only the first is the student's ``timeout``;
the second is an ``error`` with fail tag ``started-late``.
"""

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from cloudemy_scheduler.job_template import GRADING_ANNOTATION
from cloudemy_scheduler.k8s_json import json_body
from cloudemy_scheduler.metrics import STUCK_JOBS

log = logging.getLogger(__name__)

IMAGE_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"})
JOB_NAME_LABEL = "job-name"
LIVE_PODS = "status.phase!=Succeeded,status.phase!=Failed"
LIST_ERRORS = (ApiException, urllib3.exceptions.HTTPError, OSError, ValueError)


def parse_time(value: str | None) -> float | None:
    """An API timestamp (RFC 3339, ``Z`` or an offset) as Unix time; None when missing or malformed."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class PendingBounds:
    """How long a runner Job may stay in each never-starting state before it is reported (seconds)."""

    unschedulable: float = 120.0
    not_created: float = 60.0
    image_pull: float = 60.0

    @property
    def sweep_interval(self) -> float:
        """A quarter of the shortest bound, between 0.25 s and 15 s: a stuck Job is reported within ~1.25x its
        bound."""
        return max(0.25, min(15.0, min(self.unschedulable, self.not_created, self.image_pull) / 4))


@dataclass(frozen=True)
class Stuck:
    cause: str  # the fail tag
    detail: str  # one human sentence for the feedback and the log


class StuckJobSink(Protocol):
    """What the sweep needs from the Job watcher."""

    def unfinished_jobs(self) -> list[dict[str, Any]] | None:
        """The unfinished runner Jobs as last seen, or None while the watch has not synced."""

    def report_stuck(self, job: dict[str, Any], cause: str, detail: str) -> bool:
        """Hand the Job over as ended (an ``error`` with ``cause``); False when its ending was already handled."""


# ---- reading pods -------------------------------------------------------------------------------------------


def container_states(pod: dict[str, Any]) -> list[dict[str, Any]]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return [status.get("state") or {} for status in statuses]


def waiting_reason(pod: dict[str, Any]) -> str | None:
    for state in container_states(pod):
        if "waiting" in state:
            return (state["waiting"] or {}).get("reason")
    return None


def terminated_reason(pod: dict[str, Any]) -> str | None:
    for state in container_states(pod):
        if "terminated" in state:
            return (state["terminated"] or {}).get("reason")
    return None


def exit_code(pod: dict[str, Any]) -> int | None:
    for state in container_states(pod):
        if "terminated" in state:
            return (state["terminated"] or {}).get("exitCode")
    return None


def pull_detail(pods: Iterable[dict[str, Any]]) -> str:
    reasons = sorted({reason for pod in pods if (reason := waiting_reason(pod)) in IMAGE_PULL_REASONS})
    return ", ".join(reasons)


def pod_condition(pod: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition
    return None


def container_started_at(pod: dict[str, Any]) -> float | None:
    """When the pod's container started (running, or started and since terminated); None if it never did."""
    for state in container_states(pod):
        for phase in ("running", "terminated"):
            started = parse_time((state.get(phase) or {}).get("startedAt"))
            if started is not None:
                return started
    return None


def runner_started_at(pods: Iterable[dict[str, Any]]) -> float | None:
    """When the Job's latest runner container started (a replaced pod's runner starts its budget again)."""
    return max((started for pod in pods if (started := container_started_at(pod)) is not None), default=None)


CLOCK_SLACK_SECONDS = 1.0
"""API timestamps have whole seconds; the nodes' clocks differ a little."""


def job_grading_seconds(job: dict[str, Any]) -> float | None:
    """The runner's grading time stamped on the Job (its annotation), if any."""
    try:
        return float((job["metadata"].get("annotations") or {})[GRADING_ANNOTATION])
    except (KeyError, TypeError, ValueError):
        return None


def late_start(job: dict[str, Any], started_at: float | None, *, pod_seen: bool = True) -> str | None:
    """Why a Job that hit its deadline gave its runner less than the whole grading time (a sentence), or None
    when the runner had it all, or when nothing says enough to tell (no grading time on the Job; or no pod of it
    was ever seen, as after a restart once Kubernetes deleted the pod): then the deadline is the runner's."""
    spec, status = job.get("spec") or {}, job.get("status") or {}
    begun = parse_time(status.get("startTime")) or parse_time(job["metadata"].get("creationTimestamp"))
    deadline, grading = spec.get("activeDeadlineSeconds"), job_grading_seconds(job)
    if not deadline or begun is None or grading is None:
        return None
    if started_at is None:
        return "the runner never started" if pod_seen else None
    left = begun + float(deadline) - started_at
    if left + CLOCK_SLACK_SECONDS >= grading:
        return None
    return f"the runner started {started_at - begun:.0f} s after the job, leaving {max(left, 0):.0f} s of {grading:g} s"


def _unschedulable_since(pod: dict[str, Any]) -> tuple[float, str] | None:
    condition = pod_condition(pod, "PodScheduled")
    if not condition or condition.get("status") != "False" or condition.get("reason") != "Unschedulable":
        return None
    since = parse_time(condition.get("lastTransitionTime")) or parse_time(pod["metadata"].get("creationTimestamp"))
    return (since, str(condition.get("message") or "")) if since is not None else None


def _pulling_since(pod: dict[str, Any]) -> float | None:
    if waiting_reason(pod) not in IMAGE_PULL_REASONS:
        return None
    scheduled = pod_condition(pod, "PodScheduled")
    if scheduled and scheduled.get("status") == "True":
        return parse_time(scheduled.get("lastTransitionTime")) or parse_time(pod["metadata"].get("creationTimestamp"))
    return parse_time(pod["metadata"].get("creationTimestamp"))


def ever_had_a_pod(job: dict[str, Any]) -> bool:
    """The Job controller counted a pod of this Job (active, ready, succeeded, failed or terminating)."""
    status = job.get("status") or {}
    return any(status.get(key) for key in ("active", "ready", "succeeded", "failed", "terminating"))


def stuck_cause(job: dict[str, Any], pods: list[dict[str, Any]], bounds: PendingBounds, now: float) -> Stuck | None:
    """Why this unfinished Job will never start on its own, if it is past one of the bounds. ``pods`` are its live
    (not Succeeded or Failed) pods."""
    if not pods:
        if ever_had_a_pod(job):
            return None  # its pod ended (the Job is about to say how) or is being replaced
        created = parse_time(job["metadata"].get("creationTimestamp"))
        if created is not None and now - created > bounds.not_created:
            return Stuck("pod-not-created", f"no pod was created in {bounds.not_created:g} s")
        return None
    if any((pod.get("status") or {}).get("phase") == "Running" for pod in pods):
        return None  # a runner is running: its budget and the Job's deadline take it from here
    for pod in pods:
        if (pod.get("status") or {}).get("phase", "Pending") != "Pending":
            continue  # an evicted or failed pod: the Job controller replaces it or fails the Job
        unschedulable = _unschedulable_since(pod)
        if unschedulable is not None and now - unschedulable[0] > bounds.unschedulable:
            why = f": {unschedulable[1]}" if unschedulable[1] else ""
            return Stuck("pod-unschedulable", f"no node could run it for {bounds.unschedulable:g} s{why}"[:300])
        pulling = _pulling_since(pod)
        if pulling is not None and now - pulling > bounds.image_pull:
            return Stuck("image-pull-failed", pull_detail([pod]))
    return None


# ---- the sweep ----------------------------------------------------------------------------------------------


class StuckPodSweep:
    """The periodic check, in its own thread: list runner pods once, compare every unfinished Job with the bounds,
    report and delete the stuck ones."""

    def __init__(
        self,
        batch: client.BatchV1Api,
        core: client.CoreV1Api,
        namespace: str,
        selector: str,
        jobs: StuckJobSink,
        *,
        bounds: PendingBounds,
        request_timeout: float = 10,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.batch = batch
        self.core = core
        self.namespace = namespace
        self.selector = selector
        self.jobs = jobs
        self.bounds = bounds
        self.request_timeout = request_timeout
        self.clock = clock
        self.sweeps = 0
        self._started: dict[str, float | None] = {}  # Job name -> its runner's latest start; None: pod seen, no start
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="stuck-pod-sweep", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def runner_seen(self, job_name: str) -> tuple[bool, float | None]:
        """Whether a sweep saw a pod of this Job, and when its runner container was last seen to start."""
        with self._lock:
            return job_name in self._started, self._started.get(job_name)

    def _run(self) -> None:
        while not self._stop.wait(self.bounds.sweep_interval):
            try:
                self.sweep()
            except LIST_ERRORS as exc:
                log.warning("stuck-pod sweep: could not list runner pods: %s", exc)
            except Exception:
                log.exception("stuck-pod sweep failed")

    def sweep(self) -> None:
        """One pass: the Jobs first, then the pods, so a Job created between the two is not taken as pod-less."""
        jobs = self.jobs.unfinished_jobs()
        if jobs is None:
            return
        pods_by_job = self._pods_by_job()
        now = self.clock()
        known = {job["metadata"]["name"] for job in jobs}
        seen = {name: runner_started_at(pods_by_job[name]) for name in known if pods_by_job.get(name)}
        with self._lock:  # forget Jobs that ended; keep a start seen earlier whose pod has gone since
            kept = {name: at for name, at in self._started.items() if name in known}
            self._started = kept | {name: at for name, at in seen.items() if at is not None or name not in kept}
        for job in jobs:
            stuck = stuck_cause(job, pods_by_job.get(job["metadata"]["name"], []), self.bounds, now)
            if stuck is not None:
                self._end(job, stuck)
        self.sweeps += 1

    def _pods_by_job(self) -> dict[str, list[dict[str, Any]]]:
        """The live runner pods (not Succeeded or Failed: the pods of retained finished Jobs stay out of memory),
        by Job name."""
        response = self.core.list_namespaced_pod(
            self.namespace,
            label_selector=self.selector,
            field_selector=LIVE_PODS,
            _preload_content=False,
            _request_timeout=self.request_timeout,
        )
        pods = json_body(response).get("items") or []
        grouped: dict[str, list[dict[str, Any]]] = {}
        for pod in pods:
            name = (pod.get("metadata", {}).get("labels") or {}).get(JOB_NAME_LABEL)
            if name:
                grouped.setdefault(name, []).append(pod)
        return grouped

    def _end(self, job: dict[str, Any], stuck: Stuck) -> None:
        name = job["metadata"]["name"]
        if not self.jobs.report_stuck(job, stuck.cause, stuck.detail):
            return  # its ending was already handled (by the watch, or an earlier sweep)
        STUCK_JOBS.labels(cause=stuck.cause).inc()
        log.warning("Job %s never started (%s: %s): reported and deleted", name, stuck.cause, stuck.detail)
        try:
            self.batch.delete_namespaced_job(
                name, self.namespace, propagation_policy="Background", _request_timeout=self.request_timeout
            )
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
            if getattr(exc, "status", None) != 404:
                log.warning("could not delete Job %s: %s", name, exc)
