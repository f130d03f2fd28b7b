"""The rendered chart as the e2e suite sees it: objects, Secrets, Services, and container env resolved locally.

``render_release`` runs ``helm template`` on charts/cloudemy with a values file (``demo.chart``); ``LocalEnv`` turns
a container's env into a plain mapping with the kubelet's rules (``cloudemy_scheduler.executors.kubelet_env``, the
resolver the local executor uses too, in strict mode: a missing Secret key fails), then rewrites every in-cluster
Service address to the 127.0.0.1 port that stands in for that Service (``demo.chart.local_addresses``). So a wrong
env name, port or Secret key in the chart fails.
"""

import base64
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudemy_scheduler.executors.kubelet_env import resolve_env
from demo.chart import job_template_of, local_addresses, render, run_install_hooks


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

    def service_ports(self) -> dict[str, dict[str, int]]:
        """Service name -> {port name: port}."""
        return {
            svc["metadata"]["name"]: {p.get("name", str(p["port"])): int(p["port"]) for p in svc["spec"]["ports"]}
            for svc in self.all("Service")
        }

    def job_template(self) -> dict[str, Any]:
        """The runner Job template from the ``*-runner-job-template`` ConfigMap."""
        return job_template_of(self.objects)

    def redis_acl_file(self, directory: Path) -> Path:
        """The bundled Redis' ACL file, made as its Pod makes it: the StatefulSet's init container ``acl`` (its
        command and env from the manifest) runs here, with each volume it mounts as a folder under ``directory``
        (the Secret files from the rendered and hook-generated Secrets). Returns the file ``--aclfile`` names."""
        pod = self.component("StatefulSet", "redis")["spec"]["template"]["spec"]
        (init,) = [c for c in pod["initContainers"] if c["name"] == "acl"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        secrets = self.secrets()
        local: dict[str, str] = {}
        for mount in init["volumeMounts"]:
            folder = directory / mount["name"]
            folder.mkdir(parents=True, exist_ok=True)
            local[mount["mountPath"].rstrip("/")] = str(folder)
            for source in volumes[mount["name"]].get("projected", {}).get("sources", []):
                for item in source["secret"]["items"]:
                    (folder / item["path"]).write_text(secrets[source["secret"]["name"]][item["key"]])

        def here(value: str) -> str:
            for path, folder in local.items():
                if value == path or value.startswith(path + "/"):
                    return folder + value[len(path) :]
            return value

        env = {e["name"]: here(e["value"]) for e in init["env"]}
        subprocess.run(init["command"], env={**env, "PATH": os.environ["PATH"]}, check=True, capture_output=True,
                       text=True, timeout=30)  # fmt: skip
        command = container(pod, "redis")["command"]
        return Path(here(command[command.index("--aclfile") + 1]))


def render_release(
    values_file: Path,
    *,
    name: str = "cloudemy",
    namespace: str = "default",
    set_values: list[str] | None = None,
    set_strings: list[str] | None = None,
) -> Release:
    objects = render(values_files=[values_file], set_values=set_values or [], set_strings=set_strings or [],
                     name=name, namespace=namespace)  # fmt: skip
    return Release(name, namespace, objects + run_install_hooks(objects, namespace))


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
        secrets = self.release.secrets()
        fields = {"metadata.namespace": self.release.namespace, "metadata.name": self.pod_name}
        env = resolve_env(item, lambda name, key: secrets.get(name, {}).get(key), fields=fields, strict=True)
        env = {k: self.localize(v) for k, v in env.items()}
        env.update(overrides or {})
        return env

    def localize(self, value: str) -> str:
        """Rewrite every in-cluster address of a mapped Service to 127.0.0.1 and its local port."""
        ports = self.release.service_ports()
        services = {
            (svc, port): local for svc, local in self.service_map.items() for port in ports.get(svc, {}).values()
        }
        return local_addresses(value, self.release.namespace, services)
