"""Runner Job names: the scheduler formats them, the backend and the runner parse them back."""

import pytest

from cloudemy_common.jobs import RunnerJob, job_name, job_name_of_pod, parse_job_name
from cloudemy_common.models import StatusUpdate

SID = "507f1f77bcf86cd799439011"


@pytest.mark.parametrize("attempt", [1, 2, 17, 1000])
def test_parse_is_the_inverse_of_format(attempt: int) -> None:
    name = job_name(SID, attempt)
    assert parse_job_name(name) == RunnerJob(SID, attempt)
    assert StatusUpdate(status="dispatched", job_name=name).job_name == name  # a valid Kubernetes name


@pytest.mark.parametrize(("attempt", "requeue"), [(1, 1), (1, 3), (4, 2), (1000, 100)])
def test_a_requeued_attempt_gets_a_job_of_its_own(attempt: int, requeue: int) -> None:
    name = job_name(SID, attempt, requeue)
    assert name not in {job_name(SID, attempt), job_name(SID, attempt, requeue - 1)}
    assert parse_job_name(name) == RunnerJob(SID, attempt, requeue)
    assert job_name_of_pod(f"{name}-x7k2p") == name
    assert StatusUpdate(status="dispatched", job_name=name).job_name == name


@pytest.mark.parametrize(
    "name",
    [None, "", "runner-", f"runner-{SID.upper()}", f"runner-{SID}-", f"runner-{SID}-0", f"runner-{SID}-x",
     f"worker-{SID}", f"runner-{SID}-2-abcde", f"runner-{SID[:-1]}", f" runner-{SID}",
     f"runner-{SID}-2-0", f"runner-{SID}-2-1-1"],
)  # fmt: skip
def test_other_names_are_no_runner_job(name: str | None) -> None:
    assert parse_job_name(name) is None


@pytest.mark.parametrize(
    ("pod", "job"),
    [(f"{job_name(SID)}-x7k2p", job_name(SID)), (f"{job_name(SID, 3)}-x7k2p", job_name(SID, 3)),
     (job_name(SID), None), (f"{job_name(SID)}-x7k2", None), ("laptop.local", None), (None, None)],
)  # fmt: skip
def test_a_pod_name_gives_its_runner_job(pod: str | None, job: str | None) -> None:
    assert job_name_of_pod(pod) == job


def test_one_object_id_pattern_for_models_storage_and_job_names() -> None:
    from pydantic import TypeAdapter, ValidationError

    from cloudemy_common.ids import is_object_id
    from cloudemy_common.models import ObjectIdStr

    adapter = TypeAdapter(ObjectIdStr)
    for good in (SID, "0" * 24):
        assert is_object_id(good)
        assert adapter.validate_python(good) == good
        assert parse_job_name(job_name(good)) == RunnerJob(good, 1)
    for bad in (SID.upper(), SID[:-1], SID + "0", f" {SID}", "z" * 24):
        assert not is_object_id(bad)
        assert parse_job_name(f"runner-{bad}") is None
        with pytest.raises(ValidationError):
            adapter.validate_python(bad)
