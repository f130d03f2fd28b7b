"""Security: exact RBAC, one ServiceAccount with a token, restricted Pod Security with requests and limits for
every container (the runner Job template included), NetworkPolicies, and checkov on the production render."""

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_render import RESTRICTED, ROOT, SCENARIOS, TOOLS, containers_of, labels, render_chart, render_scenario

SCHEDULER_RULES = [  # exactly the requests the scheduler makes: tests/e2e/test_rbac.py records them
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
]


def test_scheduler_role_grants_exactly_what_it_needs() -> None:
    render = render_scenario("default")
    role = render.component("Role", "scheduler")
    assert role["rules"] == SCHEDULER_RULES
    assert render.of_kind("ClusterRole") == []
    assert render.of_kind("ClusterRoleBinding") == []
    binding = render.component("RoleBinding", "scheduler")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "cloudemy-scheduler", "namespace": "cloudemy"}]


def test_no_lease_rights_with_several_schedulers() -> None:
    """Replicas coordinate through Redis: two schedulers get the same Role and no leader-election setting."""
    role = render_scenario("two-schedulers").component("Role", "scheduler")
    assert role["rules"] == SCHEDULER_RULES
    scheduler = render_scenario("two-schedulers").component("Deployment", "scheduler")
    env = {e["name"]: e.get("value") for e in scheduler["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "LEADER_ELECTION" not in env


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_no_rbac_wildcards(scenario: str) -> None:
    for role in render_scenario(scenario).of_kind("Role"):
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[field]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_only_the_scheduler_and_the_secret_hook_get_a_service_account_token(scenario: str) -> None:
    """The scheduler drives runner Jobs; the short-lived secret-init hook creates the generated Secret."""
    render = render_scenario(scenario)
    accounts = {sa["metadata"]["name"]: sa for sa in render.of_kind("ServiceAccount")}
    with_token = {name for name, sa in accounts.items() if sa.get("automountServiceAccountToken") is not False}
    assert with_token == {"cloudemy-scheduler"}
    for where, pod in render.workloads():
        account = pod.get("serviceAccountName")
        needs_token = account in ("cloudemy-scheduler", "cloudemy-secret-init")
        if account is not None:
            assert account in accounts, f"{where} uses a ServiceAccount the release does not render"
        assert pod.get("automountServiceAccountToken") is needs_token, where


def restricted_violations(where: str, pod: dict[str, Any]) -> list[str]:
    found = []
    pod_context = pod.get("securityContext") or {}
    if pod_context.get("runAsNonRoot") is not True:
        found.append(f"{where}: pod runAsNonRoot")
    if (pod_context.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        found.append(f"{where}: pod seccompProfile")
    if pod_context.get("runAsUser") == 0:
        found.append(f"{where}: runs as root")
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            found.append(f"{where}: {field}")
    for volume in pod.get("volumes") or []:
        if "hostPath" in volume:
            found.append(f"{where}: hostPath volume {volume['name']}")
    for container in containers_of(pod):
        context = container.get("securityContext") or {}
        for key, wanted in RESTRICTED.items():
            if context.get(key) != wanted:
                found.append(f"{where}/{container['name']}: securityContext.{key} is {context.get(key)!r}")
        if context.get("privileged"):
            found.append(f"{where}/{container['name']}: privileged")
        resources = container.get("resources") or {}
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if not (resources.get(kind) or {}).get(resource):
                    found.append(f"{where}/{container['name']}: no {kind}.{resource}")
    return found


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_pod_is_restricted_with_requests_and_limits(scenario: str) -> None:
    render = render_scenario(scenario)
    violations = [v for where, pod in render.workloads() for v in restricted_violations(where, pod)]
    assert violations == []


def test_the_restricted_check_catches_a_loosened_value() -> None:
    render = render_chart({"containerSecurityContext": {"readOnlyRootFilesystem": False}})
    violations = [v for where, pod in render.workloads() for v in restricted_violations(where, pod)]
    assert any("readOnlyRootFilesystem" in v for v in violations)


@pytest.mark.parametrize("scenario", ["default", "prod", "frontend-on"])
def test_read_only_containers_get_a_writable_tmp(scenario: str) -> None:
    render = render_scenario(scenario)
    for where, pod in render.workloads():
        volumes = {v["name"]: v for v in pod.get("volumes") or []}
        for container in containers_of(pod):
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts") or []}
            assert "/tmp" in mounts, f"{where}/{container['name']} has no writable /tmp"
            assert "emptyDir" in volumes[mounts["/tmp"]]


def test_databases_run_as_their_images_user() -> None:
    render = render_scenario("default")
    for component in ("mongodb", "redis"):
        pod = render.component("StatefulSet", component)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == 999
        assert pod["securityContext"]["fsGroup"] == 999


@pytest.mark.parametrize("scenario", ["default", "prod", "existing-secret"])
def test_config_and_secret_changes_roll_the_pods(scenario: str) -> None:
    render = render_scenario(scenario)
    for obj in render.objects:
        if obj["kind"] in ("Deployment", "StatefulSet"):
            annotations = obj["spec"]["template"]["metadata"].get("annotations") or {}
            if labels(obj)["app.kubernetes.io/component"] != "frontend":
                assert "checksum/secret" in annotations, obj["metadata"]["name"]
    scheduler = render.component("Deployment", "scheduler")
    assert "checksum/runner-job-template" in scheduler["spec"]["template"]["metadata"]["annotations"]


def test_job_template_change_changes_the_scheduler_checksum() -> None:
    def checksum(values: dict) -> str:
        scheduler = render_chart(values).component("Deployment", "scheduler")
        return scheduler["spec"]["template"]["metadata"]["annotations"]["checksum/runner-job-template"]

    assert checksum({}) != checksum({"llm": {"model": "gpt-4.1-mini"}})


# ---- NetworkPolicies ---------------------------------------------------------------------------------------------


def policy_for(render, component: str) -> dict[str, Any]:
    return next(
        p
        for p in render.of_kind("NetworkPolicy")
        if p["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/component") == component
    )


def peers(rules: list[dict]) -> set[str]:
    found = set()
    for rule in rules:
        for peer in rule.get("to", []) + rule.get("from", []):
            component = (peer.get("podSelector") or {}).get("matchLabels", {}).get("app.kubernetes.io/component")
            if component and "namespaceSelector" not in peer:
                found.add(component)
            elif "ipBlock" in peer:
                found.add(peer["ipBlock"]["cidr"])
            elif "namespaceSelector" in peer:
                found.add("namespace:" + json.dumps(peer["namespaceSelector"], sort_keys=True))
    return found


def test_network_policies_allow_only_the_architectures_flows() -> None:
    render = render_scenario("networkpolicy-on")
    deny = next(p for p in render.of_kind("NetworkPolicy") if p["metadata"]["name"].endswith("default-deny-netpol"))
    assert deny["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "cloudemy",
        "app.kubernetes.io/instance": "cloudemy",
    }
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny["spec"]
    assert "egress" not in deny["spec"]
    ingress_nginx = 'namespace:{"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}'

    backend = policy_for(render, "backend")["spec"]
    assert peers(backend["ingress"]) == {ingress_nginx, "scheduler", "runner", "test"}
    assert peers(backend["egress"]) == {"mongodb", "redis"}
    assert peers(policy_for(render, "frontend")["spec"]["ingress"]) == {ingress_nginx}
    assert peers(policy_for(render, "mongodb")["spec"]["ingress"]) == {"backend"}
    assert peers(policy_for(render, "redis")["spec"]["ingress"]) == {"backend", "scheduler", "runner"}
    scheduler = policy_for(render, "scheduler")["spec"]
    assert peers(scheduler["egress"]) == {"redis", "backend", "0.0.0.0/0"}
    assert "ingress" not in scheduler
    assert {p["port"] for p in scheduler["egress"][-1]["ports"]} == {443, 6443}
    runner = policy_for(render, "runner")["spec"]
    assert "ingress" not in runner
    assert peers(runner["egress"]) == {"redis", "backend", "0.0.0.0/0"}
    (llm,) = [rule for rule in runner["egress"] if "ipBlock" in rule["to"][0]]
    assert llm["ports"] == [{"protocol": "TCP", "port": 443}]
    assert "169.254.0.0/16" in llm["to"][0]["ipBlock"]["except"]
    assert "10.0.0.0/8" in llm["to"][0]["ipBlock"]["except"]


def test_every_release_pod_may_resolve_names() -> None:
    render = render_scenario("networkpolicy-on")
    dns = next(p for p in render.of_kind("NetworkPolicy") if p["metadata"]["name"].endswith("-dns-netpol"))
    assert dns["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "cloudemy",
        "app.kubernetes.io/instance": "cloudemy",
    }
    assert {(p["protocol"], p["port"]) for p in dns["spec"]["egress"][0]["ports"]} == {("UDP", 53), ("TCP", 53)}


def test_network_policies_follow_the_databases() -> None:
    render = render_scenario("external-databases-secrets")
    backend = policy_for(render, "backend")["spec"]
    assert peers(backend["egress"]) == {"10.20.0.0/16"}
    assert not [p for p in render.of_kind("NetworkPolicy") if "mongodb" in p["metadata"]["name"]]
    assert render_scenario("networkpolicy-off").of_kind("NetworkPolicy") == []
    assert render_scenario("default").of_kind("NetworkPolicy") == []


def test_every_policy_selects_pods_of_this_release() -> None:
    render = render_scenario("prod")
    pod_labels = [pod_template["metadata"]["labels"] for pod_template in _pod_templates(render)]
    for policy in render.of_kind("NetworkPolicy"):
        selector = policy["spec"]["podSelector"]["matchLabels"]
        component = selector.get("app.kubernetes.io/component")
        if component in ("runner", "test"):
            continue  # runner Pods come from the Job template, the test Pod from helm test
        assert any(all(labels_.get(k) == v for k, v in selector.items()) for labels_ in pod_labels), policy["metadata"][
            "name"
        ]


def _pod_templates(render) -> list[dict[str, Any]]:
    templates = [o["spec"]["template"] for o in render.objects if o["kind"] in ("Deployment", "StatefulSet")]
    scheduled = [o["spec"]["jobTemplate"]["spec"]["template"] for o in render.objects if o["kind"] == "CronJob"]
    return [*templates, *scheduled, render.job_template()["spec"]["template"]]


# ---- checkov -------------------------------------------------------------------------------------------------------


def checkov_failures(manifest: Path) -> set[tuple[str, str]]:
    done = subprocess.run(
        [str(TOOLS / "checkov"), "--file", str(manifest), "--framework", "kubernetes", "--output", "json", "--quiet",
         "--compact", "--skip-download", "--skip-results-upload"],
        capture_output=True, text=True, timeout=110, check=False,
    )  # fmt: skip
    report = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]
    failures = set()
    for one in reports:
        assert one["summary"]["parsing_errors"] == 0
        for check in one["results"]["failed_checks"]:
            failures.add((check["check_id"], check["resource"]))
    return failures


def test_checkov_finds_nothing_outside_the_allowlist(tmp_path: Path) -> None:
    render = render_scenario("prod")
    manifest = tmp_path / "prod.yaml"
    job = render.job_template()
    manifest.write_text(render.text + "\n---\n" + yaml.safe_dump(job))
    allowlist = yaml.safe_load((ROOT / "ci" / "checkov-allowlist.yaml").read_text())
    allowed = {(check, resource) for check, entry in allowlist.items() for resource in entry["resources"]}
    for entry in allowlist.values():
        assert entry["reason"].strip()
    failures = checkov_failures(manifest)
    assert failures - allowed == set(), "fix these or add them with a reason to ci/checkov-allowlist.yaml"
    assert allowed - failures == set(), "these no longer fail: remove them from ci/checkov-allowlist.yaml"


def test_frontend_may_opt_out_of_a_read_only_root_alone() -> None:
    """An external Next.js image may need to write; turning that off touches only the frontend container."""
    render = render_chart(
        {"frontend": {"enabled": True, "image": {"repository": "example/fe"}, "readOnlyRootFilesystem": False}}
    )
    contexts = {
        f"{where}/{c['name']}": c["securityContext"]["readOnlyRootFilesystem"]
        for where, pod in render.workloads()
        for c in containers_of(pod)
    }
    assert contexts.pop("Deployment/cloudemy-frontend/frontend") is False
    assert all(contexts.values())
