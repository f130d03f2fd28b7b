"""Fixtures for the scheduler tests: the fake Kubernetes API, the recording backend, and scheduler factories."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from scheduler_harness import MASTER_TOKEN, ThreadScheduler, job_template_file, scheduler_env

from fakes.internal_api import RecordingBackend
from fakes.k8s_api import FakeKubernetesAPI


@pytest.fixture
def k8s_api() -> Iterator[FakeKubernetesAPI]:
    with FakeKubernetesAPI() as api:
        yield api


@pytest.fixture
def kubeconfig(k8s_api: FakeKubernetesAPI, tmp_path: Path) -> Path:
    return k8s_api.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def backend() -> Iterator[RecordingBackend]:
    with RecordingBackend(master_token=MASTER_TOKEN) as recorder:  # checks tokens like the backend does
        yield recorder


@pytest.fixture
def job_template(tmp_path: Path, backend: RecordingBackend) -> Path:
    """The chart's runner Job template, its runners pointed at this test's recording backend."""
    return job_template_file(tmp_path / "runner-job.yaml", backend.internal_url)


@pytest.fixture
def env_for(
    redis_url: str, kubeconfig: Path, backend: RecordingBackend, job_template: Path
) -> Callable[..., dict[str, str]]:
    """Scheduler environment against this test's Redis, fake API, recording backend and the chart's Job
    template, plus overrides."""

    def make(**extra: str | int | float) -> dict[str, str]:
        return scheduler_env(
            str(extra.pop("redis_url", redis_url)), kubeconfig, backend.internal_url, job_template, **extra
        )

    return make


@pytest.fixture
def start_scheduler(env_for: Callable[..., dict[str, str]]) -> Iterator[Callable[..., ThreadScheduler]]:
    """Start in-thread schedulers; every one still running is stopped at the end of the test."""
    started: list[ThreadScheduler] = []

    def start(**extra: str | int | float) -> ThreadScheduler:
        scheduler = ThreadScheduler(env_for(**extra)).__enter__()
        started.append(scheduler)
        return scheduler

    yield start
    for scheduler in started:
        if scheduler.thread.is_alive():
            scheduler.stop()
