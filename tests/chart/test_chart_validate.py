"""Every rendered object, and the runner Job inside its ConfigMap, is valid for Kubernetes 1.29 and 1.34 (strict)."""

import copy

import kubernetes_validate
import pytest
from chart_render import SCENARIOS, render_scenario

KUBERNETES_VERSIONS = ("1.29.0", "1.34.0")
# Custom resources (prometheus-operator, Gateway API): Kubernetes ships no schema for them; their own tests check them.
CUSTOM_GROUPS = ("monitoring.coreos.com/", "gateway.networking.k8s.io/")


def validation_errors(obj: dict, version: str) -> list[str]:
    if obj["apiVersion"].startswith(CUSTOM_GROUPS):
        return []
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{obj['kind']}/{obj['metadata'].get('name')}: {error.message} at {list(error.path)}"]
    except kubernetes_validate.SchemaNotFoundError as error:
        return [f"{obj['kind']}/{obj['metadata'].get('name')}: {error.message}"]
    return []


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_object_is_valid(scenario: str, version: str) -> None:
    render = render_scenario(scenario)
    objects = [*render.objects, render.job_template()]
    errors = [e for obj in objects for e in validation_errors(obj, version)]
    assert errors == []


def test_the_runner_job_template_is_one_complete_job() -> None:
    job = render_scenario("default").job_template()
    assert job["apiVersion"] == "batch/v1"
    assert job["kind"] == "Job"
    assert job["metadata"]["name"] == "runner-template"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_strict_validation_rejects_an_unknown_field(version: str) -> None:
    """The validator is live: a misspelt field in a rendered Deployment fails."""
    deployment = copy.deepcopy(render_scenario("default").component("Deployment", "backend"))
    deployment["spec"]["template"]["spec"]["containers"][0]["resource"] = {}
    assert validation_errors(deployment, version)
