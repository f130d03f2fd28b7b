"""EXECUTOR=kubernetes: runner Jobs through the official client (in-cluster config first, else KUBECONFIG)."""

import json
import logging
from typing import Any

import pydantic
import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from cloudemy_scheduler.executors.base import Created, JobRejected, OnFinished, TransientError
from cloudemy_scheduler.watcher import JobWatcher, finished_condition

log = logging.getLogger(__name__)

# Answers worth retrying: the API is overloaded or down, or the scheduler's RBAC / namespace is not in place yet
# (an operator fixes those without the message being lost).
RETRYABLE_STATUS = frozenset({0, 401, 403, 404, 408, 429, 500, 502, 503, 504})


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
    return configuration


class KubernetesExecutor:
    def __init__(
        self,
        namespace: str,
        selector: str,
        *,
        image_pull_timeout: float,
        request_timeout: float = 10,
        watch_timeout: int = 300,
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
            image_pull_timeout=image_pull_timeout,
            watch_timeout=watch_timeout,
            request_timeout=request_timeout,
        )

    def start(self, on_finished: OnFinished) -> None:
        self.watcher.start(on_finished)

    def create(self, job: dict[str, Any]) -> Created:
        try:
            response = self.batch.create_namespaced_job(
                self.namespace, job, _preload_content=False, _request_timeout=(3, self.request_timeout)
            )
            response.data  # noqa: B018 - read the body so the connection goes back to the pool
            response.release_conn()
            return Created.CREATED
        except ApiException as exc:
            if exc.status == 409:
                return Created.EXISTS
            if exc.status in RETRYABLE_STATUS or exc.status >= 500:
                raise TransientError(f"API answered {exc.status} {exc.reason}") from exc
            raise JobRejected(f"API answered {exc.status} {exc.reason}: {(exc.body or '')[:300]}") from exc
        except pydantic.ValidationError as exc:
            raise JobRejected(f"the Job body is not a valid batch/v1 Job: {exc.error_count()} errors") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransientError(f"API unreachable: {type(exc).__name__}") from exc

    def is_finished(self, job_name: str) -> bool:
        try:
            response = self.batch.read_namespaced_job(
                job_name, self.namespace, _preload_content=False, _request_timeout=self.request_timeout
            )
            job = json.loads(response.data)
            response.release_conn()
        except ApiException as exc:
            if exc.status == 404:  # deleted since the 409 (TTL): it has ended
                return True
            raise TransientError(f"API answered {exc.status} {exc.reason}") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransientError(f"API unreachable: {type(exc).__name__}") from exc
        return finished_condition(job) is not None

    def unfinished_job_names(self) -> set[str] | None:
        return self.watcher.unfinished_job_names()

    def healthy(self) -> tuple[bool, str]:
        return self.watcher.healthy()

    def close(self) -> None:
        self.watcher.stop()
