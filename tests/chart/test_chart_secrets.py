"""Generated credentials survive `helm upgrade`: the chart's `lookup` reads them back from the cluster.

helm renders with ``--dry-run=server`` against a fake API server (127.0.0.1) that holds the Secret a previous
install created, the way `helm upgrade` sees it."""

import base64
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_render import CHART, CHART_SECRET_KEYS, HELMS, NAMESPACE, RELEASE, ROOT, TOOLS, render_chart
from fake_kube_api import FakeKubeApi

GENERATED_KEYS = sorted(CHART_SECRET_KEYS - {"LLM_API_KEY"})


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[FakeKubeApi, Path]]:
    api = FakeKubeApi()
    with api.running():
        yield api, api.write_kubeconfig(tmp_path / "kubeconfig")


def upgrade_render(kubeconfig: Path, helm: str, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """What `helm upgrade` would apply, rendered against the fake cluster."""
    args = [str(TOOLS / helm), "template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=server"]
    args.append("--disable-openapi-validation")
    for key, value in (values or {}).items():
        args += ["--set", f"{key}={value}"]
    env = {"KUBECONFIG": str(kubeconfig), "HOME": str(kubeconfig.parent), "PATH": os.environ.get("PATH", "")}
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def as_installed(secret: dict[str, Any]) -> dict[str, Any]:
    """The chart's Secret as the cluster stores it after an install (helm's ownership metadata added)."""
    stored = dict(secret)
    metadata = dict(secret["metadata"])
    metadata["labels"] = {**metadata.get("labels", {}), "app.kubernetes.io/managed-by": "Helm"}
    metadata["annotations"] = {
        **metadata.get("annotations", {}),
        "meta.helm.sh/release-name": RELEASE,
        "meta.helm.sh/release-namespace": NAMESPACE,
    }
    stored["metadata"] = metadata
    return stored


def decoded(secret: dict[str, Any]) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def chart_secret(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (secret,) = [o for o in objects if o["kind"] == "Secret"]
    return secret


def checksums(objects: list[dict[str, Any]]) -> dict[str, str]:
    return {
        o["metadata"]["name"]: o["spec"]["template"]["metadata"]["annotations"]["checksum/secret"]
        for o in objects
        if o["kind"] in ("Deployment", "StatefulSet")
    }


@pytest.mark.parametrize("helm", HELMS)
def test_upgrade_keeps_every_generated_credential(cluster: tuple[FakeKubeApi, Path], helm: str) -> None:
    api, kubeconfig = cluster
    installed = chart_secret(list(render_chart(helm=helm).objects))
    api.secrets[(NAMESPACE, RELEASE)] = as_installed(installed)

    first = upgrade_render(kubeconfig, helm)
    second = upgrade_render(kubeconfig, helm)
    upgraded = decoded(chart_secret(first))
    for key in GENERATED_KEYS:
        assert upgraded[key] == decoded(installed)[key], f"{key} changed on upgrade"
    assert checksums(first) == checksums(second), "a no-op upgrade must not restart Pods"


@pytest.mark.parametrize("helm", HELMS)
def test_given_values_win_over_stored_ones_and_roll_the_pods(cluster: tuple[FakeKubeApi, Path], helm: str) -> None:
    api, kubeconfig = cluster
    api.secrets[(NAMESPACE, RELEASE)] = as_installed(chart_secret(list(render_chart(helm=helm).objects)))
    before = upgrade_render(kubeconfig, helm)
    after = upgrade_render(kubeconfig, helm, {"secrets.jwtSecret": "rotated-on-purpose"})
    assert decoded(chart_secret(after))["JWT_SECRET"] == "rotated-on-purpose"
    assert decoded(chart_secret(after))["REDIS_PASSWORD"] == decoded(chart_secret(before))["REDIS_PASSWORD"]
    changed = {name for name, value in checksums(after).items() if checksums(before)[name] != value}
    assert "cloudemy-backend" in changed


def test_first_install_generates_fresh_values() -> None:
    first = decoded(chart_secret(list(render_chart({"nameOverride": "cloudemy"}).objects)))
    second = decoded(chart_secret(list(render_chart().objects)))
    for key in GENERATED_KEYS:
        assert first[key] != second[key], f"{key} is not random"


def test_the_secret_outlives_uninstall_like_the_volumes() -> None:
    secret = chart_secret(list(render_chart().objects))
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    secret = chart_secret(list(render_chart({"secrets": {"keepOnUninstall": False}}).objects))
    assert "helm.sh/resource-policy" not in (secret["metadata"].get("annotations") or {})
