"""Escape hatches: extra env, envFrom, volumes, init containers, sidecars, Pod labels and annotations, priority, spread,
PDBs, ServiceAccounts, commonLabels/commonAnnotations on every object, extraObjects, all rendered as templates.

The "extended" scenario sets every one of them on every component; it is also linted, schema-checked, validated
against Kubernetes 1.29 and 1.34 and checked for restricted Pod Security with the other scenarios."""

from typing import Any

import pytest
from chart_render import (
    EXTENDED_COMPONENTS,
    RELEASE,
    containers_of,
    env_of,
    labels,
    render_chart,
    render_error,
    render_scenario,
)

WORKLOADS = {
    "backend": "Deployment",
    "scheduler": "Deployment",
    "frontend": "Deployment",
    "mongodb": "StatefulSet",
    "redis": "StatefulSet",
}


def pod_template(render: Any, component: str) -> dict[str, Any]:
    if component == "runner":
        return render.job_template()["spec"]["template"]
    return render.component(WORKLOADS[component], component)["spec"]["template"]


def main_container(pod: dict[str, Any], component: str) -> dict[str, Any]:
    return next(c for c in pod["spec"]["containers"] if c["name"] == component)


@pytest.mark.parametrize("component", EXTENDED_COMPONENTS)
def test_every_component_takes_every_escape_hatch(component: str) -> None:
    pod = pod_template(render_scenario("extended"), component)
    spec = pod["spec"]
    container = main_container(pod, component)
    assert env_of(container)["EXTRA_RELEASE"]["value"] == RELEASE, "extraEnv is rendered as a template"
    assert container["envFrom"] == [{"configMapRef": {"name": f"{RELEASE}-settings"}}]
    assert {"name": "ca", "mountPath": "/etc/ssl/private-ca", "readOnly": True} in container["volumeMounts"]
    assert {"name": "ca", "configMap": {"name": f"{RELEASE}-ca"}} in spec["volumes"]
    # The chart's own init and setup containers come first (MongoDB: its replica-set key and setup; Redis: its
    # ACL file).
    own = {"mongodb": (["keyfile"], ["setup"]), "redis": (["acl"], [])}
    own_init, own_sidecars = own.get(component, ([], []))
    assert [c["name"] for c in spec["initContainers"]] == [*own_init, "wait"]
    if component != "runner":
        assert [c["name"] for c in spec["containers"]] == [component, *own_sidecars, "agent"]
    assert spec["priorityClassName"] == "cloudemy-high"
    assert pod["metadata"]["annotations"]["vault.hashicorp.com/agent-inject"] == "true"
    assert pod["metadata"]["labels"]["team"] == "edu"


@pytest.mark.parametrize("component", EXTENDED_COMPONENTS)
def test_pod_labels_never_detach_pods_from_their_selectors(component: str) -> None:
    """podLabels may not override a selector label; commonLabels reach every Pod template."""
    pod = pod_template(render_scenario("extended"), component)
    assert pod["metadata"]["labels"]["app.kubernetes.io/component"] == component
    assert pod["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE
    assert pod["metadata"]["labels"]["cost-center"] == "teaching"
    assert pod["metadata"]["annotations"]["example.org/owner"] == "platform-team"


@pytest.mark.parametrize("component", EXTENDED_COMPONENTS)
def test_spread_constraints_without_a_selector_get_the_components_own(component: str) -> None:
    (constraint,) = pod_template(render_scenario("extended"), component)["spec"]["topologySpreadConstraints"]
    assert constraint["labelSelector"] == {
        "matchLabels": {
            "app.kubernetes.io/name": "cloudemy",
            "app.kubernetes.io/instance": RELEASE,
            "app.kubernetes.io/component": component,
        }
    }
    own = {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}
    own["labelSelector"] = {"matchLabels": {"a": "b"}}
    other = render_chart({"backend": {"topologySpreadConstraints": [own]}})
    (kept,) = other.component("Deployment", "backend")["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert kept["labelSelector"] == {"matchLabels": {"a": "b"}}


def test_prod_spread_follows_the_release_name() -> None:
    render = render_chart(values_files=["values/prod.yaml"], release="exams")
    for component in ("backend", "scheduler"):
        pod = render.component("Deployment", component)["spec"]["template"]
        for constraint in pod["spec"]["topologySpreadConstraints"]:
            selector = constraint["labelSelector"]["matchLabels"]
            assert all(pod["metadata"]["labels"][key] == value for key, value in selector.items()), component
            assert selector["app.kubernetes.io/instance"] == "exams"
    job = render.job_template()["spec"]["template"]["spec"]
    assert (
        job["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "runner"
    )


def test_common_labels_and_annotations_reach_every_object_and_the_runner_job() -> None:
    render = render_scenario("extended")
    job = render.job_template()
    for obj in [*render.objects, job]:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        if (
            obj["metadata"]["name"].startswith(f"{RELEASE}-")
            and obj["kind"] == "ConfigMap"
            and "labels" not in obj["metadata"]
        ):
            continue  # the extraObjects ConfigMaps are the user's, as written
        assert labels(obj).get("cost-center") == "teaching", where
        assert (obj["metadata"].get("annotations") or {}).get("example.org/owner") == "platform-team", where
    assert job["spec"]["template"]["metadata"]["labels"]["cost-center"] == "teaching"


@pytest.mark.parametrize("component", ["backend", "scheduler", "frontend", "mongodb", "redis"])
def test_every_long_running_component_can_have_a_pdb(component: str) -> None:
    pdb = render_scenario("extended").component("PodDisruptionBudget", component)
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == component
    assert not [
        p for p in render_scenario("default").of_kind("PodDisruptionBudget") if component in p["metadata"]["name"]
    ]


@pytest.mark.parametrize("component", EXTENDED_COMPONENTS)
def test_service_accounts_take_annotations_a_name_or_none(component: str) -> None:
    render = render_scenario("extended")
    account = render.component("ServiceAccount", component)
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    assert pod_template(render, component)["spec"]["serviceAccountName"] == account["metadata"]["name"]

    values: dict[str, Any] = {component: {"serviceAccount": {"create": True, "name": "grader-identity"}}}
    if component == "frontend":
        values[component].update(enabled=True, image={"repository": "example/fe"})
    named = render_chart(values)
    assert named.component("ServiceAccount", component)["metadata"]["name"] == "grader-identity"
    assert pod_template(named, component)["spec"]["serviceAccountName"] == "grader-identity"

    values[component]["serviceAccount"] = {"create": False, "name": "platform-managed"}
    external = render_chart(values)
    assert not [
        sa for sa in external.of_kind("ServiceAccount") if labels(sa)["app.kubernetes.io/component"] == component
    ]
    assert pod_template(external, component)["spec"]["serviceAccountName"] == "platform-managed"


def test_the_scheduler_role_binds_the_scheduler_account_whatever_its_name() -> None:
    render = render_chart({"scheduler": {"serviceAccount": {"name": "sched"}}})
    binding = render.component("RoleBinding", "scheduler")
    assert binding["subjects"][0]["name"] == "sched"


def test_extra_objects_are_rendered_as_templates() -> None:
    render = render_scenario("extended")
    settings = render.named("ConfigMap", f"{RELEASE}-settings")
    assert settings["data"] == {"A": "1"}
    assert render.named("ConfigMap", f"{RELEASE}-ca")["data"] == {"ca.crt": "x"}


def test_the_helm_test_pod_honours_node_selector_and_tolerations() -> None:
    (pod,) = render_scenario("extended").of_kind("Pod")
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["spec"]["tolerations"] == [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]


def test_the_hpa_memory_metric_is_optional() -> None:
    def metrics(values: dict[str, Any]) -> list[str]:
        hpa = render_chart(values).component("HorizontalPodAutoscaler", "backend")
        return [m["resource"]["name"] for m in hpa["spec"]["metrics"]]

    assert metrics({}) == ["cpu", "memory"]
    assert metrics({"backend": {"autoscaling": {"targetMemoryUtilizationPercentage": None}}}) == ["cpu"]


@pytest.mark.parametrize(
    ("values", "named"),
    [
        pytest.param({"backend": {"extraVolumeMounts": [{"name": "ca"}]}}, "mountPath", id="mount-without-path"),
        pytest.param({"redis": {"sidecars": [{"image": "x"}]}}, "name", id="sidecar-without-name"),
        pytest.param({"mongodb": {"serviceAccount": {"role": "x"}}}, "role", id="service-account-typo"),
        pytest.param({"runner": {"sidecars": []}}, "sidecars", id="no-sidecars-in-jobs"),
        pytest.param({"extraObjects": [3]}, "extraObjects", id="extra-object-type"),
    ],
)
def test_the_schema_checks_the_escape_hatches(values: dict[str, Any], named: str) -> None:
    message = render_error(values)
    assert "schema" in message
    assert named in message.replace("/", "."), message


def test_resources_accept_any_valid_requirements() -> None:
    """No CPU limit, ephemeral-storage, extended resources: whatever a cluster's policy or quota asks for."""
    resources = {
        "requests": {"cpu": "250m", "memory": "256Mi", "ephemeral-storage": "1Gi"},
        "limits": {"cpu": None, "memory": "512Mi", "ephemeral-storage": "2Gi", "nvidia.com/gpu": 1},
    }
    render = render_chart({"runner": {"resources": resources}, "backend": {"resources": resources}})
    expected = {
        "requests": {"cpu": "250m", "memory": "256Mi", "ephemeral-storage": "1Gi"},
        "limits": {"memory": "512Mi", "ephemeral-storage": "2Gi", "nvidia.com/gpu": 1},
    }
    assert render.job_template()["spec"]["template"]["spec"]["containers"][0]["resources"] == expected
    backend = render.component("Deployment", "backend")["spec"]["template"]["spec"]
    assert main_container({"spec": backend}, "backend")["resources"] == expected
    assert all("resources" in c for c in containers_of(backend))


def test_common_labels_never_override_the_charts_own_nor_repeat_a_key() -> None:
    from test_chart_lint import yamllint_problems

    values = {
        "commonLabels": {"app.kubernetes.io/instance": "other", "app.kubernetes.io/part-of": "x", "cost": "a"},
        "runner": {"extraLabels": {"cost": "b"}},
        "tests": {"podLabels": {"cost": "c"}},
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"cost": "d"}}},
    }
    render = render_chart(values)
    assert yamllint_problems(render.text) == []
    assert yamllint_problems(render.job_template_text()) == []
    for obj in [*render.objects, render.job_template()]:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        assert labels(obj)["app.kubernetes.io/instance"] == RELEASE, where
        assert labels(obj)["app.kubernetes.io/part-of"] == "cloudemy", where
    assert labels(render.job_template())["cost"] == "b", "the runner's own labels win over commonLabels"
    assert labels(render.component("ServiceMonitor", "backend"))["cost"] == "d"
