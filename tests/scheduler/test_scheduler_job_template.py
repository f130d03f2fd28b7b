"""The runner Job body the scheduler creates from the chart's template: the runner's contract env, restricted
Pod Security, only name/labels/env stamped, valid for 1.29 and 1.34, and checkov-clean outside a documented
allowlist."""

import copy
import json
import subprocess
import time
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from scheduler_harness import MASTER_TOKEN, sid

from cloudemy_common.tokens import result_grant
from cloudemy_scheduler.executors.k8s import KubernetesExecutor
from cloudemy_scheduler.job_template import TemplateError, build_job, label_selector, load_template
from cloudemy_scheduler.stuck_pods import PendingBounds
from demo.chart import job_template_of, render

ROOT = Path(__file__).resolve().parents[2]
ALLOWLIST = ROOT / "services" / "scheduler" / "checkov-allowlist.yaml"
RUNNER_ENV = ["SUBMISSION_ID", "REDIS_URL", "BACKEND_INTERNAL_URL", "INTERNAL_RESULT_TOKEN", "LLM_API_KEY", "LLM_MODEL",
              "LLM_BASE_URL", "LLM_TIMEOUT_SECONDS", "JOB_DEADLINE_SECONDS", "JOB_CREATED_AT",
              "JOB_ACTIVE_DEADLINE_SECONDS"]  # fmt: skip
CHART_VALUES = ("runner.image.registry=example.org", "runner.image.repository=cloudemy-runner",
                "runner.image.tag=1.2.3", "secrets.existingSecret=my-release-secret")  # fmt: skip


@pytest.fixture
def template():
    """The chart's runner Job template as a production install renders it (bundled Redis, the release's Secret)."""
    return job_template_of(render(set_values=CHART_VALUES))


@pytest.fixture(params=[1, 2], ids=["attempt-1", "attempt-2"])
def attempt(request):
    return request.param


def stamped(template, attempt, n=1):
    return build_job(template, sid(n), attempt, MASTER_TOKEN)


def env_map(job):
    return {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_job_has_the_runners_contract(template, attempt):
    job = stamped(template, attempt)
    assert job["apiVersion"] == "batch/v1"
    assert job["kind"] == "Job"
    assert job["metadata"]["name"] == (f"runner-{sid(1)}" if attempt == 1 else f"runner-{sid(1)}-{attempt}")
    assert job["spec"]["backoffLimit"] == 1
    assert job["spec"]["activeDeadlineSeconds"] == 120 + 180, "grading time plus the startup allowance"
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert container["name"] == "runner"
    assert container["image"] == "example.org/cloudemy-runner:1.2.3"
    assert container["imagePullPolicy"] == "IfNotPresent"
    names = [e["name"] for e in container["env"]]
    assert len(names) == len(set(names)), "each variable once"
    assert set(RUNNER_ENV) <= set(names), "every variable of the runner's contract"
    assert names.index("REDIS_PASSWORD") < names.index("REDIS_URL"), "defined before $(REDIS_PASSWORD) refers to it"
    env = env_map(job)
    assert env["SUBMISSION_ID"]["value"] == sid(1)
    assert env["REDIS_URL"]["value"] == "redis://cloudemy-runner:$(REDIS_PASSWORD)@cloudemy-redis:6379/0"
    assert env["BACKEND_INTERNAL_URL"]["value"] == "http://cloudemy-backend:8000/internal"
    assert env["LLM_MODEL"]["value"] == "gpt-4o-mini"
    assert env["JOB_DEADLINE_SECONDS"]["value"] == "120"
    assert env["JOB_ACTIVE_DEADLINE_SECONDS"]["value"] == "300"
    assert abs(float(env["JOB_CREATED_AT"]["value"]) - time.time()) < 5, "stamped when the Job is built"


def test_job_keeps_secrets_out_and_runs_restricted(template, attempt):
    job = stamped(template, attempt)
    env = env_map(job)
    for secret, key in (("LLM_API_KEY", "LLM_API_KEY"), ("REDIS_PASSWORD", "REDIS_RUNNER_PASSWORD")):
        assert env[secret] == {"name": secret, "valueFrom": {"secretKeyRef": {
            "name": "my-release-secret", "key": key}}}  # fmt: skip
    grant = result_grant(MASTER_TOKEN, sid(1), env["INTERNAL_RESULT_TOKEN"]["value"])
    assert grant is not None
    assert (grant.kind, grant.attempt) == ("attempt", attempt), "bound to this attempt, with an expiry"
    assert grant.expires_at is not None
    assert grant.expires_at - time.time() < 300 + 900 + 5, "valid for the Job's deadline and a grace, not the TTL"
    assert grant.expires_at - time.time() > 300 + 900 - 5, "a runner started late still posts with it"
    assert result_grant(MASTER_TOKEN, sid(2), env["INTERNAL_RESULT_TOKEN"]["value"]) is None
    assert MASTER_TOKEN not in json.dumps(job), "the master token never enters a runner pod"
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    pod = job["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = pod["containers"][0]
    assert set(container["resources"]) == {"requests", "limits"}
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["runAsNonRoot"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    (tmp,) = [volume for volume in pod["volumes"] if volume["name"] == "tmp"]
    assert tmp["emptyDir"]["sizeLimit"], "a bounded emptyDir"


def test_labels_on_job_and_pod(template, attempt):
    job = stamped(template, attempt)
    expected = {"app.kubernetes.io/component": "runner", "cloudemy.io/submission-id": sid(1),
                "cloudemy.io/attempt": str(attempt)}  # fmt: skip
    assert expected.items() <= job["metadata"]["labels"].items()
    assert expected.items() <= job["spec"]["template"]["metadata"]["labels"].items()


@pytest.mark.parametrize("version", ["1.29.0", "1.34.0"])
def test_job_passes_kubernetes_validate_strict(template, attempt, version):
    kubernetes_validate.validate(stamped(template, attempt), version, strict=True)


def secret_ref(name, key):
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": "rel", "key": key}}}


def chart_like_template():
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "runner-template", "labels": {"app.kubernetes.io/instance": "rel",
                                                           "app.kubernetes.io/component": "runner"}},
        "spec": {
            "backoffLimit": 1, "activeDeadlineSeconds": 90, "ttlSecondsAfterFinished": 600,
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/instance": "rel", "team": "grading"}},
                "spec": {
                    "restartPolicy": "Never", "runtimeClassName": "gvisor", "serviceAccountName": "rel-runner",
                    "nodeSelector": {"pool": "runners"},
                    "containers": [{"name": "runner", "image": "r:1", "env": [
                        {"name": "SUBMISSION_ID", "value": ""},
                        secret_ref("REDIS_PASSWORD", "REDIS_PASSWORD"),
                        {"name": "REDIS_URL", "value": "redis://:$(REDIS_PASSWORD)@rel-redis:6379/0"},
                        secret_ref("LLM_API_KEY", "LLM_API_KEY"),
                    ]}],
                },
            },
        },
    }  # fmt: skip


def test_template_file_is_stamped_with_name_labels_and_env_only(tmp_path):
    template = chart_like_template()
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(template))
    loaded = load_template(path)
    job = build_job(loaded, sid(9), 3, MASTER_TOKEN)
    assert job["metadata"]["name"] == f"runner-{sid(9)}-3"
    assert job["metadata"]["labels"]["app.kubernetes.io/instance"] == "rel", "template labels kept"
    assert job["spec"]["template"]["metadata"]["labels"]["team"] == "grading"
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [e["name"] for e in env] == ["SUBMISSION_ID", "REDIS_PASSWORD", "REDIS_URL", "LLM_API_KEY", "JOB_CREATED_AT",
                                        "JOB_ACTIVE_DEADLINE_SECONDS", "INTERNAL_RESULT_TOKEN"]  # fmt: skip
    assert env[-2] == {"name": "JOB_ACTIVE_DEADLINE_SECONDS", "value": "90"}, "the Job's own deadline"
    assert env[0] == {"name": "SUBMISSION_ID", "value": sid(9)}, "replaced in place"
    # Everything else is the template, unchanged.
    unstamped = copy.deepcopy(job)
    unstamped["metadata"]["name"] = "runner-template"
    for meta in (unstamped["metadata"], unstamped["spec"]["template"]["metadata"]):
        for key in ("cloudemy.io/submission-id", "cloudemy.io/attempt"):
            del meta["labels"][key]
    del unstamped["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
    unstamped_env = unstamped["spec"]["template"]["spec"]["containers"][0]["env"]
    unstamped_env[0]["value"] = ""
    del unstamped_env[-3:]
    assert unstamped == template


def test_watch_selector_keeps_the_release_identity_but_not_the_version():
    template = chart_like_template()
    template["metadata"]["labels"].update({"app.kubernetes.io/version": "1.2.3", "helm.sh/chart": "cloudemy-1.2.3"})
    assert label_selector(template) == "app.kubernetes.io/component=runner,app.kubernetes.io/instance=rel"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("kind: Deployment\napiVersion: apps/v1\n", "batch/v1"),
        ("apiVersion: batch/v1\nkind: Job\nspec: {template: {spec: {containers: [{name: other}]}}}\n", "runner"),
        ("apiVersion: batch/v1\nkind: Job\nspec: {}\n", "containers"),
        ("- just\n- a list\n", "mapping"),
        ("key: [unclosed\n", "cannot read"),
    ],
)
def test_unusable_templates_are_refused(tmp_path, text, problem):
    path = tmp_path / "job.yaml"
    path.write_text(text)
    with pytest.raises(TemplateError, match=problem):
        load_template(path)


def test_a_template_is_required():
    with pytest.raises(TemplateError, match="RUNNER_JOB_TEMPLATE is not set"):
        load_template(None)


def test_the_api_receives_exactly_the_built_body(template, k8s_api, kubeconfig):
    """The official client validates the body as a V1Job on the way: nothing may be lost or renamed."""
    executor = KubernetesExecutor("default", "app.kubernetes.io/component=runner", pending_bounds=PendingBounds(),
                                  kubeconfig=str(kubeconfig))  # fmt: skip
    for attempt, source in ((1, template), (2, chart_like_template())):
        job = build_job(source, sid(attempt), attempt, MASTER_TOKEN)
        executor.create(job)
        stored = k8s_api.get_job(job["metadata"]["name"])
        for server_field in ("namespace", "uid", "creationTimestamp", "generation", "resourceVersion"):
            stored["metadata"].pop(server_field)
        stored.pop("status")
        assert stored == job


@pytest.mark.slow
def test_checkov_finds_nothing_outside_the_allowlist(template, tmp_path):
    manifest = tmp_path / "jobs.yaml"
    manifest.write_text(yaml.safe_dump_all([stamped(template, 1), stamped(template, 2)]))
    done = subprocess.run(
        [str(ROOT / ".tools" / "bin" / "checkov"), "--file", str(manifest), "--framework", "kubernetes",
         "--output", "json", "--quiet", "--compact", "--skip-download"],
        capture_output=True, text=True, timeout=110, check=False,
    )  # fmt: skip
    reports = json.loads(done.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert reports[0]["summary"]["parsing_errors"] == 0
    assert reports[0]["summary"]["passed"] > 50, "checkov really checked the Jobs"
    failed = {check["check_id"] for report in reports for check in report["results"]["failed_checks"]}
    allowlist = yaml.safe_load(ALLOWLIST.read_text())
    assert all(entry["reason"].strip() for entry in allowlist.values())
    assert failed - set(allowlist) == set(), "fix these or add them with a reason to the allowlist"
    assert set(allowlist) - failed == set(), "these pass now: remove them from the allowlist"
