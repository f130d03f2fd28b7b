"""The runner Job: the chart's template (``job.yaml`` of the ``*-runner-job-template`` ConfigMap, at
RUNNER_JOB_TEMPLATE), stamped per submission with only its name, labels and submission env.

The deadline model: the template's ``activeDeadlineSeconds`` is the runner's grading time (JOB_DEADLINE_SECONDS)
plus a startup allowance (the chart's ``runner.job.startupAllowanceSeconds``), and Kubernetes counts it from the
Job's start, Pending time included. So that a runner started late still ends before Kubernetes kills it, each Job
carries JOB_CREATED_AT (when it was built, Unix time) and JOB_ACTIVE_DEADLINE_SECONDS (its own deadline): the
runner's budget is JOB_DEADLINE_SECONDS from its start, capped to end before JOB_CREATED_AT +
JOB_ACTIVE_DEADLINE_SECONDS.
"""

import pickle
import time
from pathlib import Path
from typing import Any

import yaml

from cloudemy_common.jobs import ATTEMPT_LABEL, RUNNER_COMPONENT, SUBMISSION_ID_LABEL, job_name
from cloudemy_common.tokens import attempt_token
from cloudemy_scheduler.config import ConfigurationError

COMPONENT_LABEL = "app.kubernetes.io/component"
RUNNER_CONTAINER = "runner"


class TemplateError(ConfigurationError):
    """The Job template is not a usable batch/v1 Job with a ``runner`` container."""


def _env(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value}


def runner_container(job: dict[str, Any]) -> dict[str, Any]:
    """The pod template's container named ``runner``."""
    try:
        containers = job["spec"]["template"]["spec"]["containers"]
    except (KeyError, TypeError) as exc:
        raise TemplateError("the Job template has no spec.template.spec.containers") from exc
    for container in containers or []:
        if isinstance(container, dict) and container.get("name") == RUNNER_CONTAINER:
            return container
    raise TemplateError(f"the Job template has no container named {RUNNER_CONTAINER!r}")


def validate_template(template: Any) -> dict[str, Any]:
    """Check the parts of the template the scheduler relies on; everything else is Kubernetes' to validate."""
    if not isinstance(template, dict):
        raise TemplateError("the Job template is not a YAML mapping")
    if template.get("apiVersion") != "batch/v1" or template.get("kind") != "Job":
        raise TemplateError("the Job template must be apiVersion batch/v1, kind Job")
    runner_container(template)
    return template


def load_template(path: Path | None) -> dict[str, Any]:
    """The Job template at ``path`` (RUNNER_JOB_TEMPLATE), checked; TemplateError when it is unset or unusable."""
    if path is None:
        raise TemplateError(
            "RUNNER_JOB_TEMPLATE is not set: point it at the runner Job template (job.yaml of the chart's "
            "runner-job-template ConfigMap)"
        )
    try:
        template = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"cannot read the Job template {path}: {exc}") from exc
    return validate_template(template)


# Labels that say which release a runner Job belongs to and stay the same across upgrades (unlike
# app.kubernetes.io/version or helm.sh/chart), so Jobs created before an upgrade are still watched after it.
IDENTITY_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance")


def selector_labels(template: dict[str, Any]) -> dict[str, str]:
    """The labels the watcher selects runner Jobs by: the component, plus the template's identity labels, so
    two releases in one namespace do not see each other's Jobs."""
    labels = (template.get("metadata") or {}).get("labels") or {}
    selected = {key: str(labels[key]) for key in IDENTITY_LABELS if key in labels}
    selected[COMPONENT_LABEL] = RUNNER_COMPONENT
    return selected


def label_selector(template: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(selector_labels(template).items()))


def _set_env(container: dict[str, Any], name: str, value: str) -> None:
    env = container.setdefault("env", []) or []
    container["env"] = env
    for entry in env:
        if entry.get("name") == name:
            entry.clear()
            entry.update(_env(name, value))
            return
    env.append(_env(name, value))


def _deep_copy(template: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of the JSON-like template: a pickle round trip is 3x faster than copy.deepcopy here, and this
    runs once per dispatched Job."""
    return pickle.loads(pickle.dumps(template, protocol=pickle.HIGHEST_PROTOCOL))  # noqa: S301 - our own bytes


TOKEN_GRACE_SECONDS = 900
"""A runner's token outlives its Job's whole deadline (startup allowance included) by this much (a create retried
while the API was down, the result post's retries); a token copied out of a retained Job is refused after that."""
CREATED_AT_ENV = "JOB_CREATED_AT"
ACTIVE_DEADLINE_ENV = "JOB_ACTIVE_DEADLINE_SECONDS"
GRADING_ENV = "JOB_DEADLINE_SECONDS"
GRADING_ANNOTATION = "cloudemy.io/grading-seconds"
"""The runner's grading time on the Job itself, so that a Job that hit its deadline can be judged without its pod
template: did its runner have the whole grading time before the deadline?"""


def grading_seconds(container: dict[str, Any]) -> float | None:
    """The grading time the container's env gives the runner (its last JOB_DEADLINE_SECONDS), if it is a number."""
    values = [entry.get("value") for entry in container.get("env") or [] if entry.get("name") == GRADING_ENV]
    try:
        return float(values[-1]) if values and values[-1] else None
    except ValueError:
        return None


def build_job(
    template: dict[str, Any],
    submission_id: str,
    attempt: int,
    master_token: str,
    image: str | None = None,
    *,
    requeue: int = 0,
    now: float | None = None,
) -> dict[str, Any]:
    """Stamp the template for one submission attempt: name, labels (Job and pod), the runner's SUBMISSION_ID,
    per-submission INTERNAL_RESULT_TOKEN, JOB_CREATED_AT and JOB_ACTIVE_DEADLINE_SECONDS, the grading-time
    annotation, and (when given) the image serving the submission's language. Nothing else changes."""
    job = _deep_copy(template)
    metadata = job.setdefault("metadata", {})
    for server_field in ("namespace", "uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"):
        metadata.pop(server_field, None)
    job.pop("status", None)
    metadata["name"] = job_name(submission_id, attempt, requeue)
    stamped = {COMPONENT_LABEL: RUNNER_COMPONENT, SUBMISSION_ID_LABEL: submission_id, ATTEMPT_LABEL: str(attempt)}
    metadata["labels"] = {**(metadata.get("labels") or {}), **stamped}
    pod_metadata = job["spec"]["template"].setdefault("metadata", {})
    pod_metadata["labels"] = {**(pod_metadata.get("labels") or {}), **stamped}
    container = runner_container(job)
    if image:
        container["image"] = image
    _set_env(container, "SUBMISSION_ID", submission_id)
    grading = grading_seconds(container)
    if grading is not None:
        metadata["annotations"] = {**(metadata.get("annotations") or {}), GRADING_ANNOTATION: f"{grading:g}"}
    built_at = time.time() if now is None else now
    active_deadline = job["spec"].get("activeDeadlineSeconds")
    _set_env(container, CREATED_AT_ENV, f"{built_at:.3f}")  # a moment before the API server's creationTimestamp
    if active_deadline:
        _set_env(container, ACTIVE_DEADLINE_ENV, f"{float(active_deadline):g}")
    expires_at = int(built_at + float(active_deadline or 3600) + TOKEN_GRACE_SECONDS)
    _set_env(container, "INTERNAL_RESULT_TOKEN", attempt_token(master_token, submission_id, attempt, expires_at))
    return job
