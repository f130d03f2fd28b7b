"""NOTES.txt: how to reach the UI and get the admin password, and a warning for every unsafe setting.

helm prints NOTES only on install, so these tests run `helm install --dry-run=client` against the fake API server."""

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from chart_render import CHART, HELMS, NAMESPACE, RELEASE, ROOT, TOOLS

from cloudemy_common.redis_policy import RUNNER_ACL_RULES
from fakes.k8s_api import FakeKubernetesAPI


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with FakeKubernetesAPI() as api:
        yield api.write_kubeconfig(tmp_path_factory.mktemp("kube") / "kubeconfig")


def notes(kubeconfig: Path, helm: str, *args: str) -> str:
    command = [str(TOOLS / helm), "install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=client"]
    command += ["--disable-openapi-validation", *args]
    env = {"KUBECONFIG": str(kubeconfig), "HOME": str(kubeconfig.parent), "PATH": os.environ.get("PATH", "")}
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout[done.stdout.index("NOTES:") :]


@pytest.mark.parametrize("helm", HELMS)
def test_minikube_notes_tell_how_to_reach_the_ui_and_sign_in(kubeconfig: Path, helm: str) -> None:
    text = notes(kubeconfig, helm, "-f", "values/minikube.yaml")
    assert "http://cloudemy.local/" in text
    assert 'echo "$(minikube ip) cloudemy.local" | sudo tee -a /etc/hosts' in text
    assert "kubectl --namespace cloudemy get secret cloudemy" in text
    assert "{.data.CLOUDEMY_ADMIN_PASSWORD}" in text
    assert "helm test cloudemy" in text
    for warning in ("No LLM is configured", "mongodb.persistence.enabled", "redis.persistence.enabled"):
        assert warning in text
    assert "networkPolicy.enabled=false" in text


def test_prod_notes_carry_no_unsafe_setting_warning(kubeconfig: Path) -> None:
    text = notes(kubeconfig, "helm4", "-f", "values/prod.yaml")
    assert "https://cloudemy.example.org/" in text
    assert "get secret cloudemy-credentials" in text
    assert "WARNING" not in text
    assert "allowSignup" not in text


def test_without_ingress_the_notes_give_a_port_forward(kubeconfig: Path) -> None:
    text = notes(kubeconfig, "helm4", "--set", "ingress.enabled=false")
    assert "port-forward service/cloudemy-backend 8000:8000" in text


@pytest.mark.parametrize("helm", HELMS)
def test_notes_point_at_the_secret_that_holds_the_admin_password(kubeconfig: Path, helm: str) -> None:
    assert "get secret cloudemy-generated" in notes(kubeconfig, helm)
    given = notes(kubeconfig, helm, "--set", "secrets.adminPassword=chosen-by-me")
    assert "get secret cloudemy \\" in given
    assert "get secret my-creds" in notes(kubeconfig, helm, "--set", "secrets.existingSecret=my-creds")


@pytest.mark.parametrize("helm", HELMS)
def test_external_redis_without_a_runner_user_warns_with_the_line_to_run(kubeconfig: Path, helm: str) -> None:
    external = ["--set", "redis.enabled=false", "--set", "externalRedis.url=rediss://:pw@cache.example.org:6380/0"]
    text = notes(kubeconfig, helm, *external)
    assert "Runner Jobs log in to the external Redis with the services' REDIS_URL" in text
    assert f"ACL SETUSER cloudemy-runner on >RUNNER-PASSWORD {' '.join(RUNNER_ACL_RULES)}\n" in text
    runner_url = "externalRedis.runnerUrl=rediss://cloudemy-runner:pw@cache.example.org:6380/0"
    assert "ACL SETUSER" not in notes(kubeconfig, helm, *external, "--set", runner_url)
    assert "ACL SETUSER" not in notes(kubeconfig, helm), "the bundled Redis has the runner user already"
