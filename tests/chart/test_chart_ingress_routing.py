"""The Ingress routes only what browsers need (/api, the UI, optionally the API docs); /metrics, /readyz,
/healthz and /internal never reach the backend from outside, for every values file the project ships.

Paths are matched as the Ingress API defines it: an Exact path first, then the longest Prefix whose
path elements match."""

from typing import Any

import pytest
from chart_render import ROOT, render_chart

VALUES_FILES = sorted(
    str(path.relative_to(ROOT)) for path in [*ROOT.glob("values/*.yaml"), *ROOT.glob("charts/cloudemy/ci/*.yaml")]
)
CLUSTER_ONLY = ["/metrics", "/readyz", "/healthz", "/internal", "/internal/submissions/x/result", "/metricsx"]
DOCS = ["/docs", "/docs/assets/swagger-ui.css", "/redoc", "/openapi.json"]


def route(ingress: dict[str, Any], path: str) -> str | None:
    """The Service name the Ingress sends ``path`` to (None: no rule matches)."""
    rules = [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    for rule in rules:
        if rule["pathType"] == "Exact" and rule["path"] == path:
            return rule["backend"]["service"]["name"]
    best: tuple[int, str] | None = None
    for rule in rules:
        if rule["pathType"] != "Prefix":
            continue
        prefix = rule["path"].rstrip("/")
        if path == prefix or path.startswith(prefix + "/") or prefix == "":
            length = len(prefix)
            if best is None or length > best[0]:
                best = (length, rule["backend"]["service"]["name"])
    return best[1] if best else None


def ingress_of(values_file: str, **values: Any) -> tuple[dict[str, Any], str]:
    render = render_chart(values, values_files=[values_file])
    ingresses = render.of_kind("Ingress")
    if not ingresses:
        pytest.skip(f"{values_file} renders no Ingress")
    return ingresses[0], render.fullname


def test_every_shipped_values_file_is_checked() -> None:
    assert "values/prod.yaml" in VALUES_FILES
    assert "values/minikube.yaml" in VALUES_FILES
    assert any(name.startswith("charts/cloudemy/ci/") for name in VALUES_FILES)


@pytest.mark.parametrize("values_file", VALUES_FILES)
@pytest.mark.parametrize("frontend", [False, True])
def test_cluster_only_paths_never_reach_the_backend(values_file: str, frontend: bool) -> None:
    frontend_values = {"enabled": True, "image": {"repository": "example.org/cloudemy-frontend"}} if frontend else {}
    ingress, fullname = ingress_of(values_file, frontend=frontend_values)
    backend = f"{fullname}-backend"
    for path in CLUSTER_ONLY:
        assert route(ingress, path) != backend, f"{values_file}: {path} is routed to the backend"
    assert route(ingress, "/api/submissions/abc") == backend
    assert route(ingress, "/api") == backend
    ui = f"{fullname}-frontend" if frontend else backend
    assert route(ingress, "/") == ui
    if not frontend:
        assert route(ingress, "/ui/js/app.js") == backend
        assert route(ingress, "/index.php") != backend  # anything else is not the backend's


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_api_docs_are_routed_only_when_asked(values_file: str) -> None:
    for enabled in (False, True):
        ingress, fullname = ingress_of(values_file, ingress={"apiDocs": enabled})
        for path in DOCS:
            assert (route(ingress, path) == f"{fullname}-backend") is enabled, (values_file, path, enabled)


def test_prod_keeps_the_docs_private_and_minikube_shows_them() -> None:
    prod, _ = ingress_of("values/prod.yaml")
    minikube, fullname = ingress_of("values/minikube.yaml")
    assert route(prod, "/docs") != f"{fullname}-backend"
    assert route(minikube, "/docs") == f"{fullname}-backend"


def test_unrouted_paths_go_to_a_service_without_endpoints() -> None:
    render = render_chart(values_files=["values/prod.yaml"])
    ingress = render.of_kind("Ingress")[0]
    blocked = render.named("Service", route(ingress, "/metrics") or "")
    assert "selector" not in blocked["spec"]
    assert not [o for o in render.of_kind("Endpoints") if o["metadata"]["name"] == blocked["metadata"]["name"]]


def test_the_backend_believes_the_ingress_controllers_forwarded_for() -> None:
    """The per-address login and sign-up limits need the real client address, not the controller's."""
    for values in ({}, {"backend": {"forwardedAllowIps": "10.42.0.0/16"}}):
        render = render_chart(values, values_files=["values/prod.yaml"])
        (container,) = render.component("Deployment", "backend")["spec"]["template"]["spec"]["containers"]
        env = {entry["name"]: entry.get("value") for entry in container["env"]}
        assert env["FORWARDED_ALLOW_IPS"] == (values.get("backend") or {}).get("forwardedAllowIps", "*")
