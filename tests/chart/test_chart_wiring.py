"""Wiring: every in-cluster URL reaches a Service of the same release on the right port, every secretKeyRef names
a key that exists, every $(VAR) is defined before it is used, and the Ingress never routes /internal."""

import base64
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from chart_render import (
    CHART_SECRET_KEYS,
    NAMESPACE,
    SCENARIOS,
    Render,
    containers_of,
    env_of,
    labels,
    main_container,
    merged_values,
    render_chart,
    render_scenario,
)

VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
DEFAULT_PORTS = {"http": 80, "https": 443, "mongodb": 27017, "redis": 6379, "rediss": 6379}
# URLs that leave the cluster on purpose: the LLM endpoint and what browsers use.
PUBLIC_URL_VARS = {"LLM_BASE_URL", "CORS_ORIGINS", "NEXT_PUBLIC_API_BASE_URL", "PUBLIC_BASE_URL"}


def all_containers(render: Render) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(where, pod spec, container) for every container the release can run."""
    return [(f"{where}/{c['name']}", pod, c) for where, pod in render.workloads() for c in containers_of(pod)]


def service_at(render: Render, host: str) -> dict[str, Any] | None:
    short = host.split(".")[0]
    suffixes = ("", f".{NAMESPACE}", f".{NAMESPACE}.svc", f".{NAMESPACE}.svc.cluster.local")
    if host not in {short + s for s in suffixes}:
        return None
    return next((s for s in render.of_kind("Service") if s["metadata"]["name"] == short), None)


def pods_behind(render: Render, service: dict[str, Any]) -> list[dict[str, Any]]:
    selector = service["spec"].get("selector") or {}
    found = []
    for obj in render.objects:
        if obj["kind"] in ("Deployment", "StatefulSet"):
            pod_labels = obj["spec"]["template"]["metadata"]["labels"]
            if selector and all(pod_labels.get(k) == v for k, v in selector.items()):
                found.append(obj["spec"]["template"]["spec"])
    return found


def resolve_placeholders(value: str) -> str:
    return VAR_REF.sub("placeholder", value)


def in_cluster_urls(render: Render) -> list[tuple[str, str, str]]:
    """(where, variable, url) of every URL-valued env entry except the public ones."""
    found = []
    for where, _pod, container in all_containers(render):
        for name, entry in env_of(container).items():
            value = entry.get("value")
            if isinstance(value, str) and "://" in value and name not in PUBLIC_URL_VARS:
                found.append((where, name, value))
    return found


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_in_cluster_url_reaches_a_rendered_service_on_its_port(scenario: str) -> None:
    render = render_scenario(scenario)
    urls = in_cluster_urls(render)
    assert urls, "the chart builds URLs from Service names"
    for where, name, value in urls:
        url = urlsplit(resolve_placeholders(value))
        service = service_at(render, url.hostname or "")
        assert service is not None, f"{where} {name}={value}: no Service of this release is called {url.hostname}"
        port = url.port or DEFAULT_PORTS[url.scheme]
        service_ports = {p["port"]: p for p in service["spec"]["ports"]}
        assert port in service_ports, f"{where} {name}: {service['metadata']['name']} has no port {port}"
        target = service_ports[port]["targetPort"]
        pods = pods_behind(render, service)
        assert pods, f"{service['metadata']['name']} selects no Pod of the release"
        for pod in pods:
            container_ports = {p.get("name"): p["containerPort"] for c in pod["containers"] for p in c.get("ports", [])}
            assert target in container_ports or target in container_ports.values(), (
                f"{name}: {target} is not a container port"
            )


@pytest.mark.parametrize("scenario", ["default", "prod", "existing-secret", "tls", "hpa-off"])
def test_the_services_urls_point_where_the_architecture_says(scenario: str) -> None:
    render = render_scenario(scenario)
    expected = {
        "MONGO_URI": "mongodb://cloudemy:$(MONGODB_APP_PASSWORD)@cloudemy-mongodb:27017/cloudemy?authSource=cloudemy&replicaSet=rs0",
        "REDIS_URL": "redis://:$(REDIS_PASSWORD)@cloudemy-redis:6379/0",
        "RUNNER_REDIS_URL": "redis://cloudemy-runner:$(REDIS_PASSWORD)@cloudemy-redis:6379/0",
        "BACKEND_INTERNAL_URL": "http://cloudemy-backend:8000/internal",
    }
    users = {
        "MONGO_URI": ["Deployment/cloudemy-backend/backend"],
        "REDIS_URL": [
            "Deployment/cloudemy-backend/backend",
            "Deployment/cloudemy-scheduler/scheduler",
        ],
        "BACKEND_INTERNAL_URL": [
            "Deployment/cloudemy-scheduler/scheduler",
            "runner Job template/runner",
        ],
    }
    containers = {where: c for where, _pod, c in all_containers(render)}
    for variable, wheres in users.items():
        for where in wheres:
            assert env_of(containers[where])[variable]["value"] == expected[variable], (where, variable)
    # runner Jobs log in as their own least-privilege user, with that user's password
    runner = env_of(containers["runner Job template/runner"])
    assert runner["REDIS_URL"]["value"] == expected["RUNNER_REDIS_URL"]
    assert runner["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "REDIS_RUNNER_PASSWORD"
    assert "MONGO_URI" not in env_of(containers["Deployment/cloudemy-scheduler/scheduler"]), (
        "only the backend talks to MongoDB"
    )
    assert "BACKEND_INTERNAL_URL" not in env_of(containers["Deployment/cloudemy-backend/backend"]), (
        "the backend serves the internal API; it never calls it"
    )


def test_names_derive_from_the_release() -> None:
    render = render_scenario("default")
    for obj in render.objects:
        assert obj["metadata"]["name"].startswith("cloudemy"), obj["metadata"]["name"]
        assert obj["metadata"]["namespace"] == NAMESPACE


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_var_reference_is_defined_earlier_in_the_same_env(scenario: str) -> None:
    render = render_scenario(scenario)
    for where, _pod, container in all_containers(render):
        defined: set[str] = set()
        for entry in container.get("env") or []:
            for ref in VAR_REF.findall(entry.get("value", "")):
                assert ref in defined, f"{where}: {entry['name']} uses $({ref}) before it is defined"
            defined.add(entry["name"])
        for arg in (container.get("command") or []) + (container.get("args") or []):
            for ref in VAR_REF.findall(arg):
                assert ref in defined, f"{where}: command uses $({ref}) which is not in its env"


def generated_keys(render: Render) -> set[str]:
    """The keys the secret-init hook Job creates in <fullname>-generated (none without the hook)."""
    for job in render.of_kind("Job"):
        if job["metadata"]["name"] == f"{render.fullname}-secret-init":
            env = env_of(job["spec"]["template"]["spec"]["containers"][0])
            return set(env["SECRET_KEYS"]["value"].split(","))
    return set()


def secret_refs(render: Render) -> list[tuple[str, str, str]]:
    """(where, secret name, key) of every secretKeyRef."""
    refs = []
    for where, _pod, container in all_containers(render):
        for entry in container.get("env") or []:
            ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                refs.append((where, ref["name"], ref["key"]))
    return refs


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_secret_key_ref_names_a_key_that_exists(scenario: str) -> None:
    render = render_scenario(scenario)
    values = merged_values(scenario)
    rendered = {s["metadata"]["name"]: set(s["data"]) for s in render.of_kind("Secret")}
    existing = {}
    generated = generated_keys(render)
    if generated:
        existing[f"{render.fullname}-generated"] = generated
    if values.get("secrets", {}).get("existingSecret"):
        existing[values["secrets"]["existingSecret"]] = CHART_SECRET_KEYS
    for section in ("externalMongodb", "externalRedis"):
        if values.get(section, {}).get("existingSecret"):
            existing[values[section]["existingSecret"]] = {values[section]["existingSecretKey"]}
    refs = secret_refs(render)
    assert refs
    for where, name, key in refs:
        keys = rendered.get(name, existing.get(name))
        assert keys is not None, f"{where}: Secret {name} is neither rendered nor a configured existing Secret"
        assert key in keys, f"{where}: Secret {name} has no key {key}"


def test_existing_secret_replaces_the_chart_secret_entirely() -> None:
    render = render_scenario("existing-secret")
    assert render.of_kind("Secret") == []
    names = {name for _where, name, _key in secret_refs(render)}
    assert names == {"my-credentials"}
    # It must hold exactly the keys the chart's own Secret would hold (documented in values.yaml).
    default = render_scenario("default")
    own = set(default.named("Secret", "cloudemy")["data"]) | generated_keys(default)
    assert {key for _w, _n, key in secret_refs(render)} <= own == CHART_SECRET_KEYS


def test_external_database_urls_come_from_secrets() -> None:
    render = render_scenario("external-databases")
    secret = render.named("Secret", "cloudemy")
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert decoded["MONGO_URI"].startswith("mongodb+srv://")
    assert decoded["REDIS_URL"].startswith("rediss://")
    assert "MONGODB_ROOT_PASSWORD" not in decoded
    containers = {where: c for where, _pod, c in all_containers(render)}
    backend = env_of(containers["Deployment/cloudemy-backend/backend"])
    assert backend["MONGO_URI"]["valueFrom"]["secretKeyRef"] == {"name": "cloudemy", "key": "MONGO_URI"}
    runner = env_of(containers["runner Job template/runner"])
    assert runner["REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "cloudemy", "key": "REDIS_URL"}
    with_secrets = render_scenario("external-databases-secrets")
    backend = env_of(with_secrets.component("Deployment", "backend")["spec"]["template"]["spec"]["containers"][0])
    assert backend["MONGO_URI"]["valueFrom"]["secretKeyRef"] == {"name": "atlas", "key": "uri"}
    assert backend["REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "memorystore", "key": "url"}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_no_secret_value_is_written_outside_the_secret(scenario: str) -> None:
    render = render_scenario(scenario)
    others = "\n".join(
        line for line in render.text.split("\n---")
        if "kind: Secret\n" not in line
    )  # fmt: skip
    for secret in render.of_kind("Secret"):
        for key, encoded in secret["data"].items():
            value = base64.b64decode(encoded).decode()
            if value:
                assert value not in others, f"{key} appears outside the Secret"
    assert "s3cret" not in others


def ingress_routes(render: Render) -> dict[str, tuple[str, int]]:
    (ingress,) = render.of_kind("Ingress")
    (rule,) = ingress["spec"]["rules"]
    # An Exact path wins over a Prefix one of the same text (the built-in UI's page at "/").
    paths = sorted(rule["http"]["paths"], key=lambda p: p["pathType"] == "Exact")
    return {p["path"]: (p["backend"]["service"]["name"], p["backend"]["service"]["port"]["number"]) for p in paths}


@pytest.mark.parametrize("scenario", ["default", "frontend-on", "tls", "prod", "minikube"])
def test_ingress_routes_api_and_ui_and_never_internal(scenario: str) -> None:
    render = render_scenario(scenario)
    routes = ingress_routes(render)
    assert routes["/api"] == ("cloudemy-backend", 8000)
    ui = ("cloudemy-frontend", 3000) if scenario == "frontend-on" else ("cloudemy-backend", 8000)
    assert routes["/"] == ui
    # Ingress picks the longest matching prefix: /internal (and, with the built-in UI, every path but the
    # UI's and the API's) goes to a Service that selects no Pod (test_chart_ingress_routing.py has the rest).
    blocked_name, blocked_port = routes.get("/internal", (f"{render.fullname}-internal-blocked", 80))
    blocked = render.named("Service", blocked_name)
    assert "selector" not in blocked["spec"]
    assert blocked_port in {p["port"] for p in blocked["spec"]["ports"]}
    assert all(name != "cloudemy-backend" for path, (name, _) in routes.items() if path.startswith("/internal"))
    for name, port in routes.values():
        assert port in {p["port"] for p in render.named("Service", name)["spec"]["ports"]}


def test_ingress_settings() -> None:
    (ingress,) = render_scenario("minikube").of_kind("Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["rules"][0]["host"] == "cloudemy.local"
    assert "tls" not in ingress["spec"]
    (tls_ingress,) = render_scenario("tls").of_kind("Ingress")
    assert tls_ingress["spec"]["tls"] == [{"hosts": ["cloudemy.local"], "secretName": "cloudemy-tls"}]
    assert render_scenario("ingress-off").of_kind("Ingress") == []


def test_browser_facing_urls_use_the_public_host() -> None:
    frontend = render_scenario("frontend-on").component("Deployment", "frontend")["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert env_of(frontend)["NEXT_PUBLIC_API_BASE_URL"]["value"] == "http://cloudemy.local/api"
    backend = render_scenario("tls").component("Deployment", "backend")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(backend)["CORS_ORIGINS"]["value"] == "https://cloudemy.local"


def test_selectors_use_only_stable_labels() -> None:
    render = render_scenario("prod")
    stable = {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"}
    for obj in render.objects:
        if obj["kind"] in ("Deployment", "StatefulSet", "PodDisruptionBudget"):
            assert set(obj["spec"]["selector"]["matchLabels"]) == stable, obj["metadata"]["name"]
        if obj["kind"] == "Service" and obj["spec"].get("selector"):
            assert set(obj["spec"]["selector"]) == stable, obj["metadata"]["name"]
        assert {"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/version"} <= set(labels(obj))


def test_two_releases_share_no_name_and_wire_only_to_their_own_services() -> None:
    """Fixed names (backend, mongo, redis) would clash between releases; the chart's derive from the release."""
    renders = {
        release: render_chart(values_files=["values/prod.yaml"], release=release) for release in ("math", "physics")
    }
    names = {release: {(o["kind"], o["metadata"]["name"]) for o in r.objects} for release, r in renders.items()}
    assert names["math"].isdisjoint(names["physics"])
    backend = env_of(main_container(renders["physics"], "Deployment", "backend"))
    assert (
        backend["MONGO_URI"]["value"]
        == "mongodb://cloudemy:$(MONGODB_APP_PASSWORD)@physics-cloudemy-mongodb:27017/cloudemy?authSource=cloudemy&replicaSet=rs0"
    )
    runner = env_of(renders["physics"].job_template()["spec"]["template"]["spec"]["containers"][0])
    assert runner["BACKEND_INTERNAL_URL"]["value"] == "http://physics-cloudemy-backend:8000/internal"
    assert runner["REDIS_URL"]["value"] == "redis://cloudemy-runner:$(REDIS_PASSWORD)@physics-cloudemy-redis:6379/0"
    assert renders["math"].named("ConfigMap", "math-cloudemy-runner-job-template")
