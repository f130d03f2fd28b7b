"""charts/cloudemy rendered with helm, for everything that runs the platform without a cluster.

The chart's runner Job template is the only definition of a runner Job: the demo, the end-to-end harness, the
benchmarks and the scheduler tests all hand the scheduler this rendered template (``RUNNER_JOB_TEMPLATE``), never
one of their own. Renders are cached per process (one ``helm template`` per distinct set of values).

Run locally, a Job's in-cluster addresses (``http://cloudemy-backend:8000/internal``) mean nothing:
``local_addresses`` rewrites every form of a Service's address (``name``, ``name.ns``, ``name.ns.svc``,
``name.ns.svc.cluster.local``, with its port) to the 127.0.0.1 port that stands in for that Service.
"""

import copy
import functools
import json
import re
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "charts" / "cloudemy"
HELM = ROOT / ".tools" / "bin" / "helm3"
RELEASE = "cloudemy"
NAMESPACE = "default"
BACKEND_SERVICE = (f"{RELEASE}-backend", 8000)
"""The backend's Service (name, port) in a release named ``cloudemy``: where runners post their results."""
JOB_TEMPLATE_CONFIGMAP = "templates/runner/job-template-configmap.yaml"
LOCAL_RUNNER_VALUES = ("redis.enabled=false", "externalRedis.url=redis://redis-of-the-scheduler:6379/0")
"""Values for runners that run on this machine: REDIS_URL comes from a ``secretKeyRef`` (key REDIS_URL), which
the local executor resolves from the scheduler's own REDIS_URL, instead of the bundled Redis' in-cluster URL."""


@functools.cache
def _render(
    values_files: tuple[str, ...],
    set_values: tuple[str, ...],
    set_strings: tuple[str, ...],
    show_only: tuple[str, ...],
    name: str,
    namespace: str,
) -> tuple[dict[str, Any], ...]:
    argv = [str(HELM), "template", name, str(CHART), "--namespace", namespace]
    for path in values_files:
        argv += ["-f", path]
    for item in set_values:
        argv += ["--set", item]
    for item in set_strings:
        argv += ["--set-string", item]
    for template in show_only:
        argv += ["--show-only", template]
    if not HELM.exists():
        raise RuntimeError(f"{HELM} is missing: ci/install-tools.sh installs it (make demo runs it)")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"helm template failed: {done.stderr.strip()}")
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def render(
    *,
    values_files: Iterable[Path | str] = (),
    set_values: Iterable[str] = (),
    set_strings: Iterable[str] = (),
    show_only: Iterable[str] = (),
    name: str = RELEASE,
    namespace: str = NAMESPACE,
) -> list[dict[str, Any]]:
    """Every object ``helm template`` renders with these values (a copy of the cached render)."""
    docs = _render(tuple(map(str, values_files)), tuple(set_values), tuple(set_strings), tuple(show_only), name,
                   namespace)  # fmt: skip
    return copy.deepcopy(list(docs))


def job_template_of(objects: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The runner Job template held by the rendered ``*-runner-job-template`` ConfigMap."""
    for obj in objects:
        if obj.get("kind") == "ConfigMap" and obj["metadata"]["name"].endswith("-runner-job-template"):
            return yaml.safe_load(obj["data"]["job.yaml"])
    raise LookupError("no runner Job template ConfigMap rendered")


class _NotFoundError(Exception):
    status = 404


class _RenderedSecrets:
    """The Secret calls of CoreV1Api over the rendered Secrets: what the cluster holds when pre-install hooks run."""

    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.secrets = {o["metadata"]["name"]: o for o in objects if o.get("kind") == "Secret"}
        self.created: list[dict[str, Any]] = []

    def read_namespaced_secret(self, name: str, namespace: str) -> Any:
        if name not in self.secrets:
            raise _NotFoundError(name)
        secret = self.secrets[name]
        return SimpleNamespace(data=dict(secret.get("data") or {}), metadata=SimpleNamespace(resource_version="1"))

    def create_namespaced_secret(self, namespace: str, body: dict[str, Any]) -> None:
        self.secrets[body["metadata"]["name"]] = body
        self.created.append(body)

    def patch_namespaced_secret(self, name: str, namespace: str, body: dict[str, Any]) -> None:
        self.secrets[name].setdefault("data", {}).update(body["data"])


def run_install_hooks(objects: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """The Secrets the chart's pre-install hook Jobs create, made by running each hook's own script (from the
    ConfigMap the Job mounts) with the Job's env against the rendered Secrets."""
    api = _RenderedSecrets(objects)
    config_maps = {o["metadata"]["name"]: o.get("data") or {} for o in objects if o.get("kind") == "ConfigMap"}
    for job in (o for o in objects if o.get("kind") == "Job"):
        if "pre-install" not in (job["metadata"].get("annotations") or {}).get("helm.sh/hook", ""):
            continue
        pod = job["spec"]["template"]["spec"]
        (hook,) = pod["containers"]
        script = Path(hook["command"][-1])
        mounts = {m["mountPath"]: m["name"] for m in hook.get("volumeMounts") or []}
        volumes = {v["name"]: v for v in pod.get("volumes") or []}
        config_map = volumes[mounts[str(script.parent)]]["configMap"]["name"]
        module = ModuleType(script.stem)
        exec(compile(config_maps[config_map][script.name], str(script), "exec"), module.__dict__)  # noqa: S102
        env = {e["name"]: e.get("value") or "" for e in hook.get("env") or []}
        module.ensure_secret(
            api,
            namespace,
            env["SECRET_NAME"],
            [key for key in env["SECRET_KEYS"].split(",") if key],
            source=env.get("SOURCE_SECRET_NAME", ""),
            labels=json.loads(env.get("SECRET_LABELS") or "{}"),
            annotations=json.loads(env.get("SECRET_ANNOTATIONS") or "{}"),
        )
    return api.created


def runner_job_template(
    *,
    set_values: Iterable[str] = (),
    set_strings: Iterable[str] = (),
    services: Mapping[tuple[str, int], int] | None = None,
) -> dict[str, Any]:
    """The chart's runner Job template for runners on this machine (``LOCAL_RUNNER_VALUES`` plus ``set_values``),
    with the env values of its ``runner`` container pointed at local ports (``services``: (Service, port) ->
    local port, e.g. ``{BACKEND_SERVICE: 8123}``)."""
    objects = render(set_values=(*LOCAL_RUNNER_VALUES, *set_values), set_strings=set_strings,
                     show_only=(JOB_TEMPLATE_CONFIGMAP,))  # fmt: skip
    template = job_template_of(objects)
    for container in template["spec"]["template"]["spec"]["containers"]:
        for entry in container.get("env") or []:
            if "value" in entry:
                entry["value"] = local_addresses(str(entry["value"]), NAMESPACE, services or {})
    return template


def write_runner_job_template(path: Path, **options: Any) -> Path:
    """``runner_job_template(**options)`` written as YAML to ``path`` (what RUNNER_JOB_TEMPLATE points at)."""
    path.write_text(yaml.safe_dump(runner_job_template(**options), sort_keys=False))
    return path


def local_addresses(value: str, namespace: str, services: Mapping[tuple[str, int], int]) -> str:
    """``value`` with every in-cluster address of each (Service, port) rewritten to ``127.0.0.1:<local port>``."""
    ns = re.escape(namespace)
    for (service, port), local_port in services.items():
        pattern = rf"(?<![\w.-]){re.escape(service)}(?:\.{ns}(?:\.svc(?:\.cluster\.local)?)?)?:{port}(?!\d)"
        value = re.sub(pattern, f"127.0.0.1:{local_port}", value)
    return value
