"""A fake Kubernetes API server over real HTTP on 127.0.0.1, for batch/v1 Jobs and core/v1 pods.

The real ``kubernetes`` client (and helm) talks to it through a kubeconfig (``write_kubeconfig``). It implements
what the scheduler uses: Jobs create / get / list with a label selector (``=``, ``!=``, ``key``, ``!key``) and
pages (``limit`` / ``continue``) / merge-patch of metadata / delete / watch (with resourceVersion, an injectable 410
Gone, and DELETED / ADDED when a patch moves a Job out of or into a watch's selector, like the API server's watch
cache), pods list / get; and what ``helm install --dry-run`` needs: API discovery for every kind
the chart renders, and GETs of the Secrets in ``secrets``. Every call is recorded, so tests can assert what a
real cluster would have seen (how many creates, how many unfinished Jobs existed at each create), and
``rbac_request`` names the RBAC right each call needs. Tests play the kubelet with ``mark_complete`` /
``mark_failed`` / ``set_pod_state`` and the ``on_create`` hooks.

The Job controller's part is played too, as the real one does it: the Job's pod is created with the Job (unless
``refuse_pod_creation`` plays FailedCreate: a quota or an admission webhook), the Job fails with DeadlineExceeded
``activeDeadlineSeconds`` after its creation (its running pods deleted, the ``on_deadline`` hooks told), and a pod
that ends (``pod_exited``, ``evict_pod``) is judged by the Job's ``podFailurePolicy``: Ignore (a DisruptionTarget
eviction) creates a new pod without counting a failure, FailJob ends the Job (reason PodFailurePolicy), anything
else counts against ``backoffLimit``. ``set_pod_scheduled`` plays the scheduler (PodScheduled, Unschedulable).

Fault injection: ``fail_next`` (answer N matching requests with a status: 403 quota, 410 for a continue token,
500, ...), ``delay_seconds`` (sleep before answering, to make clients time out), ``list_page_delay_seconds`` (a slow
list: each page of a Job list waits), ``expire_watches`` (compaction: open watches end with 410 Gone, and continue
tokens issued before it are refused with 410 Expired), ``stop`` / ``start`` (the server is down: connections are
refused).

Big clusters: ``seed_jobs`` adds thousands of retained Jobs at once (they share their spec; no events, no pods).
Each object is serialised once per change, a Job list answers one page at a time from a name-sorted index, and the
event history keeps the last ``history_limit`` events (older resourceVersions are compacted: 410 Gone).

Run standalone (used by bench/scheduler_dispatch.py and the memory tests): ``python -m fakes.k8s_api --port N``,
``--retained N --retained-job job.json [--retained-label key=value]`` to start with N finished Jobs.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import bisect
import contextlib
import copy
import heapq
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from cloudemy_common.jobs import SUBMISSION_ID_LABEL, job_name
from fakes.ports import free_port

JOBS_PATH = re.compile(r"^/apis/batch/v1/namespaces/(?P<ns>[^/]+)/jobs(?:/(?P<name>[^/]+))?(?P<status>/status)?$")
PODS_PATH = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods(?:/(?P<name>[^/]+))?$")
SECRET_PATH = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/secrets/(?P<name>[^/]+)$")
DISCOVERY: dict[str, list[tuple[str, str, bool]]] = {
    # Every kind the chart renders, by group/version (resource, kind, namespaced): helm 4 maps each rendered
    # object before it prints anything.
    "v1": [
        ("secrets", "Secret", True),
        ("configmaps", "ConfigMap", True),
        ("services", "Service", True),
        ("serviceaccounts", "ServiceAccount", True),
        ("pods", "Pod", True),
        ("namespaces", "Namespace", False),
    ],
    "apps/v1": [("deployments", "Deployment", True), ("statefulsets", "StatefulSet", True)],
    "batch/v1": [("jobs", "Job", True), ("cronjobs", "CronJob", True)],
    "autoscaling/v2": [("horizontalpodautoscalers", "HorizontalPodAutoscaler", True)],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)],
    "rbac.authorization.k8s.io/v1": [("roles", "Role", True), ("rolebindings", "RoleBinding", True)],
    "networking.k8s.io/v1": [("ingresses", "Ingress", True), ("networkpolicies", "NetworkPolicy", True)],
}


_FIRST_RV = 1000
HISTORY_LIMIT = 20_000  # events kept for watches; older resourceVersions answer 410 Gone
MERGE_PATCH_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json")
STATUS_REASONS = {403: "Forbidden", 404: "NotFound", 409: "Conflict", 410: "Expired", 429: "TooManyRequests"}


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Call:
    """One request the server answered."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    name: str | None = None
    at: float = field(default_factory=time.monotonic)
    active_jobs: int | None = None  # unfinished Jobs right after a successful create
    token: str | None = None  # the client's bearer token (write_kubeconfig's ``token``): who made the call


def rbac_request(call: Call) -> tuple[str, str, str]:
    """The RBAC (apiGroup, resource, verb) a recorded call needs, as the API server's authorizer sees it."""
    jobs, pods = JOBS_PATH.match(call.path), PODS_PATH.match(call.path)
    match = jobs or pods
    if match is None:
        raise ValueError(f"not a path this fake serves: {call.method} {call.path}")
    group, resource = ("batch", "jobs") if jobs else ("", "pods")
    if jobs and jobs["status"]:
        resource += "/status"
    named = bool(match["name"])
    if call.method == "GET":
        verb = "get" if named else ("watch" if call.query.get("watch") in ("true", "1", "True") else "list")
    else:
        verb = {"POST": "create", "DELETE": "delete", "PUT": "update", "PATCH": "patch"}[call.method]
    return group, resource, verb


@dataclass
class _Fault:
    status: int
    remaining: int
    method: str | None
    path_contains: str | None
    query: str | None = None  # only requests with this query parameter (e.g. "continue": a later list page)
    after: int = 0  # let this many matching requests through first


@dataclass
class _Event:
    """One change in the history watches replay: the object serialised once, its labels before and after."""

    rv: int
    kind: str
    type: str
    namespace: str
    labels: dict[str, str]
    previous_labels: dict[str, str] | None  # MODIFIED only: the labels before the change
    data: bytes


def parse_selector(selector: str) -> list[tuple[str, str, str | None]]:
    """Equality-based label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a`` (exists), ``!a`` (absent)."""
    terms: list[tuple[str, str, str | None]] = []
    for raw in filter(None, (part.strip() for part in selector.split(","))):
        if "!=" in raw:
            key, value = raw.split("!=", 1)
            terms.append(("ne", key.strip(), value.strip()))
        elif "==" in raw or "=" in raw:
            key, value = raw.replace("==", "=").split("=", 1)
            terms.append(("eq", key.strip(), value.strip()))
        elif raw.startswith("!"):
            terms.append(("absent", raw[1:].strip(), None))
        else:
            terms.append(("exists", raw, None))
    return terms


def matches(labels: dict[str, str], selector: str | None) -> bool:
    for op, key, value in parse_selector(selector or ""):
        if (
            (op == "eq" and labels.get(key) != value)
            or (op == "ne" and labels.get(key) == value)
            or (op == "exists" and key not in labels)
            or (op == "absent" and key in labels)
        ):
            return False
    return True


def job_finished(job: dict[str, Any]) -> bool:
    conditions = job.get("status", {}).get("conditions") or []
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions)


def _started_at(pod: dict[str, Any]) -> str | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        for phase in ("running", "terminated"):
            started = ((status.get("state") or {}).get(phase) or {}).get("startedAt")
            if started:
                return started
    return None


def _exit_code_of(pod: dict[str, Any]) -> int | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (status.get("state") or {}).get("terminated")
        if terminated:
            return terminated.get("exitCode")
    return None


def pod_fields_match(pod: dict[str, Any], selector: str | None) -> bool:
    """A pods list's ``fieldSelector`` on ``status.phase`` (``=``, ``==``, ``!=``, comma for "and"), as the API
    server applies it; other fields are refused like it refuses them (a ValueError here)."""
    for term in filter(None, (selector or "").split(",")):
        negate = "!=" in term
        key, value = re.split(r"!=|==|=", term, maxsplit=1)
        if key.strip() != "status.phase":
            raise ValueError(f"field selector {key!r} is not supported for pods by the fake API")
        if ((pod.get("status") or {}).get("phase", "Pending") == value.strip()) == negate:
            return False
    return True


def failure_policy_action(job: dict[str, Any], pod: dict[str, Any]) -> tuple[str, int]:
    """The action of the first podFailurePolicy rule that matches the failed pod (Ignore, FailJob, Count), and
    its index; ``("Count", -1)`` when none does, as in batch/v1."""
    rules = ((job.get("spec") or {}).get("podFailurePolicy") or {}).get("rules") or []
    conditions = {(c.get("type"), c.get("status")) for c in (pod.get("status") or {}).get("conditions") or []}
    exits = [(s.get("name"), ((s.get("state") or {}).get("terminated") or {}).get("exitCode"))
             for s in (pod.get("status") or {}).get("containerStatuses") or []]  # fmt: skip
    for index, rule in enumerate(rules):
        for wanted in rule.get("onPodConditions") or []:
            if (wanted.get("type"), wanted.get("status", "True")) in conditions:
                return rule["action"], index
        on_codes = rule.get("onExitCodes")
        if on_codes:
            for container, code in exits:
                if code in (None, 0) or on_codes.get("containerName") not in (None, container):
                    continue
                if (code in on_codes.get("values", [])) == (on_codes.get("operator", "In") == "In"):
                    return rule["action"], index
    return "Count", -1


def discovery(path: str) -> dict[str, Any] | None:
    """The API server's discovery document at ``path`` (``/version``, ``/api``, ``/apis``, ``/api/v1``,
    ``/apis/<group>/<version>``), or None."""
    if path == "/version":
        return {"major": "1", "minor": "31", "gitVersion": "v1.31.0", "platform": "linux/amd64"}
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
    if path == "/apis":
        groups = []
        for group_version in (gv for gv in DISCOVERY if "/" in gv):
            group, version = group_version.split("/")
            entry = {"groupVersion": group_version, "version": version}
            groups.append({"name": group, "versions": [entry], "preferredVersion": entry})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
    group_version = "v1" if path == "/api/v1" else path.removeprefix("/apis/")
    if group_version not in DISCOVERY or (group_version != "v1" and not path.startswith("/apis/")):
        return None
    resources = [
        {"name": name, "singularName": "", "namespaced": namespaced, "kind": kind, "verbs": ["get", "list", "create"]}
        for name, kind, namespaced in DISCOVERY[group_version]
    ]
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}  # fmt: skip


class FakeKubernetesAPI:
    """The server and its state. Use as a context manager, or ``start()`` / ``close()``."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.jobs: dict[tuple[str, str], dict[str, Any]] = {}
        self._unfinished: set[tuple[str, str]] = set()
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}  # (namespace, name) -> Secret, for helm's lookup
        self.calls: list[Call] = []
        self.on_create: list[Callable[[dict[str, Any]], None]] = []
        self.on_deadline: list[Callable[[str, str], None]] = []  # (namespace, Job name): its deadline passed
        self.on_delete: list[Callable[[str, str], None]] = []  # (namespace, Job name): the Job was deleted
        self._refused_pods: set[str] | None = set()  # Job names whose pods the controller cannot create; None: all
        self._deadlines: list[tuple[float, str, str]] = []  # heap of (monotonic deadline, namespace, name)
        self._deadline_thread: threading.Thread | None = None
        self.delay_seconds = 0.0
        self.list_page_delay_seconds = 0.0  # a slow list: every page of a Job list waits this long
        self.history_limit = HISTORY_LIMIT
        self.record_calls = True
        self._faults: list[_Fault] = []
        self._events: list[_Event] = []  # in resourceVersion order (seeded Jobs leave gaps)
        self._names: dict[str, list[str]] = {}  # namespace -> its Job names, sorted: the order lists page in
        self._job_json: dict[tuple[str, str], bytes] = {}  # each Job serialised once per change
        self._rv = _FIRST_RV
        self._compacted_rv = 0
        self._token_epoch = 0  # continue tokens of an earlier epoch have expired (compaction)
        self._expiries = 0  # expire_watches() calls: each ends every open watch with 410 Gone
        self._gone_pending = False  # expire_watches() found no open watch to end yet
        self._watch_generation = 0
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeKubernetesAPI:
        handler = type("Handler", (_Handler,), {"api": self})
        self._server = _Server(("127.0.0.1", self.port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-k8s-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Take the API down: the port refuses connections and open watches end."""
        if self._server is None:
            return
        with self._cond:
            self._watch_generation += 1
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._server.drop_connections()
        self._server = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> FakeKubernetesAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write_kubeconfig(self, path: Path | str, namespace: str = "default", token: str = "fake-token") -> Path:  # noqa: S107
        """A kubeconfig whose current context points at this server (plain HTTP, a dummy bearer token that each
        recorded call carries, so that tests can tell clients apart)."""
        path = Path(path)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": token}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}],
            "current-context": "fake",
        }
        path.write_text(yaml.safe_dump(config))
        return path

    # ---- fault injection -------------------------------------------------------------------------------------

    def fail_next(self, count: int, status: int = 500, *, method: str | None = None, path_contains: str | None = None,
                  query: str | None = None, after: int = 0) -> None:  # fmt: skip
        """Answer the next ``count`` matching requests with ``status`` (and change nothing). ``query`` matches only
        requests carrying that parameter (``"continue"``: a list's later pages); ``after`` lets that many matching
        requests through first."""
        with self._cond:
            self._faults.append(_Fault(status, count, method, path_contains, query, after))

    def clear_faults(self) -> None:
        with self._cond:
            self._faults.clear()
        self.delay_seconds = 0.0

    def expire_watches(self) -> None:
        """Compact history: open watches receive an ERROR 410 Gone and older resourceVersions are refused.
        A client between two watches when this happens gets its 410 on the next watch it opens with a
        resourceVersion, so every watching client sees exactly one 410, whatever the timing."""
        with self._cond:
            self._compacted_rv = self._rv
            self._token_epoch += 1
            self._expiries += 1
            self._gone_pending = True
            self._cond.notify_all()

    def _take_fault(self, method: str, path: str, query: dict[str, str]) -> int | None:
        with self._cond:
            for fault in self._faults:
                if fault.remaining <= 0:
                    continue
                if fault.method and fault.method != method:
                    continue
                if fault.path_contains and fault.path_contains not in path:
                    continue
                if fault.query and fault.query not in query:
                    continue
                if fault.after > 0:
                    fault.after -= 1
                    continue
                fault.remaining -= 1
                return fault.status
        return None

    # ---- records ---------------------------------------------------------------------------------------------

    def created_names(self) -> list[str]:
        """Names of every successful Job create, in order (a duplicate create would show up twice)."""
        return [c.name for c in list(self.calls) if c.method == "POST" and c.status == 201 and c.name]

    def create_calls(self) -> list[Call]:
        return [c for c in list(self.calls) if c.method == "POST" and "/jobs" in c.path]

    def max_active_at_create(self) -> int:
        return max((c.active_jobs or 0 for c in self.create_calls() if c.status == 201), default=0)

    def unfinished_jobs(self) -> list[dict[str, Any]]:
        with self._cond:
            return [copy.deepcopy(self.jobs[key]) for key in self._unfinished]

    def get_job(self, name: str, namespace: str = "default") -> dict[str, Any] | None:
        with self._cond:
            job = self.jobs.get((namespace, name))
            return copy.deepcopy(job) if job else None

    # ---- playing the kubelet ---------------------------------------------------------------------------------

    def mark_complete(self, name: str, namespace: str = "default") -> None:
        self._finish(name, namespace, "Complete", None, None, succeeded=True)

    def mark_failed(self, name: str, reason: str = "BackoffLimitExceeded", message: str = "",
                    namespace: str = "default") -> None:  # fmt: skip
        """Fail the Job now. ``DeadlineExceeded`` plays a runner that ran until the deadline: a pod the test left
        untouched (no container status) gets a container that started with the Job (use the controller's own
        deadline, or ``set_pod_state`` first, to play a runner that started late or never)."""
        if reason == "DeadlineExceeded":
            with self._cond:
                pod = self._current_pod(namespace, name)
                job = self.jobs.get((namespace, name))
                if pod is not None and job is not None and not (pod.get("status") or {}).get("containerStatuses"):
                    begun = job["metadata"]["creationTimestamp"]
                    container = pod["spec"]["containers"][0]["name"]
                    pod["status"] = {"phase": "Running", "containerStatuses": [{"name": container, "ready": True,
                                     "state": {"running": {"startedAt": begun}}}]}  # fmt: skip
                    self._bump(pod, "Pod", "MODIFIED")
        self._finish(name, namespace, "Failed", reason, message or f"Job has reached {reason}", succeeded=False)

    def set_pod_state(self, job_name: str, *, phase: str = "Pending", waiting_reason: str | None = None,
                      terminated_reason: str | None = None, exit_code: int = 1, pod_reason: str | None = None,
                      namespace: str = "default") -> None:  # fmt: skip
        """Set the status of the Job's current pod (e.g. waiting in ImagePullBackOff, terminated OOMKilled,
        Evicted); its conditions are kept, and a terminated container keeps the start of its run."""
        with self._cond:
            pod = self._current_pod(namespace, job_name)
            if pod is None:
                return
            started = _started_at(pod) or now_iso()
            state: dict[str, Any] = {"running": {"startedAt": now_iso()}}
            if waiting_reason:
                state = {"waiting": {"reason": waiting_reason, "message": f"fake: {waiting_reason}"}}
            elif terminated_reason:
                state = {"terminated": {"reason": terminated_reason, "exitCode": exit_code, "startedAt": started,
                                        "finishedAt": now_iso()}}  # fmt: skip
            container = pod["spec"]["containers"][0]["name"]
            conditions = (pod.get("status") or {}).get("conditions") or []
            statuses = [{"name": container, "state": state, "ready": False, "restartCount": 0, "image": "",
                         "imageID": ""}]  # fmt: skip
            pod["status"] = {"phase": phase, "conditions": conditions, "containerStatuses": statuses}
            if pod_reason:
                pod["status"]["reason"] = pod_reason
            self._bump(pod, "Pod", "MODIFIED")

    def pods_of(self, job_name: str, namespace: str = "default") -> list[dict[str, Any]]:
        """Copies of the Job's pods, oldest first."""
        with self._cond:
            return [copy.deepcopy(pod) for pod in self._job_pods(namespace, job_name)]

    def refuse_pod_creation(self, job_name: str | None = None) -> None:
        """Play FailedCreate: the controller cannot create pods for this Job (None: for every Job created from now
        on), as with an exhausted ResourceQuota or a refusing admission webhook. ``allow_pod_creation`` undoes it."""
        with self._cond:
            if job_name is None:
                self._refused_pods = None
            elif self._refused_pods is not None:
                self._refused_pods.add(job_name)

    def allow_pod_creation(self) -> None:
        with self._cond:
            self._refused_pods = set()

    def set_pod_scheduled(self, job_name: str, scheduled: bool, *, namespace: str = "default",
                          message: str = "0/3 nodes are available: 3 Insufficient cpu.") -> None:  # fmt: skip
        """Play the scheduler: PodScheduled=True, or False with reason Unschedulable (lastTransitionTime set when
        the status changes, as the real one does)."""
        with self._cond:
            pod = self._current_pod(namespace, job_name)
            if pod is None:
                return
            status = pod.setdefault("status", {"phase": "Pending"})
            conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
            previous = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
            wanted = "True" if scheduled else "False"
            condition = {"type": "PodScheduled", "status": wanted, "lastTransitionTime": now_iso()}
            if previous and previous.get("status") == wanted:
                condition["lastTransitionTime"] = previous["lastTransitionTime"]
            if not scheduled:
                condition.update(reason="Unschedulable", message=message)
            status["conditions"] = [*conditions, condition]
            self._bump(pod, "Pod", "MODIFIED")

    def evict_pod(self, job_name: str, namespace: str = "default") -> str | None:
        """Evict the Job's current pod (a node drain, preemption): Failed, condition DisruptionTarget, its
        container killed; then the Job's podFailurePolicy decides. Returns the replacement pod's name, if any."""
        with self._cond:
            pod = self._current_pod(namespace, job_name)
            if pod is None:
                return None
            status = pod.setdefault("status", {})
            status["conditions"] = [*(status.get("conditions") or []), {"type": "DisruptionTarget", "status": "True",
                                    "reason": "EvictionByEvictionAPI", "lastTransitionTime": now_iso()}]  # fmt: skip
            self._terminate(pod, exit_code=137, reason="Error", pod_reason="Evicted")
            return self._pod_failed(namespace, job_name, pod)

    def pod_exited(self, job_name: str, exit_code: int, namespace: str = "default") -> str | None:
        """The Job's current pod's container exited: 0 completes the Job; anything else is judged by the Job's
        podFailurePolicy and backoffLimit. Returns the replacement pod's name, if one is created."""
        with self._cond:
            pod = self._current_pod(namespace, job_name)
            if pod is None or (namespace, job_name) not in self._unfinished:
                return None
            self._terminate(pod, exit_code=exit_code, reason="Completed" if exit_code == 0 else "Error")
            if exit_code != 0:
                return self._pod_failed(namespace, job_name, pod)
        self.mark_complete(job_name, namespace)
        return None

    def _job_pods(self, namespace: str, job_name: str) -> list[dict[str, Any]]:
        return [pod for (ns, _), pod in self.pods.items()
                if ns == namespace and pod["metadata"]["labels"].get("job-name") == job_name]  # fmt: skip

    def _current_pod(self, namespace: str, job_name: str) -> dict[str, Any] | None:
        pods = self._job_pods(namespace, job_name)
        return pods[-1] if pods else None

    def _new_pod(self, job: dict[str, Any]) -> str:
        meta = job["metadata"]
        template = job["spec"]["template"]
        pod_labels = dict(template.get("metadata", {}).get("labels") or {})
        pod_labels.update({"job-name": meta["name"], "batch.kubernetes.io/job-name": meta["name"],
                           "controller-uid": meta["uid"]})  # fmt: skip
        pod_name = f"{meta['name']}-{secrets.token_hex(3)}"
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": pod_name, "namespace": meta["namespace"], "labels": pod_labels,
                            "creationTimestamp": now_iso(), "uid": secrets.token_hex(8)},
               "spec": copy.deepcopy(template["spec"]), "status": {"phase": "Pending"}}  # fmt: skip
        self.pods[(meta["namespace"], pod_name)] = pod
        self._bump(pod, "Pod", "ADDED")
        return pod_name

    def _terminate(self, pod: dict[str, Any], *, exit_code: int, reason: str, pod_reason: str | None = None) -> None:
        status = pod.setdefault("status", {})
        container = pod["spec"]["containers"][0]["name"]
        terminated = {"reason": reason, "exitCode": exit_code, "startedAt": _started_at(pod) or now_iso(),
                      "finishedAt": now_iso()}  # fmt: skip
        status["containerStatuses"] = [{"name": container, "state": {"terminated": terminated}, "ready": False,
                                        "restartCount": 0, "image": "", "imageID": ""}]  # fmt: skip
        status["phase"] = "Succeeded" if exit_code == 0 else "Failed"
        if pod_reason:
            status["reason"] = pod_reason
        self._bump(pod, "Pod", "MODIFIED")

    def _pod_failed(self, namespace: str, job_name: str, pod: dict[str, Any]) -> str | None:
        """The Job controller's verdict on a failed pod (under the lock): a new pod's name, or None."""
        job = self.jobs.get((namespace, job_name))
        if job is None or (namespace, job_name) not in self._unfinished:
            return None
        action, index = failure_policy_action(job, pod)
        if action == "Ignore":
            return self._new_pod(job)
        code = _exit_code_of(pod)
        if action == "FailJob":
            message = f"Container runner for pod {namespace}/{pod['metadata']['name']} failed with exit code {code}"
            self._finish(job_name, namespace, "Failed", "PodFailurePolicy",
                         f"{message} matching FailJob rule at index {index}", succeeded=False)  # fmt: skip
            return None
        status = job.setdefault("status", {})
        status["failed"] = int(status.get("failed") or 0) + 1
        if status["failed"] > int(job["spec"].get("backoffLimit", 6)):
            self._finish(job_name, namespace, "Failed", "BackoffLimitExceeded",
                         "Job has reached the specified backoff limit", succeeded=False)  # fmt: skip
            return None
        self._bump(job, "Job", "MODIFIED")
        return self._new_pod(job)

    def _watch_deadline(self, namespace: str, name: str, seconds: float) -> None:
        """Fail the Job ``seconds`` after now (its creation), as the Job controller does (under the lock)."""
        heapq.heappush(self._deadlines, (time.monotonic() + seconds, namespace, name))
        if self._deadline_thread is None:
            self._deadline_thread = threading.Thread(target=self._enforce_deadlines, name="fake-job-deadlines",
                                                     daemon=True)  # fmt: skip
            self._deadline_thread.start()

    def _enforce_deadlines(self) -> None:
        while True:
            with self._cond:
                due = None
                if self._deadlines and self._deadlines[0][0] <= time.monotonic():
                    _, namespace, name = heapq.heappop(self._deadlines)
                    if (namespace, name) in self._unfinished:
                        due = (namespace, name)
                        for pod in self._job_pods(namespace, name):
                            if (pod.get("status") or {}).get("phase") in (None, "Pending", "Running"):
                                del self.pods[(namespace, pod["metadata"]["name"])]  # the controller deletes them
                                self._bump(pod, "Pod", "DELETED")
                        self._finish(name, namespace, "Failed", "DeadlineExceeded",
                                     "Job was active longer than specified deadline", succeeded=False)  # fmt: skip
                elif not self._deadlines:
                    self._cond.wait(1.0)
                    continue
                else:
                    self._cond.wait(min(0.2, max(0.0, self._deadlines[0][0] - time.monotonic())))
                    continue
            if due is not None:
                for hook in list(self.on_deadline):
                    hook(*due)

    def _finish(self, name: str, namespace: str, kind: str, reason: str | None, message: str | None,
                *, succeeded: bool) -> None:  # fmt: skip
        with self._cond:
            job = self.jobs.get((namespace, name))
            if job is None or (namespace, name) not in self._unfinished:
                return  # a Job ends once (the deadline and a last pod's exit may race), and not after its deletion
            condition = {"type": kind, "status": "True", "lastTransitionTime": now_iso()}
            if reason:
                condition.update(reason=reason, message=message or "")
            status = job.setdefault("status", {})
            status["conditions"] = [*status.get("conditions", []), condition]
            status["completionTime" if succeeded else "failed"] = now_iso() if succeeded else 1
            if succeeded:
                status["succeeded"] = 1
            status.pop("active", None)
            self._unfinished.discard((namespace, name))
            self._bump(job, "Job", "MODIFIED")

    # ---- state changes (under the lock) ----------------------------------------------------------------------

    def _bump(self, obj: dict[str, Any], kind: str, event_type: str,
              previous_labels: dict[str, str] | None = None) -> None:  # fmt: skip
        """Record a change: a new resourceVersion, the object serialised once (for lists and watches alike), and
        an event in the history (trimmed to ``history_limit``: older resourceVersions are compacted)."""
        self._rv += 1
        meta = obj["metadata"]
        meta["resourceVersion"] = str(self._rv)
        data = json.dumps(obj, separators=(",", ":")).encode()
        key = (meta.get("namespace") or "", meta["name"])
        if kind == "Job":
            if event_type == "DELETED":
                self._job_json.pop(key, None)
            else:
                self._job_json[key] = data
        labels = dict(meta.get("labels") or {})
        self._events.append(_Event(self._rv, kind, event_type, key[0], labels, previous_labels, data))
        if len(self._events) > self.history_limit:
            drop = len(self._events) - self.history_limit // 2
            self._compacted_rv = max(self._compacted_rv, self._events[drop - 1].rv)
            del self._events[:drop]
        self._cond.notify_all()

    def _events_after(self, rv: int) -> list[_Event]:
        return self._events[bisect.bisect_right(self._events, rv, key=lambda event: event.rv) :]

    def _index(self, namespace: str, name: str) -> None:
        names = self._names.setdefault(namespace, [])
        position = bisect.bisect_left(names, name)
        if position == len(names) or names[position] != name:
            names.insert(position, name)

    def _unindex(self, namespace: str, name: str) -> None:
        names = self._names.get(namespace, [])
        position = bisect.bisect_left(names, name)
        if position < len(names) and names[position] == name:
            del names[position]

    def seed_jobs(self, bodies: Iterable[dict[str, Any]], namespace: str = "default", *, complete: bool = True) -> int:
        """Add retained Jobs in bulk, as a cluster that has run for a while holds them: no events (the history
        starts after them) and no pods. Jobs may share nested objects (``spec``): nothing here mutates them in
        place. Returns how many were added."""
        added = 0
        with self._cond:
            self._rv += 1
            rv = str(self._rv)
            for body in bodies:
                meta = dict(body["metadata"])
                name = meta["name"]
                if (namespace, name) in self.jobs:
                    continue
                meta.update(namespace=namespace, uid=secrets.token_hex(8), creationTimestamp=now_iso(),
                            generation=1, resourceVersion=rv)  # fmt: skip
                status: dict[str, Any] = {"startTime": now_iso()}
                if complete:
                    complete_condition = {"type": "Complete", "status": "True", "lastTransitionTime": now_iso()}
                    status.update(succeeded=1, completionTime=now_iso(), conditions=[complete_condition])
                else:
                    status["active"] = 1
                    self._unfinished.add((namespace, name))
                self.jobs[(namespace, name)] = {**body, "metadata": meta, "status": status}
                self._job_json.pop((namespace, name), None)
                self._index(namespace, name)
                added += 1
        return added

    def create_job(self, namespace: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name = (body.get("metadata") or {}).get("name")
        if not name or body.get("kind") != "Job":
            return 422, status_body(422, "Invalid", "Job.metadata.name: Required value")
        with self._cond:
            if (namespace, name) in self.jobs:
                return 409, status_body(409, "AlreadyExists", f'jobs.batch "{name}" already exists')
            job = copy.deepcopy(body)
            uid = secrets.token_hex(8)
            meta = job["metadata"]
            meta.update(namespace=namespace, uid=uid, creationTimestamp=now_iso(), generation=1)
            job["status"] = {"startTime": now_iso()}
            self.jobs[(namespace, name)] = job
            self._index(namespace, name)
            self._unfinished.add((namespace, name))
            active = len(self._unfinished)
            self._bump(job, "Job", "ADDED")
            if self._refused_pods is not None and name not in self._refused_pods:
                self._new_pod(job)
                job["status"]["active"] = 1  # as the Job controller counts it: FailedCreate leaves it unset
            if job["spec"].get("activeDeadlineSeconds"):
                self._watch_deadline(namespace, name, float(job["spec"]["activeDeadlineSeconds"]))
            created = copy.deepcopy(job)
        for hook in list(self.on_create):
            hook(copy.deepcopy(created))
        created["_active"] = active
        return 201, created

    def delete_job(self, namespace: str, name: str) -> tuple[int, dict[str, Any]]:
        with self._cond:
            job = self.jobs.pop((namespace, name), None)
            self._unfinished.discard((namespace, name))
            if job is None:
                return 404, status_body(404, "NotFound", f'jobs.batch "{name}" not found')
            self._unindex(namespace, name)
            self._bump(job, "Job", "DELETED")
            for key, pod in list(self.pods.items()):
                if key[0] == namespace and pod["metadata"]["labels"].get("job-name") == name:
                    del self.pods[key]
                    self._bump(pod, "Pod", "DELETED")
        for hook in list(self.on_delete):
            hook(namespace, name)
        return 200, job

    def patch_job(self, namespace: str, name: str, patch: Any, content_type: str) -> tuple[int, dict[str, Any]]:
        """A JSON merge patch (or a strategic merge patch, which for metadata maps is the same) of a Job's metadata:
        labels and annotations; ``null`` removes a key. A MODIFIED event follows, carrying the labels before."""
        if content_type.split(";")[0].strip() not in MERGE_PATCH_TYPES:
            return 415, status_body(415, "UnsupportedMediaType", f"the fake API does not apply {content_type} patches")
        if not isinstance(patch, dict) or set(patch) - {"metadata"}:
            return 422, status_body(422, "Invalid", "the fake API patches Job metadata only")
        changes = patch.get("metadata") or {}
        if not isinstance(changes, dict) or set(changes) - {"labels", "annotations", "resourceVersion"}:
            return 422, status_body(422, "Invalid", "the fake API patches metadata.labels and annotations only")
        with self._cond:
            job = self.jobs.get((namespace, name))
            if job is None:
                return 404, status_body(404, "NotFound", f'jobs.batch "{name}" not found')
            expected = changes.get("resourceVersion")
            if expected is not None and expected != job["metadata"].get("resourceVersion"):
                return 409, status_body(409, "Conflict", f'the object jobs.batch "{name}" has been modified')
            previous = dict(job["metadata"].get("labels") or {})
            meta = dict(job["metadata"])  # copy on write: seeded Jobs share nested objects
            for field_name in ("labels", "annotations"):
                if field_name in changes:
                    merged = dict(meta.get(field_name) or {})
                    for key, value in (changes[field_name] or {}).items():
                        if value is None:
                            merged.pop(key, None)
                        else:
                            merged[key] = str(value)
                    meta[field_name] = merged
            job = {**job, "metadata": meta}
            self.jobs[(namespace, name)] = job
            self._bump(job, "Job", "MODIFIED", previous_labels=previous)
            return 200, copy.deepcopy(job)

    def list_jobs_page(self, namespace: str, selector: str | None, limit: int, token: str | None) -> tuple[int, bytes]:
        """One page of a Job list, in name order like etcd's keys, serialised from each Job's cached JSON.

        ``continue`` carries the list's resourceVersion and the last name served; a token issued before a
        compaction (``expire_watches``) or not made here answers 410 Expired. Later pages hold the Jobs as they
        are now (no snapshot), and every page reports the first page's resourceVersion, so a watch from it
        replays whatever changed meanwhile. ``remainingItemCount`` is given, as by the API server, only for a
        list without a label selector."""
        if self.list_page_delay_seconds:
            time.sleep(self.list_page_delay_seconds)
        with self._cond:
            if token:
                try:
                    state = json.loads(base64.urlsafe_b64decode(token.encode()))
                    list_rv, start, epoch = int(state["rv"]), str(state["start"]), int(state["epoch"])
                except (ValueError, KeyError, TypeError, binascii.Error):
                    return 400, json.dumps(status_body(400, "BadRequest", "invalid continue token")).encode()
                if epoch != self._token_epoch or list_rv < self._compacted_rv:
                    message = "The provided continue parameter is too old to display a consistent list result."
                    return 410, json.dumps(status_body(410, "Expired", message)).encode()
            else:
                list_rv, start = self._rv, ""
            names = self._names.get(namespace, [])
            position = bisect.bisect_right(names, start) if start else 0
            page: list[bytes] = []
            last = ""
            while position < len(names) and (limit <= 0 or len(page) < limit):
                name = names[position]
                position += 1
                job = self.jobs[(namespace, name)]
                if not matches(job["metadata"].get("labels") or {}, selector):
                    continue
                data = self._job_json.get((namespace, name))
                if data is None:
                    data = self._job_json[(namespace, name)] = json.dumps(job, separators=(",", ":")).encode()
                page.append(data)
                last = name
            more = limit > 0 and any(
                matches(self.jobs[(namespace, n)]["metadata"].get("labels") or {}, selector) for n in names[position:]
            )
            metadata: dict[str, Any] = {"resourceVersion": str(list_rv)}
            if more:
                metadata["continue"] = base64.urlsafe_b64encode(
                    json.dumps({"rv": list_rv, "start": last, "epoch": self._token_epoch}).encode()
                ).decode()
                if not selector:
                    metadata["remainingItemCount"] = len(names) - position
        head = json.dumps({"apiVersion": "batch/v1", "kind": "JobList", "metadata": metadata})[:-1]
        return 200, head.encode() + b',"items":[' + b",".join(page) + b"]}"

    def list_objects(self, kind: str, namespace: str, selector: str | None) -> dict[str, Any]:
        store = self.jobs if kind == "Job" else self.pods
        with self._cond:
            items = [copy.deepcopy(o) for (ns, _), o in store.items()
                     if ns == namespace and matches(o["metadata"].get("labels") or {}, selector)]  # fmt: skip
            rv = str(self._rv)
        api_version = "batch/v1" if kind == "Job" else "v1"
        return {"apiVersion": api_version, "kind": f"{kind}List", "metadata": {"resourceVersion": rv}, "items": items}


def _seen_as(event: _Event, selector: str | None) -> str | None:
    """How a watch with ``selector`` sees ``event``, like the API server's watch cache: a patch that moves an object
    out of the selector is DELETED for that watch, one that moves it in is ADDED; None if the watch never sees it."""
    now = matches(event.labels, selector)
    if event.previous_labels is None:
        return event.type if now else None
    before = matches(event.previous_labels, selector)
    if before and now:
        return event.type
    if before:
        return "DELETED"
    return "ADDED" if now else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Close every open client connection (a server that goes down does not keep serving kept-alive ones)."""
        with self.connections_lock:
            open_now = list(self.connections)
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a killed scheduler, a closed pool) is normal here, not an error to print."""


class _Handler(BaseHTTPRequestHandler):
    api: FakeKubernetesAPI
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms delayed-ACK stall per call

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the calls are recorded instead."""

    def _send(self, status: int, body: dict[str, Any]) -> None:
        self._send_bytes(status, json.dumps(body).encode())

    def _send_bytes(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self, status: int, name: str | None = None, active: int | None = None) -> None:
        if self.api.record_calls or self.command != "GET":
            split = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(split.query).items()}
            bearer = (self.headers.get("Authorization") or "").removeprefix("Bearer ") or None
            self.api.calls.append(Call(self.command, split.path, query, status, name, active_jobs=active, token=bearer))

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def _handle(self) -> None:
        api = self.api
        split = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        if self.command in ("POST", "PUT", "PATCH"):
            body = self._body()
        if api.delay_seconds:
            time.sleep(api.delay_seconds)
        fault = api._take_fault(self.command, split.path, query)
        if fault is not None:
            self._record(fault)
            reason = "InternalError" if fault >= 500 else STATUS_REASONS.get(fault, "Injected")
            self._send(fault, status_body(fault, reason, f"injected fault ({reason})"))
            return
        job_match = JOBS_PATH.match(split.path)
        pod_match = PODS_PATH.match(split.path)
        if job_match and not job_match["status"]:
            ns, name = job_match["ns"], job_match["name"]
            if self.command == "POST" and not name:
                status, obj = api.create_job(ns, body)
                active = obj.pop("_active", None)
                self._record(status, (body.get("metadata") or {}).get("name"), active)
                self._send(status, obj)
                return
            if self.command == "GET" and name:
                job = api.get_job(name, ns)
                status = 200 if job else 404
                self._record(status, name)
                self._send(status, job or status_body(404, "NotFound", f'jobs.batch "{name}" not found'))
                return
            if self.command == "GET":
                if query.get("watch") in ("true", "1", "True"):
                    self._watch("Job", ns, query)
                    return
                try:
                    limit = max(0, int(query.get("limit") or 0))
                except ValueError:
                    limit = -1
                if limit < 0:
                    self._record(400)
                    self._send(400, status_body(400, "BadRequest", "limit must be a non-negative integer"))
                    return
                status, data = api.list_jobs_page(ns, query.get("labelSelector"), limit, query.get("continue"))
                self._record(status)
                self._send_bytes(status, data)
                return
            if self.command == "PATCH" and name:
                status, obj = api.patch_job(ns, name, body, self.headers.get("Content-Type") or "")
                self._record(status, name)
                self._send(status, obj)
                return
            if self.command == "DELETE" and name:
                status, obj = api.delete_job(ns, name)
                self._record(status, name)
                self._send(status, obj)
                return
        if pod_match and self.command == "GET":
            ns, name = pod_match["ns"], pod_match["name"]
            if name:
                with api._cond:
                    pod = copy.deepcopy(api.pods.get((ns, name)))
                status = 200 if pod else 404
                self._record(status, name)
                self._send(status, pod or status_body(404, "NotFound", f'pods "{name}" not found'))
                return
            if query.get("watch") in ("true", "1", "True"):
                self._watch("Pod", ns, query)
                return
            self._record(200)
            listing = api.list_objects("Pod", ns, query.get("labelSelector"))
            listing["items"] = [pod for pod in listing["items"] if pod_fields_match(pod, query.get("fieldSelector"))]
            self._send(200, listing)
            return
        if self.command == "GET":
            secret_match = SECRET_PATH.match(split.path)
            found = api.secrets.get((secret_match["ns"], secret_match["name"])) if secret_match else None
            found = found or discovery(split.path)
            if found is not None:
                self._record(200)
                self._send(200, found)
                return
        self._record(404)
        self._send(404, status_body(404, "NotFound", f"the fake API does not serve {self.command} {split.path}"))

    def _watch(self, kind: str, namespace: str, query: dict[str, str]) -> None:
        """Stream events newer than resourceVersion as chunked JSON lines, like the real API server."""
        api = self.api
        self._record(200)
        since = int(query.get("resourceVersion") or 0)
        timeout = float(query.get("timeoutSeconds") or 300)
        selector = query.get("labelSelector")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        deadline = time.monotonic() + timeout
        with api._cond:
            generation = api._watch_generation
            expiries = api._expiries
            gone = bool(since) and (since < api._compacted_rv or api._gone_pending)
            if gone:
                api._gone_pending = False
        if gone:
            self._chunk({"type": "ERROR", "object": status_body(410, "Expired", "too old resource version")})
            self._chunk(None)
            return
        if not since:  # no resourceVersion: like the real server, start with the current objects as ADDED
            listed = api.list_objects(kind, namespace, selector)
            for obj in listed["items"]:
                self._chunk({"type": "ADDED", "object": obj})
            since = int(listed["metadata"]["resourceVersion"])
        last = since
        while True:
            with api._cond:
                expired = api._expiries != expiries
                if expired:  # history was compacted under this watch: it ends with 410 Gone at once
                    api._gone_pending = False
                    break
                pending = api._events_after(last)
                if not pending:
                    if api._watch_generation != generation or time.monotonic() >= deadline or not api.running:
                        break
                    api._cond.wait(timeout=min(0.5, max(0.0, deadline - time.monotonic())))
                    continue
            for event in pending:
                last = event.rv
                if event.kind != kind or event.namespace != namespace:
                    continue
                event_type = _seen_as(event, selector)
                if event_type is None:
                    continue
                try:
                    self._chunk_bytes(b'{"type":"' + event_type.encode() + b'","object":' + event.data + b"}\n")
                except OSError:
                    return
        try:
            if expired:
                self._chunk({"type": "ERROR", "object": status_body(410, "Expired", "too old resource version")})
            self._chunk(None)
        except OSError:
            return

    def _chunk(self, event: dict[str, Any] | None) -> None:
        if event is None:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        self._chunk_bytes(json.dumps(event).encode() + b"\n")

    def _chunk_bytes(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _handle


def retained_jobs(body: dict[str, Any], count: int, labels: dict[str, str] | None = None) -> Iterable[dict[str, Any]]:
    """``count`` runner Jobs built from one Job body, for ``seed_jobs``: submissions ``{n:024x}``, named and
    labelled as the scheduler names them, plus ``labels``; they share the body's spec."""
    base_labels = dict((body.get("metadata") or {}).get("labels") or {})
    for n in range(count):
        submission_id = f"{n:024x}"
        name = job_name(submission_id)
        metadata = {"name": name, "labels": {**base_labels, SUBMISSION_ID_LABEL: submission_id, **(labels or {})}}
        yield {**body, "metadata": metadata}


def spawn(
    directory: Path, job: dict[str, Any], retained: int, labels: Iterable[str] = (), *, record: bool = False
) -> tuple[subprocess.Popen[bytes], Path]:
    """This server as a process of its own (``python -m fakes.k8s_api``) holding ``retained`` finished runner
    Jobs made from ``job`` plus ``labels`` (``key=value``), so that a client's memory is measured apart from the
    server's. Returns the process and its kubeconfig, once it listens; the caller terminates it."""
    root = Path(__file__).resolve().parents[2]
    (directory / "retained-job.json").write_text(json.dumps(job))
    kubeconfig = directory / "kubeconfig"
    kubeconfig.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "fakes.k8s_api", "--port", str(free_port()), "--kubeconfig", str(kubeconfig),
            "--retained", str(retained), "--retained-job", str(directory / "retained-job.json")]  # fmt: skip
    argv += [] if record else ["--no-record"]
    for label in labels:
        argv += ["--retained-label", label]
    path = os.pathsep.join([str(root / "tests"), str(root), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    with open(directory / "fake-k8s-api.log", "ab") as log:
        proc = subprocess.Popen(argv, env={**os.environ, "PYTHONPATH": path}, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not kubeconfig.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the fake API did not start: {(directory / 'fake-k8s-api.log').read_text()[-2000:]}")
        time.sleep(0.1)
    return proc, kubeconfig


def main() -> None:
    parser = argparse.ArgumentParser(description="Fake Kubernetes API for Jobs and pods on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--kubeconfig", help="write a kubeconfig pointing at the server to this path")
    parser.add_argument("--no-record", action="store_true", help="do not keep a record of GET calls")
    parser.add_argument("--create-log", help="append '<job name> <unix time>' to this file for each created Job")
    parser.add_argument("--retained", type=int, default=0, help="start with this many finished runner Jobs")
    parser.add_argument("--retained-job", help="JSON file: the Job body the retained Jobs are made from")
    parser.add_argument("--retained-label", action="append", default=[], help="key=value added to retained Jobs")
    parser.add_argument("--namespace", default="default", help="the namespace of the retained Jobs")
    parser.add_argument("--list-page-delay", type=float, default=0.0, help="seconds every page of a Job list waits")
    args = parser.parse_args()
    api = FakeKubernetesAPI(port=args.port or None)
    api.record_calls = not args.no_record
    api.list_page_delay_seconds = args.list_page_delay
    if args.retained:
        if not args.retained_job:
            parser.error("--retained needs --retained-job")
        body = json.loads(Path(args.retained_job).read_text())
        labels = dict(label.split("=", 1) for label in args.retained_label)
        api.seed_jobs(retained_jobs(body, args.retained, labels), args.namespace)
    if args.create_log:
        log = open(args.create_log, "a", buffering=1)  # noqa: SIM115 - open for the life of the process
        api.on_create.append(lambda job: log.write(f"{job['metadata']['name']} {time.time()}\n"))
    api.start()
    if args.kubeconfig:
        api.write_kubeconfig(args.kubeconfig)
    print(f"fake kubernetes api listening on {api.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        api.close()


if __name__ == "__main__":
    main()
