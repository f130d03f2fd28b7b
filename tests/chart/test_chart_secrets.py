"""GitOps-safe credentials: two renders of the same values are byte-identical, and no upgrade rotates a credential.

The chart renders only the values it is given. Credentials left empty are created once by the secret-init hook
(pre-install / pre-upgrade Job running charts/cloudemy/files/ensure_secret.py) in ``<fullname>-generated``, which
the script never changes afterwards. The script is exercised here against an in-memory CoreV1Api that speaks the
real client's objects and errors (404, 409 on a stale resourceVersion)."""

import base64
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from chart_render import (
    CHART,
    CHART_SECRET_KEYS,
    HELMS,
    NAMESPACE,
    RELEASE,
    ROOT,
    SCENARIOS,
    TOOLS,
    containers_of,
    env_of,
    render_chart,
    values_args,
)
from kubernetes.client import V1ObjectMeta, V1Secret
from kubernetes.client.exceptions import ApiException

from fakes.k8s_api import FakeKubernetesAPI

GENERATED = f"{RELEASE}-generated"
ALL_GENERATED = (
    "CLOUDEMY_ADMIN_PASSWORD,INTERNAL_RESULT_TOKEN,JWT_SECRET,MONGODB_APP_PASSWORD,MONGODB_ROOT_PASSWORD,REDIS_PASSWORD,"
    "REDIS_RUNNER_PASSWORD"
)
HOOK_KINDS = {"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Job"}


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ensure_secret", CHART / "files" / "ensure_secret.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ensure_secret_module = load_script()


def raw_render(helm: str, scenario: str) -> str:
    """One uncached ``helm template`` of a scenario, as Argo CD or Flux would run it on every sync."""
    files, values = SCENARIOS[scenario]
    with tempfile.TemporaryDirectory() as workdir:
        args = [str(TOOLS / helm), "template", RELEASE, str(CHART), "--namespace", NAMESPACE]
        args += values_args(values, files, workdir)
        done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("helm", HELMS)
@pytest.mark.parametrize("scenario", ["default", "prod", "external-databases", "networkpolicy-on", "existing-secret"])
def test_two_renders_of_the_same_values_are_byte_identical(scenario: str, helm: str) -> None:
    assert raw_render(helm, scenario) == raw_render(helm, scenario)


def test_no_generated_credential_is_rendered() -> None:
    """The chart's Secret holds the LLM key and the values given, nothing random."""
    (secret,) = render_chart().of_kind("Secret")
    assert secret["data"] == {"LLM_API_KEY": ""}
    given = render_chart({"secrets": {"jwtSecret": "given-jwt", "redisPassword": "given-redis"}})
    (secret,) = given.of_kind("Secret")
    decoded = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    assert decoded == {"LLM_API_KEY": "", "JWT_SECRET": "given-jwt", "REDIS_PASSWORD": "given-redis"}


def hook_objects(render: Any) -> list[dict[str, Any]]:
    return [o for o in render.objects if o["metadata"]["name"] == f"{RELEASE}-secret-init"]


def hook_env(render: Any) -> dict[str, Any]:
    (job,) = [o for o in hook_objects(render) if o["kind"] == "Job"]
    return {
        name: entry.get("value") for name, entry in env_of(job["spec"]["template"]["spec"]["containers"][0]).items()
    }


def test_the_hook_generates_exactly_the_credentials_left_empty() -> None:
    assert hook_env(render_chart())["SECRET_KEYS"] == ALL_GENERATED
    assert hook_env(render_chart())["SECRET_NAME"] == GENERATED
    assert hook_env(render_chart())["SOURCE_SECRET_NAME"] == RELEASE
    given = render_chart(
        {
            "secrets": {"jwtSecret": "given-jwt", "mongodbRootPassword": "given-mongo"},
            "redis": {"enabled": False},
            "externalRedis": {"url": "redis://r:6379/0"},
        }
    )
    assert hook_env(given)["SECRET_KEYS"] == "CLOUDEMY_ADMIN_PASSWORD,INTERNAL_RESULT_TOKEN,MONGODB_APP_PASSWORD"


def test_every_credential_is_read_from_where_it_lives() -> None:
    """Generated keys from <fullname>-generated, given ones from the chart's Secret, everything from existingSecret."""

    def refs(render: Any) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for _where, pod in render.workloads():
            for container in containers_of(pod):
                for entry in container.get("env") or []:
                    ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
                    if ref:
                        found.setdefault(ref["key"], set()).add(ref["name"])
        return found

    default = refs(render_chart())
    assert default.pop("LLM_API_KEY") == {RELEASE}
    assert set(default) == set(ALL_GENERATED.split(","))
    assert all(names == {GENERATED} for names in default.values()), default
    given = refs(render_chart({"secrets": {"jwtSecret": "given"}}))
    assert given["JWT_SECRET"] == {RELEASE}
    assert given["REDIS_PASSWORD"] == {GENERATED}
    existing = refs(render_chart({"secrets": {"existingSecret": "mine"}}))
    assert all(names == {"mine"} for names in existing.values()), existing


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({"secrets": {"existingSecret": "mine"}}, id="existing-secret"),
        pytest.param(
            {
                "secrets": {
                    "internalResultToken": "a",
                    "jwtSecret": "b",
                    "adminPassword": "c",
                    "mongodbRootPassword": "d",
                    "mongodbAppPassword": "f",
                    "redisPassword": "e",
                    "redisRunnerPassword": "g",
                }
            },
            id="all-given",
        ),
    ],
)
def test_no_hook_when_nothing_is_generated(values: dict[str, Any]) -> None:
    render = render_chart(values)
    assert hook_objects(render) == []
    assert GENERATED not in render.text


def test_the_hook_runs_before_everything_and_cleans_up_after_itself() -> None:
    objects = {o["kind"]: o for o in hook_objects(render_chart())}
    assert set(objects) == HOOK_KINDS
    for kind, obj in objects.items():
        annotations = obj["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
        assert int(annotations["helm.sh/hook-weight"]) == (-5 if kind == "Job" else -10), kind
    pod = objects["Job"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == f"{RELEASE}-secret-init"
    assert pod["automountServiceAccountToken"] is True
    (container,) = pod["containers"]
    assert container["command"] == ["python", "/opt/cloudemy/secret-init/ensure_secret.py"]
    assert container["image"].startswith("ghcr.io/cloudemy/cloudemy-scheduler:"), "the image with the kubernetes client"
    assert objects["ConfigMap"]["data"]["ensure_secret.py"] == (CHART / "files" / "ensure_secret.py").read_text()


def test_the_hook_role_touches_only_the_release_secrets() -> None:
    (role,) = [o for o in hook_objects(render_chart()) if o["kind"] == "Role"]
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [GENERATED, RELEASE], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [GENERATED], "verbs": ["patch"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
    ]
    (binding,) = [o for o in hook_objects(render_chart()) if o["kind"] == "RoleBinding"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": f"{RELEASE}-secret-init", "namespace": NAMESPACE}]


def test_gitops_tools_never_prune_the_generated_secret() -> None:
    env = hook_env(render_chart({"commonLabels": {"team": "edu"}, "commonAnnotations": {"owner": "platform"}}))
    labels = json.loads(env["SECRET_LABELS"])
    assert "app.kubernetes.io/instance" not in labels, "label-tracking GitOps tools would prune it"
    assert labels["cloudemy.io/release"] == RELEASE
    assert labels["team"] == "edu"
    annotations = json.loads(env["SECRET_ANNOTATIONS"])
    assert annotations == {"argocd.argoproj.io/sync-options": "Prune=false", "owner": "platform"}


def test_the_secret_outlives_uninstall_like_the_volumes() -> None:
    (secret,) = render_chart().of_kind("Secret")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    (secret,) = render_chart({"secrets": {"keepOnUninstall": False}}).of_kind("Secret")
    assert "helm.sh/resource-policy" not in (secret["metadata"].get("annotations") or {})


# ---- the hook's script, against an in-memory API with the real client's objects and errors -------------------


class FakeSecrets:
    """CoreV1Api's secret calls over a dict; optional interference simulates a concurrent writer."""

    def __init__(self) -> None:
        self.store: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.writes: list[str] = []
        self.before_write: Any = None

    def put(self, name: str, values: dict[str, str]) -> None:
        self.version += 1
        self.store[name] = {
            "data": {key: base64.b64encode(value.encode()).decode() for key, value in values.items()},
            "version": str(self.version),
            "metadata": {},
        }

    def values(self, name: str) -> dict[str, str]:
        return {key: base64.b64decode(value).decode() for key, value in self.store[name]["data"].items()}

    def read_namespaced_secret(self, name: str, namespace: str) -> V1Secret:
        assert namespace == NAMESPACE
        if name not in self.store:
            raise ApiException(status=404, reason="Not Found")
        item = self.store[name]
        return V1Secret(data=dict(item["data"]), metadata=V1ObjectMeta(name=name, resource_version=item["version"]))

    def _interfere(self) -> None:
        if self.before_write:
            hook, self.before_write = self.before_write, None
            hook(self)

    def create_namespaced_secret(self, namespace: str, body: dict[str, Any]) -> None:
        self._interfere()
        name = body["metadata"]["name"]
        if name in self.store:
            raise ApiException(status=409, reason="AlreadyExists")
        self.version += 1
        self.store[name] = {"data": dict(body["data"]), "version": str(self.version), "metadata": body["metadata"]}
        self.writes.append(f"create {name}")

    def patch_namespaced_secret(self, name: str, namespace: str, body: dict[str, Any]) -> None:
        self._interfere()
        item = self.store[name]
        if body["metadata"]["resourceVersion"] != item["version"]:
            raise ApiException(status=409, reason="Conflict")
        self.version += 1
        item["data"].update(body["data"])
        item["version"] = str(self.version)
        self.writes.append(f"patch {name} {sorted(body['data'])}")


KEYS = ALL_GENERATED.split(",")


def ensure(api: FakeSecrets, **kwargs: Any) -> dict[str, str]:
    return ensure_secret_module.ensure_secret(api, NAMESPACE, GENERATED, KEYS, source=RELEASE, **kwargs)


def test_first_install_creates_every_key_once_with_fresh_url_safe_values() -> None:
    api = FakeSecrets()
    added = ensure(api, labels={"a": "b"}, annotations={"c": "d"})
    assert added == dict.fromkeys(KEYS, "generated")
    values = api.values(GENERATED)
    assert set(values) == set(KEYS)
    assert len(set(values.values())) == len(KEYS), "every credential is its own random value"
    assert all(len(v) == 32 and v.isalnum() for v in values.values())
    assert api.store[GENERATED]["metadata"]["labels"] == {"a": "b"}
    assert api.writes == [f"create {GENERATED}"]


def test_upgrades_never_change_an_existing_value() -> None:
    api = FakeSecrets()
    ensure(api)
    before = api.values(GENERATED)
    for _ in range(3):
        assert ensure(api) == {}
    assert api.values(GENERATED) == before
    assert api.writes == [f"create {GENERATED}"], "a no-op run writes nothing"


def test_only_missing_keys_are_added() -> None:
    api = FakeSecrets()
    api.put(GENERATED, {"JWT_SECRET": "kept", "REDIS_PASSWORD": "kept-too", "MONGODB_ROOT_PASSWORD": ""})
    added = ensure(api)
    assert set(added) == {
        "CLOUDEMY_ADMIN_PASSWORD",
        "INTERNAL_RESULT_TOKEN",
        "MONGODB_ROOT_PASSWORD",
        "MONGODB_APP_PASSWORD",
        "REDIS_RUNNER_PASSWORD",  # an upgrade from a chart without the runner's Redis user gets its password
    }
    values = api.values(GENERATED)
    assert values["JWT_SECRET"] == "kept"
    assert values["REDIS_PASSWORD"] == "kept-too"
    assert values["MONGODB_ROOT_PASSWORD"], "an empty password is not a credential in use: it is filled"


def test_upgrade_from_a_chart_that_stored_generated_values_in_its_own_secret() -> None:
    """Earlier chart versions kept generated passwords in <fullname>: they are carried over, not regenerated,
    so the database initialised with them stays reachable. A value given once and later unset is carried too."""
    api = FakeSecrets()
    legacy = {key: f"legacy-{key.lower()}" for key in KEYS}
    api.put(RELEASE, {"LLM_API_KEY": "sk", **legacy})
    added = ensure(api)
    assert added == dict.fromkeys(KEYS, "copied")
    assert api.values(GENERATED) == legacy


def test_a_concurrent_writer_wins_and_its_values_are_kept() -> None:
    api = FakeSecrets()

    def other_hook(fake: FakeSecrets) -> None:
        fake.put(GENERATED, dict.fromkeys(KEYS, "theirs"))

    api.before_write = other_hook
    assert ensure(api) == {}, "after the conflict, the re-read finds every key"
    assert api.values(GENERATED) == dict.fromkeys(KEYS, "theirs")


def test_a_concurrent_patch_is_not_overwritten() -> None:
    api = FakeSecrets()
    api.put(GENERATED, {"JWT_SECRET": "kept"})

    def other_hook(fake: FakeSecrets) -> None:
        values = fake.values(GENERATED)
        fake.put(GENERATED, {**values, "REDIS_PASSWORD": "theirs"})

    api.before_write = other_hook
    ensure(api)
    values = api.values(GENERATED)
    assert values["REDIS_PASSWORD"] == "theirs"
    assert values["JWT_SECRET"] == "kept"
    assert set(values) == set(KEYS)


def test_api_errors_other_than_not_found_stop_the_hook() -> None:
    api = FakeSecrets()

    def forbidden(name: str, namespace: str) -> None:
        raise ApiException(status=403, reason="Forbidden")

    api.read_namespaced_secret = forbidden  # type: ignore[method-assign]
    with pytest.raises(ApiException):
        ensure(api)


def test_the_script_never_prints_a_value(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeSecrets()
    fake_client = ModuleType("kubernetes.client")
    fake_client.CoreV1Api = lambda: api  # type: ignore[attr-defined]
    fake_config = ModuleType("kubernetes.config")
    fake_config.load_incluster_config = lambda: None  # type: ignore[attr-defined]
    fake_kubernetes = ModuleType("kubernetes")
    fake_kubernetes.client = fake_client  # type: ignore[attr-defined]
    fake_kubernetes.config = fake_config  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kubernetes", fake_kubernetes)
    monkeypatch.setenv("POD_NAMESPACE", NAMESPACE)
    monkeypatch.setenv("SECRET_NAME", GENERATED)
    monkeypatch.setenv("SECRET_KEYS", ALL_GENERATED)
    monkeypatch.setenv("SOURCE_SECRET_NAME", RELEASE)
    monkeypatch.setenv("SECRET_LABELS", '{"x": "y"}')
    assert ensure_secret_module.main() == 0
    assert ensure_secret_module.main() == 0
    out = capsys.readouterr().out
    assert "JWT_SECRET generated" in out
    assert "nothing changed" in out
    for value in api.values(GENERATED).values():
        assert value not in out
    assert api.store[GENERATED]["metadata"]["labels"] == {"x": "y"}


def test_under_network_policies_the_hook_may_reach_the_api_and_nothing_else() -> None:
    """Its policy is a hook too: in place before the Job even when upgrading a release that predates it."""
    render = render_chart({"networkPolicy": {"enabled": True, "kubeApi": {"cidrs": ["10.96.0.1/32"], "ports": [443]}}})
    (policy,) = [o for o in hook_objects(render) if o["kind"] == "NetworkPolicy"]
    assert policy["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(policy["metadata"]["annotations"]["helm.sh/hook-weight"]) < -5, "before the Job"
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "secret-init"
    assert "ingress" not in policy["spec"]
    assert policy["spec"]["egress"] == [
        {"to": [{"ipBlock": {"cidr": "10.96.0.1/32"}}], "ports": [{"protocol": "TCP", "port": 443}]}
    ]


@pytest.mark.parametrize("helm", HELMS)
def test_an_existing_secret_without_a_key_the_release_reads_stops_the_upgrade(tmp_path: Path, helm: str) -> None:
    """Before the runner's Redis user an existingSecret had no REDIS_RUNNER_PASSWORD: an upgrade that reads the
    cluster (install, upgrade, a server dry run) names the missing key instead of leaving the bundled Redis
    unable to start."""

    def install(api: FakeKubernetesAPI, keys: frozenset[str]) -> subprocess.CompletedProcess[str]:
        data = {key: base64.b64encode(b"value").decode() for key in keys}
        api.secrets[(NAMESPACE, "mine")] = {"apiVersion": "v1", "kind": "Secret", "data": data,
                                            "metadata": {"name": "mine", "namespace": NAMESPACE}}  # fmt: skip
        command = [str(TOOLS / helm), "install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=server",
                   "--disable-openapi-validation", "--set", "secrets.existingSecret=mine"]  # fmt: skip
        env = {"KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path), "PATH": os.environ.get("PATH", "")}
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, cwd=ROOT, env=env)

    with FakeKubernetesAPI() as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        older = install(api, CHART_SECRET_KEYS - {"REDIS_RUNNER_PASSWORD"})
        assert older.returncode != 0
        assert "secrets.existingSecret mine has no key REDIS_RUNNER_PASSWORD" in older.stderr
        complete = install(api, CHART_SECRET_KEYS)
        assert complete.returncode == 0, complete.stderr
