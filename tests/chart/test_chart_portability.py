"""Portability: OpenShift's restricted-v2 SCC (no fixed UIDs, GIDs or fsGroup) detected or forced, and the
NetworkPolicies' DNS port and selectors as values (OpenShift's DNS listens on 5353 in openshift-dns)."""

import re

import pytest
from chart_render import HELMS, render_chart, render_error

OPENSHIFT_API = "security.openshift.io/v1"
FIXED_IDS = re.compile(r"\b(runAsUser|runAsGroup|fsGroup|fsGroupChangePolicy)\b")


def fixed_ids(render) -> list[str]:
    """Every line of the render, the runner Job template and the hook included, that pins a UID or GID."""
    text = render.text + "\n" + render.job_template_text()
    return [line.strip() for line in text.splitlines() if FIXED_IDS.search(line)]


@pytest.mark.parametrize("helm", HELMS)
@pytest.mark.parametrize(
    ("values", "api_versions"),
    [
        pytest.param({}, [OPENSHIFT_API], id="auto-detected"),
        pytest.param({"global": {"compatibility": {"openshift": {"adaptSecurityContext": "force"}}}}, [], id="forced"),
        pytest.param(
            {"networkPolicy": {"enabled": True}, "mongodb": {"persistence": {"enabled": True}}},
            [OPENSHIFT_API],
            id="auto-with-everything",
        ),
    ],
)
def test_openshift_render_pins_no_uid_gid_or_fs_group(values: dict, api_versions: list[str], helm: str) -> None:
    render = render_chart(values, api_versions=api_versions, helm=helm)
    assert fixed_ids(render) == []
    # Still restricted: non-root, no privilege escalation, every capability dropped, RuntimeDefault seccomp.
    for _where, pod in render.workloads():
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_other_clusters_keep_the_images_ids() -> None:
    assert fixed_ids(render_chart())
    disabled = {"global": {"compatibility": {"openshift": {"adaptSecurityContext": "disabled"}}}}
    assert fixed_ids(render_chart(disabled, api_versions=[OPENSHIFT_API])), "disabled keeps them even on OpenShift"


def test_container_level_ids_are_dropped_too() -> None:
    values = {
        "containerSecurityContext": {"runAsUser": 10001, "runAsGroup": 10001, "runAsNonRoot": True},
        "global": {"compatibility": {"openshift": {"adaptSecurityContext": "force"}}},
    }
    assert fixed_ids(render_chart(values)) == []


def test_the_mode_is_checked_by_the_schema() -> None:
    message = render_error({"global": {"compatibility": {"openshift": {"adaptSecurityContext": "yes"}}}})
    assert "adaptSecurityContext" in message.replace("/", ".")


def test_dns_port_and_selectors_are_values() -> None:
    values = {
        "networkPolicy": {
            "enabled": True,
            "dns": {
                "port": 5353,
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "openshift-dns"}},
                # Helm merges maps with the defaults: null removes the default kube-dns label.
                "podSelector": {"matchLabels": {"k8s-app": None, "dns.operator.openshift.io/daemonset-dns": "default"}},
            },
        }
    }
    dns = next(
        p for p in render_chart(values).of_kind("NetworkPolicy") if p["metadata"]["name"].endswith("-dns-netpol")
    )
    (rule,) = dns["spec"]["egress"]
    assert rule["ports"] == [{"protocol": "UDP", "port": 5353}, {"protocol": "TCP", "port": 5353}]
    assert rule["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "openshift-dns"}},
            "podSelector": {"matchLabels": {"dns.operator.openshift.io/daemonset-dns": "default"}},
        }
    ]


def test_a_mirror_registry_replaces_every_images_registry() -> None:
    values = {"global": {"imageRegistry": "mirror.example:5000", "imagePullSecrets": [{"name": "mirror-pull"}]}}
    render = render_chart(values)
    images = {c["image"] for _where, pod in render.workloads() for c in pod["containers"]}
    assert images == {
        "mirror.example:5000/cloudemy/cloudemy-backend:0.1.0",
        "mirror.example:5000/cloudemy/cloudemy-scheduler:0.1.0",
        "mirror.example:5000/cloudemy/cloudemy-runner:0.1.0",
        "mirror.example:5000/library/mongo:8.0.12",
        "mirror.example:5000/library/redis:7.4.6",
    }
    for where, pod in render.workloads():
        assert {"name": "mirror-pull"} in pod["imagePullSecrets"], where
