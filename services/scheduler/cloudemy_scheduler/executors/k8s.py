"""EXECUTOR=kubernetes: runner Jobs through the official client (in-cluster config first, else KUBECONFIG)."""

import logging
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from cloudemy_common.retry import RETRYABLE_HTTP_STATUS
from cloudemy_scheduler.executors.base import Created, JobRejected, JobView, OnFinished, TransientError
from cloudemy_scheduler.stuck_pods import PendingBounds, StuckPodSweep
from cloudemy_scheduler.watcher import JobWatcher, ReportedLabeller, finished_condition, read_job

log = logging.getLogger(__name__)

RETRYABLE_CREATE_STATUS = RETRYABLE_HTTP_STATUS | {0, 401}
"""Answers to a Job create worth retrying: the shared retryable ones (the API overloaded or down), no answer at
all (0), and 401 (the client refreshes its token). 403 (RBAC, quota, an admission webhook), 404 and every other
4xx are the cluster refusing this Job: retrying would wedge the dispatch loop on one message, so the submission
ends as ``error`` with fail tag ``cluster-refused`` and the API's answer in the log and the dead-letter entry."""


def load_configuration(kubeconfig: str | None = None) -> client.Configuration:
    """In-cluster service-account config when running in a pod, else the kubeconfig (KUBECONFIG)."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
        log.info("Kubernetes: in-cluster configuration")
    except config.ConfigException:
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        log.info("Kubernetes: kubeconfig, API server %s", configuration.host)
    configuration.retries = False  # one retry policy: the dispatcher's, with backoff
    # Pin the proxy taken from the environment (usually none). Left unpinned, the client's token-refresh hook
    # re-reads every environment variable for it on each request: a fifth of a create's CPU time.
    configuration.proxy = configuration.proxy
    return configuration


class KubernetesExecutor:
    def __init__(
        self,
        namespace: str,
        selector: str,
        *,
        pending_bounds: PendingBounds,
        request_timeout: float = 10,
        watch_timeout: int = 300,
        list_page_size: int = 500,
        kubeconfig: str | None = None,
    ) -> None:
        configuration = load_configuration(kubeconfig)
        self.namespace = namespace
        self.request_timeout = request_timeout
        self.batch = client.BatchV1Api(client.ApiClient(configuration))
        watch_client = client.ApiClient(configuration)  # its own pool: the watch holds a connection open
        self.watcher = JobWatcher(
            client.BatchV1Api(watch_client),
            client.CoreV1Api(watch_client),
            namespace,
            selector,
            watch_timeout=watch_timeout,
            request_timeout=request_timeout,
            page_size=list_page_size,
            labeller=ReportedLabeller(self.batch, namespace, request_timeout),  # the create pool, not the watch's
        )
        self.stuck_pods = StuckPodSweep(
            self.batch,
            client.CoreV1Api(self.batch.api_client),
            namespace,
            selector,
            self.watcher,
            bounds=pending_bounds,
            request_timeout=request_timeout,
        )
        self.watcher.runner_seen = self.stuck_pods.runner_seen

    def start(self, on_finished: OnFinished) -> None:
        self.watcher.start(on_finished)
        self.stuck_pods.start()

    def create(self, job: dict[str, Any]) -> Created:
        try:
            status, answer = self._post_job(job)
        except ApiException as exc:  # raised by the client itself, e.g. a TLS failure
            raise TransientError(f"API call failed: {exc.reason}") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransientError(f"API unreachable: {type(exc).__name__}") from exc
        if 200 <= status <= 299:
            return Created.CREATED
        if status == 409:
            return Created.EXISTS
        if status in RETRYABLE_CREATE_STATUS or status >= 500:
            raise TransientError(f"API answered {status}")
        raise JobRejected(f"API answered {status}: {answer[:300]}")

    def _post_job(self, job: dict[str, Any]) -> tuple[int, str]:
        """POST the Job body as JSON through the client's ApiClient (its auth, token refresh, host and pool).

        This is what ``create_namespaced_job`` does, minus its pydantic round trip of the body (a dict validated
        into a V1Job model and serialized back), which cost more CPU than everything else in a dispatch. The API
        server validates the Job; tests check that it receives exactly the body built from the template."""
        request = self.batch.api_client.param_serialize(
            method="POST",
            resource_path="/apis/batch/v1/namespaces/{namespace}/jobs",
            path_params={"namespace": self.namespace},
            header_params={"Content-Type": "application/json", "Accept": "application/json"},
            body=job,
            auth_settings=["BearerToken"],
        )
        response = self.batch.api_client.call_api(*request, _request_timeout=(3, self.request_timeout))
        answer = response.read().decode("utf-8", errors="replace")
        response.response.release_conn()
        return response.status, answer

    def is_finished(self, job_name: str) -> bool:
        try:
            job = read_job(self.batch, self.namespace, job_name, self.request_timeout)
        except ApiException as exc:
            raise TransientError(f"API answered {exc.status} {exc.reason}") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransientError(f"API unreachable: {type(exc).__name__}") from exc
        if job is None:  # deleted since the 409 (TTL): it has ended
            return True
        return finished_condition(job) is not None

    def unfinished_view(self) -> JobView | None:
        return self.watcher.unfinished_view()

    def healthy(self) -> tuple[bool, str]:
        return self.watcher.healthy()

    def close(self) -> None:
        self.stuck_pods.stop()
        self.watcher.stop()
