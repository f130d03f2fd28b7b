"""values.schema.json and the chart's own checks reject bad values with a message that names the value."""

import pytest
from chart_render import HELMS, render_chart, render_error

BAD_VALUES = [
    pytest.param({"replicas": 3}, "replicas", id="unknown-top-level-key"),
    pytest.param({"backend": {"replicaCount": -1}}, "backend.replicaCount", id="negative-replicas"),
    pytest.param({"scheduler": {"maxActiveJobs": "many"}}, "scheduler.maxActiveJobs", id="wrong-type"),
    pytest.param({"scheduler": {"maxActiveJobs": 0}}, "scheduler.maxActiveJobs", id="zero-jobs"),
    pytest.param(
        {"runner": {"job": {"activeDeadlineSeconds": -5}}}, "runner.job.activeDeadlineSeconds", id="negative-deadline"
    ),
    pytest.param({"runner": {"job": {"backoffLimit": 1.5}}}, "runner.job.backoffLimit", id="fractional-count"),
    pytest.param(
        {"backend": {"autoscaling": {"maxReplicas": 0}}}, "backend.autoscaling.maxReplicas", id="hpa-max-zero"
    ),
    pytest.param({"backend": {"image": {"pullPolicy": "Sometimes"}}}, "backend.image.pullPolicy", id="pull-policy"),
    pytest.param({"secrets": {"redisPassword": "p@ss/word"}}, "secrets.redisPassword", id="password-not-url-safe"),
    pytest.param({"redis": {"resources": {"limits": {"cpu": "lots"}}}}, "redis.resources.limits.cpu", id="bad-limit"),
    pytest.param({"backend": {"resources": {"request": {}}}}, "request", id="resources-typo"),
    pytest.param({"mongodb": {"persistence": {"size": "lots"}}}, "mongodb.persistence.size", id="bad-quantity"),
    pytest.param({"ingress": {"host": "Not A Host"}}, "ingress.host", id="bad-host"),
    pytest.param({"logLevel": "LOUD"}, "logLevel", id="log-level"),
    pytest.param({"networkPolicy": {"llm": {"port": 70000}}}, "networkPolicy.llm.port", id="port-range"),
    pytest.param({"backend": {"typo": True}}, "typo", id="unknown-nested-key"),
]


def normalized(message: str) -> str:
    """helm 3 names a value backend.replicaCount, helm 4 /backend/replicaCount."""
    return message.replace("/", ".")


@pytest.mark.parametrize("helm", HELMS)
@pytest.mark.parametrize(("values", "named"), BAD_VALUES)
def test_schema_rejects_bad_values_naming_them(values: dict, named: str, helm: str) -> None:
    message = render_error(values, helm)
    assert "schema" in message
    assert named in normalized(message), message


CHART_CHECKS = [
    pytest.param({"mongodb": {"enabled": False}}, "externalMongodb.uri", id="external-mongodb-without-url"),
    pytest.param({"redis": {"enabled": False}}, "externalRedis.url", id="external-redis-without-url"),
    pytest.param({"frontend": {"enabled": True}}, "frontend.image.repository", id="frontend-without-image"),
]


@pytest.mark.parametrize("helm", HELMS)
@pytest.mark.parametrize(("values", "named"), CHART_CHECKS)
def test_impossible_combinations_fail_with_a_readable_message(values: dict, named: str, helm: str) -> None:
    assert named in render_error(values, helm)


def test_external_databases_may_come_from_the_existing_secret() -> None:
    """With secrets.existingSecret, MONGO_URI / REDIS_URL may live in that Secret: no URL value is needed."""
    render = render_chart(
        {"secrets": {"existingSecret": "creds"}, "mongodb": {"enabled": False}, "redis": {"enabled": False}}
    )
    backend = render.component("Deployment", "backend")["spec"]["template"]["spec"]["containers"][0]
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in backend["env"]
        if "valueFrom" in e and "secretKeyRef" in e["valueFrom"]
    }
    assert refs["MONGO_URI"] == {"name": "creds", "key": "MONGO_URI"}
    assert refs["REDIS_URL"] == {"name": "creds", "key": "REDIS_URL"}
