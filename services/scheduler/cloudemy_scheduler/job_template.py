"""The runner Job: a template (the chart's ``job.yaml``, or the built-in one equal to the seed's Job plus SPEC's
fixes), stamped per submission with only its name, labels and submission env."""

import pickle
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from cloudemy_common.jobs import ATTEMPT_LABEL, RUNNER_COMPONENT, SUBMISSION_ID_LABEL, job_name
from cloudemy_common.tokens import submission_token
from cloudemy_scheduler.config import Settings

COMPONENT_LABEL = "app.kubernetes.io/component"
RUNNER_CONTAINER = "runner"
TEMPLATE_NAME = "runner-template"


class TemplateError(ValueError):
    """The Job template is not a usable batch/v1 Job with a ``runner`` container."""


def _env(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value}


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _redis_env(redis_url: str, secret: str) -> list[dict[str, Any]]:
    """REDIS_URL for the runner; a password in the URL becomes a secretKeyRef and ``$(REDIS_PASSWORD)``."""
    parts = urlsplit(redis_url)
    if not parts.password:
        return [_env("REDIS_URL", redis_url)]
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:$(REDIS_PASSWORD)@{host}" + (f":{parts.port}" if parts.port else "")
    return [
        _secret_env("REDIS_PASSWORD", secret, "REDIS_PASSWORD"),
        _env("REDIS_URL", urlunsplit(parts._replace(netloc=netloc))),
    ]


def builtin_template(settings: Settings) -> dict[str, Any]:
    """The seed's Job (backoffLimit 1, activeDeadlineSeconds 120, restartPolicy Never, the seed's env) with
    SPEC's fixes: secretKeyRef for LLM_API_KEY, ttlSecondsAfterFinished, no service account token, resources,
    restricted Pod Security and a read-only root filesystem with an emptyDir at /tmp."""
    deadline = 120
    env = [
        _env("SUBMISSION_ID", ""),
        *_redis_env(settings.redis_url, settings.runner_secret_name),
        _env("BACKEND_INTERNAL_URL", settings.backend_internal_url),
        _env("INTERNAL_RESULT_TOKEN", ""),
        _secret_env("LLM_API_KEY", settings.runner_secret_name, "LLM_API_KEY"),
        _env("LLM_MODEL", settings.llm_model),
    ]
    if settings.llm_base_url:
        env.append(_env("LLM_BASE_URL", settings.llm_base_url))
    if settings.llm_timeout_seconds is not None:
        env.append(_env("LLM_TIMEOUT_SECONDS", f"{settings.llm_timeout_seconds:g}"))
    env.append(_env("JOB_DEADLINE_SECONDS", str(deadline)))
    labels = {COMPONENT_LABEL: RUNNER_COMPONENT}
    restricted = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": TEMPLATE_NAME, "labels": dict(labels)},
        "spec": {
            "backoffLimit": 1,
            "activeDeadlineSeconds": deadline,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "runAsGroup": 10001,
                        "fsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": RUNNER_CONTAINER,
                            "image": settings.runner_image,
                            "imagePullPolicy": "IfNotPresent",
                            "env": env,
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "64Mi"},
                                "limits": {"cpu": "500m", "memory": "256Mi", "ephemeral-storage": "128Mi"},
                            },
                            "securityContext": restricted,
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - an emptyDir
                        }
                    ],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                },
            },
        },
    }


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


def load_template(settings: Settings) -> dict[str, Any]:
    """The chart's template at RUNNER_JOB_TEMPLATE, else the built-in one."""
    if settings.runner_job_template is None:
        return builtin_template(settings)
    path = Path(settings.runner_job_template)
    try:
        template = yaml.safe_load(path.read_text())
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


def build_job(
    template: dict[str, Any], submission_id: str, attempt: int, master_token: str, image: str | None = None
) -> dict[str, Any]:
    """Stamp the template for one submission attempt: name, labels (Job and pod), the runner's SUBMISSION_ID and
    per-submission INTERNAL_RESULT_TOKEN, and (when given) the image serving the submission's language. Nothing
    else changes."""
    job = _deep_copy(template)
    metadata = job.setdefault("metadata", {})
    for server_field in ("namespace", "uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"):
        metadata.pop(server_field, None)
    job.pop("status", None)
    metadata["name"] = job_name(submission_id, attempt)
    stamped = {COMPONENT_LABEL: RUNNER_COMPONENT, SUBMISSION_ID_LABEL: submission_id, ATTEMPT_LABEL: str(attempt)}
    metadata["labels"] = {**(metadata.get("labels") or {}), **stamped}
    pod_metadata = job["spec"]["template"].setdefault("metadata", {})
    pod_metadata["labels"] = {**(pod_metadata.get("labels") or {}), **stamped}
    container = runner_container(job)
    if image:
        container["image"] = image
    _set_env(container, "SUBMISSION_ID", submission_id)
    _set_env(container, "INTERNAL_RESULT_TOKEN", submission_token(master_token, submission_id))
    return job


def deadline_seconds(job: dict[str, Any]) -> float | None:
    value = (job.get("spec") or {}).get("activeDeadlineSeconds")
    return float(value) if value is not None else None
