"""The rendered chart as the e2e suite sees it: objects, Secrets, Services, and container env resolved locally.

``render_release`` runs ``helm template`` on charts/cloudemy with a values file; ``LocalEnv`` turns a container's
env (values, ``secretKeyRef``, ``configMapKeyRef``, ``fieldRef``, ``$(VAR)`` references) into a plain mapping, with
every in-cluster Service address (``name``, ``name.ns``, ``name.ns.svc``, ``name.ns.svc.cluster.local``) rewritten
to the 127.0.0.1 port that stands in for that Service. So a wrong env name, port or Secret key in the chart fails.
"""

import base64
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "cloudemy"
HELM = ROOT / ".tools" / "bin" / "helm3"
_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


@dataclass
class Release:
    """Every object one ``helm template`` rendered."""

    name: str
    namespace: str
    objects: list[dict[str, Any]]

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") == kind]

    def component(self, kind: str, component: str) -> dict[str, Any]:
        found = [
            o for o in self.all(kind) if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component
        ]
        if len(found) != 1:
            raise LookupError(f"expected one {kind} of component {component}, found {len(found)}")
        return found[0]

    def service_name(self, component: str) -> str:
        """The client-facing (not headless) Service of a component."""
        found = [
            s["metadata"]["name"]
            for s in self.all("Service")
            if s["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component
            and s["spec"].get("clusterIP") != "None"
        ]
        if len(found) != 1:
            raise LookupError(f"expected one Service of component {component}, found {found}")
        return found[0]

    def secrets(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for secret in self.all("Secret"):
            data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
            data.update(secret.get("stringData") or {})
            out[secret["metadata"]["name"]] = data
        return out

    def config_maps(self) -> dict[str, dict[str, str]]:
        return {cm["metadata"]["name"]: dict(cm.get("data") or {}) for cm in self.all("ConfigMap")}

    def service_ports(self) -> dict[str, dict[str, int]]:
        """Service name -> {port name: port}."""
        return {
            svc["metadata"]["name"]: {p.get("name", str(p["port"])): int(p["port"]) for p in svc["spec"]["ports"]}
            for svc in self.all("Service")
        }

    def job_template(self) -> dict[str, Any]:
        """The runner Job template from the ``*-runner-job-template`` ConfigMap."""
        for name, data in self.config_maps().items():
            if name.endswith("-runner-job-template"):
                return yaml.safe_load(data["job.yaml"])
        raise LookupError("no runner Job template ConfigMap rendered")


def render_release(
    values_file: Path,
    *,
    name: str = "cloudemy",
    namespace: str = "default",
    set_values: list[str] | None = None,
    set_strings: list[str] | None = None,
) -> Release:
    argv = [str(HELM), "template", name, str(CHART), "--namespace", namespace, "-f", str(values_file)]
    for item in set_values or []:
        argv += ["--set", item]
    for item in set_strings or []:
        argv += ["--set-string", item]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60).stdout
    return Release(name, namespace, [doc for doc in yaml.safe_load_all(out) if doc])


def container(pod_spec: dict[str, Any], name: str) -> dict[str, Any]:
    for item in pod_spec["containers"]:
        if item["name"] == name:
            return item
    raise LookupError(f"no container {name!r}")


@dataclass
class LocalEnv:
    """Resolves container env the way kubelet would, against rendered objects and local ports."""

    release: Release
    service_map: dict[str, int] = field(default_factory=dict)  # Service name -> local port
    pod_name: str = "local-pod"

    def resolve(self, item: dict[str, Any], overrides: dict[str, str] | None = None) -> dict[str, str]:
        secrets, config_maps = self.release.secrets(), self.release.config_maps()
        env: dict[str, str] = {}
        for source in item.get("envFrom") or []:
            if "secretRef" in source:
                env.update(secrets[source["secretRef"]["name"]])
            elif "configMapRef" in source:
                env.update(config_maps[source["configMapRef"]["name"]])
        for entry in item.get("env") or []:
            value = self._value(entry, secrets, config_maps)
            if value is not None:
                env[entry["name"]] = _VAR_REF.sub(lambda m: env.get(m.group(1), m.group(0)), value)
        env = {k: self.localize(v) for k, v in env.items()}
        env.update(overrides or {})
        return env

    def _value(
        self, entry: dict[str, Any], secrets: dict[str, dict[str, str]], config_maps: dict[str, dict[str, str]]
    ) -> str | None:
        if "value" in entry:
            return str(entry["value"])
        ref = entry.get("valueFrom") or {}
        if "secretKeyRef" in ref:
            return self._lookup(secrets, ref["secretKeyRef"], "Secret")
        if "configMapKeyRef" in ref:
            return self._lookup(config_maps, ref["configMapKeyRef"], "ConfigMap")
        if "fieldRef" in ref:
            path = ref["fieldRef"]["fieldPath"]
            fields = {"metadata.namespace": self.release.namespace, "metadata.name": self.pod_name}
            return fields.get(path, "")
        if "resourceFieldRef" in ref:
            return "1"
        return ""

    @staticmethod
    def _lookup(source: dict[str, dict[str, str]], ref: dict[str, Any], kind: str) -> str | None:
        data = source.get(ref["name"])
        if data is None or ref["key"] not in data:
            if ref.get("optional"):
                return None
            raise LookupError(f"{kind} {ref['name']!r} has no key {ref['key']!r}")
        return data[ref["key"]]

    def localize(self, value: str) -> str:
        """Rewrite every in-cluster address of a mapped Service to 127.0.0.1 and its local port."""
        ports = self.release.service_ports()
        ns = re.escape(self.release.namespace)
        for svc, local_port in self.service_map.items():
            for port in ports.get(svc, {}).values():
                pattern = rf"(?<![\w.-]){re.escape(svc)}(?:\.{ns}(?:\.svc(?:\.cluster\.local)?)?)?:{port}(?!\d)"
                value = re.sub(pattern, f"127.0.0.1:{local_port}", value)
        return value
