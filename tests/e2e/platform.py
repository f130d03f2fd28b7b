"""The whole platform driven by the rendered chart, on 127.0.0.1, without a cluster.

The chart is rendered with values/minikube.yaml (plus per-scenario ``--set``s for the LLM endpoint and small
deadlines). The backend and the scheduler run as local processes with the env of their rendered Deployments;
the scheduler runs in ``kubernetes`` mode against the fake API server; the fake kubelet runs each Job's runner.
Runners reach the backend through a TCP proxy that a test can cut. The one deliberate difference from a
cluster: the backend uses the in-memory store (``MONGO_URI=memory://``), since no MongoDB runs here.
"""

import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

from demo.chart import ROOT
from demo.processes import ManagedProcess, RedisProcess, free_port, image_env
from e2e.kubelet import FakeKubelet
from e2e.release import LocalEnv, Release, container, render_release
from fakes.k8s_api import FakeKubernetesAPI
from fakes.openai_server import FakeOpenAI
from fakes.tcp_proxy import TcpProxy

VALUES = ROOT / "values" / "minikube.yaml"
TERMINAL = {"graded", "needs_review", "error", "timeout"}


class E2EPlatform:
    def __init__(
        self,
        workdir: Path,
        *,
        set_values: list[str] | None = None,
        set_strings: list[str] | None = None,
        namespace: str = "default",
    ) -> None:
        self.workdir = workdir
        self.namespace = namespace
        self.llm = FakeOpenAI()
        self.k8s = FakeKubernetesAPI()
        self.backend_port = free_port()
        self.proxy = TcpProxy(self.backend_port)
        self.metrics_port = free_port()
        self.release: Release = render_release(
            VALUES,
            namespace=namespace,
            set_values=[
                f"llm.baseUrl={self.llm.base_url}",
                "secrets.llmApiKey=e2e-test-key",
                # the scenarios submit in bulk from a few students: the per-user limit has its own tests
                "config.submissionRatePerMinute=0",
                *(set_values or []),
            ],
            set_strings=set_strings,
        )
        self.backend_svc = self.release.service_name("backend")
        self.redis_svc = self.release.service_name("redis")
        self.redis = RedisProcess(appendonly=True, password=self._redis_password())
        self.backend: ManagedProcess | None = None
        self.scheduler: ManagedProcess | None = None
        self.kubelet: Any = None
        self._llm_started = False

    # ---- the rendered Deployments, resolved locally ------------------------------------------------------------

    def _redis_password(self) -> str | None:
        """The password in the services' REDIS_URL: the ``default`` user's (the runners' user has its own)."""
        deployment = self.release.component("Deployment", "backend")
        item = container(deployment["spec"]["template"]["spec"], "backend")
        return urlsplit(LocalEnv(self.release).resolve(item)["REDIS_URL"]).password

    def _env(self, backend_port: int) -> LocalEnv:
        return LocalEnv(self.release, {self.backend_svc: backend_port, self.redis_svc: self.redis.port})

    def backend_env(self) -> dict[str, str]:
        deployment = self.release.component("Deployment", "backend")
        item = container(deployment["spec"]["template"]["spec"], "backend")
        return {**image_env(), **self._env(self.backend_port).resolve(
            item, {"PORT": str(self.backend_port), "MONGO_URI": "memory://", "WEB_CONCURRENCY": "1"}
        )}  # fmt: skip

    def scheduler_env(self) -> dict[str, str]:
        deployment = self.release.component("Deployment", "scheduler")
        pod = deployment["spec"]["template"]["spec"]
        item = container(pod, "scheduler")
        env = self._env(self.backend_port).resolve(item)
        template_path = self.workdir / "runner-job.yaml"
        template_path.write_text(yaml.safe_dump(self.release.job_template()))
        mounted = _mounted_file(pod, item, env["RUNNER_JOB_TEMPLATE"])
        assert mounted is not None, "RUNNER_JOB_TEMPLATE must point into the mounted Job template ConfigMap"
        kubeconfig = self.k8s.write_kubeconfig(self.workdir / "kubeconfig", namespace=self.namespace)
        overrides = {
            "RUNNER_JOB_TEMPLATE": str(template_path),
            "KUBECONFIG": str(kubeconfig),
            "METRICS_PORT": str(self.metrics_port),
        }
        return {**image_env(), **env, **overrides}

    def runner_env(self, job_container: dict[str, Any]) -> dict[str, str]:
        """A runner reaches the backend through the proxy, as a pod reaches it through its Service."""
        return self._env(self.proxy.port).resolve(job_container)

    # ---- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> "E2EPlatform":
        try:
            # The chart's Redis users (services and runner), from the ACL file its init container writes.
            self.redis.aclfile = self.release.redis_acl_file(self.workdir / "redis-acl")
            self.redis.start()
            self.llm.start()
            self._llm_started = True
            self.k8s.start()
            self.proxy.start()
            self.kubelet = self.make_kubelet()
            self.backend = ManagedProcess("backend", self.backend_command(), self.backend_env(), self.workdir)
            self.backend.start()
            self.backend.wait_http(f"{self.url}/readyz", timeout=60)
            self.start_scheduler()
        except BaseException:
            self.stop()
            raise
        return self

    def backend_command(self) -> list[str]:
        """One uvicorn worker (the in-memory store is per process)."""
        return [sys.executable, "-m", "cloudemy_backend"]

    def make_kubelet(self) -> Any:
        """What runs the Jobs the scheduler creates (attached to the fake API; has ``close()``): by default
        the fake kubelet, one runner process per Job."""
        return FakeKubelet(self.k8s, self.runner_env).attach()

    def start_scheduler(self) -> None:
        self.scheduler = ManagedProcess(
            "scheduler", [sys.executable, "-m", "cloudemy_scheduler"], self.scheduler_env(), self.workdir
        )
        self.scheduler.start()
        self.scheduler.wait_http(f"http://127.0.0.1:{self.metrics_port}/healthz", timeout=60)

    def stop(self) -> None:
        for proc in (self.scheduler, self.backend):
            if proc is not None:
                proc.stop()
        if self.kubelet is not None:
            self.kubelet.close()
        self.proxy.close()
        self.k8s.close()
        if self._llm_started:
            self.llm.stop()
            self._llm_started = False
        self.redis.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.backend_port}"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=15, trust_env=False)

    # ---- driving the public API -----------------------------------------------------------------------------

    @property
    def admin(self) -> tuple[str, str]:
        env = self.backend_env()
        return env["CLOUDEMY_ADMIN_EMAIL"], env["CLOUDEMY_ADMIN_PASSWORD"]

    def wait_terminal(
        self, http: httpx.Client, ids: list[str], headers: dict[str, str], timeout: float
    ) -> dict[str, dict[str, Any]]:
        """Poll until every submission is terminal; fail with the stragglers' statuses."""
        deadline = time.monotonic() + timeout
        done: dict[str, dict[str, Any]] = {}
        while time.monotonic() < deadline:
            for sid in [i for i in ids if i not in done]:
                body = http.get(f"/api/submissions/{sid}", headers=headers).json()
                if body.get("status") in TERMINAL:
                    done[sid] = body
            if len(done) == len(ids):
                return done
            time.sleep(0.25)
        pending = {sid: http.get(f"/api/submissions/{sid}", headers=headers).json().get("status")
                   for sid in ids if sid not in done}  # fmt: skip
        raise AssertionError(f"{len(pending)} submissions not terminal after {timeout}s: {pending}")


def _mounted_file(pod: dict[str, Any], item: dict[str, Any], path: str) -> str | None:
    """The ConfigMap key that ``path`` is inside the container, or None when no ConfigMap volume holds it."""
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    for mount in item.get("volumeMounts") or []:
        volume = volumes.get(mount["name"], {})
        if "configMap" not in volume:
            continue
        prefix = mount["mountPath"].rstrip("/") + "/"
        if mount.get("subPath") and path == mount["mountPath"]:
            return mount["subPath"]
        if path.startswith(prefix):
            return path[len(prefix) :]
    return None
