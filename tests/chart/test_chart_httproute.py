"""Gateway API: httpRoute.enabled renders an HTTPRoute that routes exactly the paths the Ingress routes (/api,
the UI, optionally the API docs) to the same Services; the Gateway answers 404 for everything else.

HTTPRoute matching as the Gateway API defines it: an Exact match first, then the longest PathPrefix whose path
elements match."""

from typing import Any

import pytest
from chart_render import RELEASE, render_chart, render_error
from test_chart_ingress_routing import CLUSTER_ONLY, DOCS, route

ON = {"httpRoute": {"enabled": True, "parentRefs": [{"name": "edge", "namespace": "gateways", "sectionName": "https"}]}}
PATHS = ["/", "/api", "/api/submissions/abc", "/ui/app.js", "/ui", "/login", "/assignments/1", "/uix", "/apix",
         *DOCS, *CLUSTER_ONLY]  # fmt: skip
FRONTEND = {"enabled": True, "image": {"repository": "example.org/cloudemy-frontend"}}


def http_route(httproute: dict[str, Any], path: str) -> str | None:
    """The Service name the HTTPRoute sends ``path`` to (None: the Gateway answers 404)."""
    best: tuple[int, str] | None = None
    for rule in httproute["spec"]["rules"]:
        service = rule["backendRefs"][0]["name"]
        for match in rule["matches"]:
            kind, value = match["path"]["type"], match["path"]["value"]
            if kind == "Exact" and value == path:
                return service
            prefix = value.rstrip("/")
            matched = kind == "PathPrefix" and (path == prefix or path.startswith(prefix + "/") or prefix == "")
            if matched and (best is None or len(prefix) > best[0]):
                best = (len(prefix), service)
    return best[1] if best else None


def with_route(**values: Any) -> Any:
    return render_chart({**ON, **values})


@pytest.mark.parametrize("api_docs", [False, True])
@pytest.mark.parametrize("frontend", [False, True])
def test_the_httproute_routes_what_the_ingress_routes(frontend: bool, api_docs: bool) -> None:
    render = with_route(frontend=FRONTEND if frontend else {}, ingress={"apiDocs": api_docs})
    (ingress,) = render.of_kind("Ingress")
    (httproute,) = render.of_kind("HTTPRoute")
    blocked = f"{RELEASE}-internal-blocked"

    def reached(service: str | None) -> str | None:
        return None if service == blocked else service

    for path in PATHS:
        assert reached(http_route(httproute, path)) == reached(route(ingress, path)), path


def test_cluster_only_paths_are_not_matched() -> None:
    (httproute,) = with_route(ingress={"apiDocs": True}).of_kind("HTTPRoute")
    for path in CLUSTER_ONLY:
        assert http_route(httproute, path) is None, path
    alone = with_route(frontend=FRONTEND, ingress={"enabled": False})
    assert alone.named("Service", f"{RELEASE}-internal-blocked")["spec"].get("selector") is None
    (with_frontend,) = alone.of_kind("HTTPRoute")
    assert http_route(with_frontend, "/internal/submissions/x/result") == f"{RELEASE}-internal-blocked"
    assert http_route(httproute, "/api/x") == f"{RELEASE}-backend"


def test_parent_refs_host_names_and_the_public_url() -> None:
    render = with_route(ingress={"enabled": False, "host": "grading.example.edu"})
    assert render.of_kind("Ingress") == []
    (httproute,) = render.of_kind("HTTPRoute")
    assert httproute["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert httproute["spec"]["parentRefs"] == ON["httpRoute"]["parentRefs"]
    assert httproute["spec"]["hostnames"] == ["grading.example.edu"]
    backend = render.component("Deployment", "backend")["spec"]["template"]["spec"]["containers"][0]
    cors = {e["name"]: e.get("value") for e in backend["env"]}["CORS_ORIGINS"]
    assert cors == "https://grading.example.edu", "the route's host is the public origin"
    named = render_chart({"httpRoute": {**ON["httpRoute"], "hostnames": ["a.example.org", "b.example.org"]}})
    assert named.of_kind("HTTPRoute")[0]["spec"]["hostnames"] == ["a.example.org", "b.example.org"]


def test_no_httproute_unless_asked_and_parent_refs_are_required() -> None:
    assert render_chart().of_kind("HTTPRoute") == []
    assert "parentRefs" in render_error({"httpRoute": {"enabled": True, "parentRefs": []}})
    assert "hostnames" in render_error({"httpRoute": {"enabled": True, "hostnames": ["Not A Host"]}}).replace("/", ".")


def test_the_ingress_class_defaults_to_the_clusters_default() -> None:
    (ingress,) = render_chart().of_kind("Ingress")
    assert "ingressClassName" not in ingress["spec"]
    for name in ("nginx", "traefik", "haproxy"):
        (ingress,) = render_chart({"ingress": {"className": name}}).of_kind("Ingress")
        assert ingress["spec"]["ingressClassName"] == name
