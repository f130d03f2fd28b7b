"""Render charts/cloudemy with ``helm template`` and hand back parsed manifests, cached for the session.

``render_chart(values=..., helm=...)`` is the one entry point of the chart tests, in the spirit of
Apache Airflow's helm-tests: it writes the values to a file, runs ``helm template`` with helm 3 or helm 4 from
.tools/bin, and returns the rendered objects as dicts. Identical renders are served from a cache, so every scenario
is rendered once per helm however many tests look at it (that keeps the suite fast).
"""

import functools
import json
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "cloudemy"
# The keys of the chart's own Secret; an existingSecret must hold them instead.
CHART_SECRET_KEYS = frozenset(
    {
        "LLM_API_KEY",
        "INTERNAL_RESULT_TOKEN",
        "JWT_SECRET",
        "CLOUDEMY_ADMIN_PASSWORD",
        "MONGODB_ROOT_PASSWORD",
        "MONGODB_APP_PASSWORD",
        "REDIS_PASSWORD",
        "REDIS_RUNNER_PASSWORD",
    }
)
TOOLS = ROOT / ".tools" / "bin"
HELMS = ("helm3", "helm4")
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
RELEASE = "cloudemy"
NAMESPACE = "cloudemy"

# The restricted Pod Security Standard's container fields, as every container of the chart sets them.
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
SMALL = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "50m", "memory": "32Mi"}}
# Components whose Pods take every escape hatch (the runner Job takes all but sidecars and pdb).
EXTENDED_COMPONENTS = ("backend", "scheduler", "frontend", "mongodb", "redis", "runner")


def extended_component(component: str) -> dict[str, Any]:
    """Every escape hatch of one component, with templated values that name the release."""
    extra_container = {"image": "busybox:1.37", "resources": SMALL, "securityContext": RESTRICTED}
    values: dict[str, Any] = {
        "extraEnv": [{"name": "EXTRA_RELEASE", "value": "{{ .Release.Name }}"}],
        "extraEnvFrom": [{"configMapRef": {"name": "{{ .Release.Name }}-settings"}}],
        "extraVolumes": [{"name": "ca", "configMap": {"name": "{{ .Release.Name }}-ca"}}],
        "extraVolumeMounts": [{"name": "ca", "mountPath": "/etc/ssl/private-ca", "readOnly": True}],
        "initContainers": [{"name": "wait", "command": ["true"], **extra_container}],
        "podAnnotations": {"vault.hashicorp.com/agent-inject": "true"},
        "priorityClassName": "cloudemy-high",
        "topologySpreadConstraints": [
            {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway"}
        ],
        "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/cloudemy"}},
    }
    if component != "runner":
        values["sidecars"] = [{"name": "agent", "command": ["sleep", "infinity"], **extra_container}]
        values["podLabels"] = {"team": "edu", "app.kubernetes.io/component": "hijacked"}
        values["pdb"] = {"enabled": True, "maxUnavailable": 1}
    else:
        values["extraLabels"] = {"team": "edu"}
    if component == "frontend":
        values.update({"enabled": True, "image": {"repository": "example/cloudemy-frontend"}})
    return values


# The toggles the issue asks for, each a values file list plus inline values; "prod" and "minikube" are the
# shipped per-environment files. Every test that loops over scenarios loops over these.
SCENARIOS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "default": ((), {}),
    "minikube": (("values/minikube.yaml",), {}),
    "prod": (("values/prod.yaml",), {}),
    "persistence": ((), {"mongodb": {"persistence": {"enabled": True}}, "redis": {"persistence": {"enabled": True}}}),
    "external-databases": (
        (),
        {
            "mongodb": {"enabled": False},
            "redis": {"enabled": False},
            "externalMongodb": {"uri": "mongodb+srv://app:s3cret@db.example.org/?retryWrites=true"},
            "externalRedis": {"url": "rediss://:s3cret@cache.example.org:6380/0"},
        },
    ),
    "external-databases-secrets": (
        ("values/prod.yaml",),
        {
            "mongodb": {"enabled": False},
            "redis": {"enabled": False},
            "externalMongodb": {"existingSecret": "atlas", "existingSecretKey": "uri"},
            "externalRedis": {"existingSecret": "memorystore", "existingSecretKey": "url"},
            "networkPolicy": {"externalDatabases": {"cidrs": ["10.20.0.0/16"]}},
        },
    ),
    "existing-secret": ((), {"secrets": {"existingSecret": "my-credentials"}}),
    "ingress-off": ((), {"ingress": {"enabled": False}}),
    "frontend-on": ((), {"frontend": {"enabled": True, "image": {"repository": "example/cloudemy-frontend"}}}),
    "tls": ((), {"ingress": {"tls": {"enabled": True}, "className": "nginx"}}),
    "networkpolicy-on": (
        (),
        {"networkPolicy": {"enabled": True}, "frontend": {"enabled": True, "image": {"repository": "example/fe"}}},
    ),
    "networkpolicy-off": (("values/prod.yaml",), {"networkPolicy": {"enabled": False}}),
    "hpa-off": ((), {"backend": {"autoscaling": {"enabled": False}, "replicaCount": 3}}),
    "two-schedulers": ((), {"scheduler": {"replicaCount": 2}}),
    "ci-default": (("charts/cloudemy/ci/default-values.yaml",), {}),
    "ci-persistence": (("charts/cloudemy/ci/persistence-values.yaml",), {}),
    "ci-networkpolicy": (("charts/cloudemy/ci/networkpolicy-values.yaml",), {}),
    "ci-extended": (("charts/cloudemy/ci/extended-values.yaml",), {}),
    "extended": (
        (),
        {
            **{component: extended_component(component) for component in EXTENDED_COMPONENTS},
            "commonLabels": {"cost-center": "teaching"},
            "commonAnnotations": {"example.org/owner": "platform-team"},
            "tests": {
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
            },
            "extraObjects": [
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "{{ .Release.Name }}-settings"},
                    "data": {"A": "1"},
                },
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-ca\ndata:\n  ca.crt: x\n",
            ],
            "networkPolicy": {"enabled": True},
        },
    ),
    "openshift": (
        (),
        {
            "global": {"compatibility": {"openshift": {"adaptSecurityContext": "force"}}},
            "networkPolicy": {
                "enabled": True,
                "dns": {
                    "port": 5353,
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "openshift-dns"}},
                    "podSelector": {
                        "matchLabels": {"k8s-app": None, "dns.operator.openshift.io/daemonset-dns": "default"}
                    },
                },
            },
            "mongodb": {"persistence": {"enabled": True}},
        },
    ),
    "monitoring": (
        (),
        {
            "metrics": {
                "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
                "prometheusRule": {"enabled": True},
                "dashboard": {"enabled": True, "annotations": {"grafana_folder": "Cloudemy"}},
            },
            "networkPolicy": {"enabled": True, "metricsNamespaceSelector": {"matchLabels": {"name": "monitoring"}}},
        },
    ),
    "httproute": (
        (),
        {
            "ingress": {"enabled": False, "host": "grading.example.edu", "apiDocs": True},
            "httpRoute": {"enabled": True, "parentRefs": [{"name": "edge", "namespace": "gateways"}]},
            "frontend": {"enabled": True, "image": {"repository": "example/cloudemy-frontend"}},
        },
    ),
    "runner-sandbox": (
        (),
        {
            "runner": {
                "runtimeClassName": "gvisor",
                "nodeSelector": {"cloudemy.io/pool": "runners"},
                "tolerations": [{"key": "cloudemy.io/runners", "operator": "Exists", "effect": "NoSchedule"}],
                "extraLabels": {"cost-center": "grading"},
            }
        },
    ),
}


class RenderError(Exception):
    """helm template failed; the message is helm's stderr."""


@dataclass(frozen=True)
class Render:
    """One ``helm template`` output: the text and the objects it holds."""

    text: str
    objects: tuple[dict[str, Any], ...]
    fullname: str = RELEASE
    """Prefix of every resource name: the release name, plus "-cloudemy" unless it already holds it."""

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def named(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        if len(found) != 1:
            raise LookupError(f"{len(found)} {kind} named {name}")
        return found[0]

    def component(self, kind: str, component: str) -> dict[str, Any]:
        found = [o for o in self.of_kind(kind) if labels(o).get("app.kubernetes.io/component") == component]
        if len(found) != 1:
            raise LookupError(f"{len(found)} {kind} of component {component}")
        return found[0]

    def job_template_text(self) -> str:
        """The ``job.yaml`` text inside the ``<release>-runner-job-template`` ConfigMap."""
        return self.named("ConfigMap", f"{self.fullname}-runner-job-template")["data"]["job.yaml"]

    def job_template(self) -> dict[str, Any]:
        """The runner Job manifest inside that ConfigMap."""
        return yaml.safe_load(self.job_template_text())

    def workloads(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(label, pod spec) of every Pod the release can run, including the runner Job template's."""
        for obj in self.objects:
            if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
                yield f"{obj['kind']}/{obj['metadata']['name']}", obj["spec"]["template"]["spec"]
            elif obj["kind"] == "Pod":
                yield f"Pod/{obj['metadata']['name']}", obj["spec"]
            elif obj["kind"] == "CronJob":
                yield f"CronJob/{obj['metadata']['name']}", obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        job = self.job_template()
        yield "runner Job template", job["spec"]["template"]["spec"]


def labels(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict(obj["metadata"].get("labels") or {})


def helm_binary(helm: str) -> str:
    return str(TOOLS / helm)


def _run_helm(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)


def values_args(values: Mapping[str, Any] | None, values_files: Iterable[str], workdir: str) -> list[str]:
    args: list[str] = []
    for name in values_files:
        args += ["-f", str(ROOT / name)]
    if values:
        path = Path(workdir) / "values.yaml"
        path.write_text(yaml.safe_dump(dict(values)))
        args += ["-f", str(path)]
    return args


@functools.lru_cache(maxsize=256)
def _render_cached(
    values_json: str, values_files: tuple[str, ...], helm: str, release: str, api_versions: tuple[str, ...]
) -> Render:
    values = json.loads(values_json)
    with tempfile.TemporaryDirectory() as workdir:
        args = [helm_binary(helm), "template", release, str(CHART), "--namespace", NAMESPACE]
        args += values_args(values, values_files, workdir)
        for api_version in api_versions:
            args += ["--api-versions", api_version]
        done = _run_helm(args)
    if done.returncode != 0:
        raise RenderError(done.stderr.strip())
    objects = tuple(doc for doc in yaml.load_all(done.stdout, Loader=LOADER) if doc)
    fullname = release if "cloudemy" in release else f"{release}-cloudemy"
    return Render(text=done.stdout, objects=objects, fullname=fullname)


def render_chart(
    values: Mapping[str, Any] | None = None,
    *,
    values_files: Iterable[str] = (),
    helm: str = "helm3",
    release: str = RELEASE,
    api_versions: Iterable[str] = (),
) -> Render:
    """``helm template`` the chart (release "cloudemy", namespace "cloudemy"); raises RenderError on failure.
    ``api_versions`` are extra API group/versions the "cluster" serves (``.Capabilities.APIVersions``)."""
    values_json = json.dumps(values or {}, sort_keys=True)
    return _render_cached(values_json, tuple(values_files), helm, release, tuple(api_versions))


def render_scenario(name: str, helm: str = "helm3") -> Render:
    files, values = SCENARIOS[name]
    return render_chart(values, values_files=files, helm=helm)


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def merged_values(scenario: str) -> dict[str, Any]:
    """A scenario's values files and inline values merged as helm does (without the chart's defaults)."""
    files, values = SCENARIOS[scenario]
    merged: dict[str, Any] = {}
    for name in files:
        merged = _deep_merge(merged, yaml.safe_load((ROOT / name).read_text()) or {})
    return _deep_merge(merged, values)


def render_error(values: Mapping[str, Any], helm: str = "helm3") -> str:
    """helm's error message for values that must not render (fails the test when they do)."""
    try:
        render_chart(values, helm=helm)
    except RenderError as error:
        return str(error)
    raise AssertionError(f"{helm} rendered values that should be rejected: {values}")


def lint(values_files: Iterable[str], values: Mapping[str, Any] | None, helm: str) -> subprocess.CompletedProcess[str]:
    """``helm lint --strict`` with the given values."""
    with tempfile.TemporaryDirectory() as workdir:
        args = [helm_binary(helm), "lint", "--strict", str(CHART), "--namespace", NAMESPACE]
        args += values_args(values, values_files, workdir)
        return _run_helm(args)


def main_container(render: Render, kind: str, component: str) -> dict[str, Any]:
    """The first container of one component's workload."""
    return render.component(kind, component)["spec"]["template"]["spec"]["containers"][0]


def env_of(container: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A container's env by variable name."""
    return {entry["name"]: entry for entry in container.get("env") or []}


def containers_of(pod_spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(pod_spec.get("initContainers") or []) + list(pod_spec["containers"])
