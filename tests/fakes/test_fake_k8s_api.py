"""The fake Kubernetes API is unkind where a real one is: pages, expired continue tokens, selectors that exclude,
merge patches that move a Job out of a watch's selector, and 20,000 retained Jobs answered page by page."""

import json
import threading

import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from fakes.k8s_api import FakeKubernetesAPI, retained_jobs

JOB = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"labels": {"app": "runner"}},
       "spec": {"template": {"spec": {"containers": [{"name": "runner", "image": "runner:1"}]}}}}  # fmt: skip


@pytest.fixture
def api():
    with FakeKubernetesAPI() as server:
        yield server


@pytest.fixture
def batch(api, tmp_path):
    configuration = client.Configuration()
    config.load_kube_config(str(api.write_kubeconfig(tmp_path / "kubeconfig")), client_configuration=configuration)
    return client.BatchV1Api(client.ApiClient(configuration))


def list_page(batch, **kwargs):
    response = batch.list_namespaced_job("default", _preload_content=False, **kwargs)
    return json.loads(response.data)


def test_pages_follow_continue_in_name_order_at_one_resource_version(api, batch):
    api.seed_jobs(retained_jobs(JOB, 25))
    first = list_page(batch, limit=10)
    assert len(first["items"]) == 10
    assert first["metadata"]["remainingItemCount"] == 15
    names = [job["metadata"]["name"] for job in first["items"]]
    token, pages = first["metadata"]["continue"], 1
    api.create_job("default", {**JOB, "metadata": {"name": "zz-created-meanwhile", "labels": {"app": "runner"}}})
    while token:
        page = list_page(batch, limit=10, _continue=token)
        assert page["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
        names += [job["metadata"]["name"] for job in page["items"]]
        token, pages = page["metadata"].get("continue"), pages + 1
    assert pages == 3
    assert names == sorted(names)
    assert len(names) == 26
    assert len(set(names)) == 26


def test_a_continue_token_from_before_a_compaction_is_410_expired(api, batch):
    api.seed_jobs(retained_jobs(JOB, 5))
    token = list_page(batch, limit=2)["metadata"]["continue"]
    api.expire_watches()
    with pytest.raises(ApiException) as gone:
        list_page(batch, limit=2, _continue=token)
    assert gone.value.status == 410
    assert json.loads(gone.value.body)["reason"] == "Expired"
    assert len(list_page(batch, limit=2)["items"]) == 2, "a list from the beginning works"


def test_injected_faults_can_target_later_pages_only(api, batch):
    api.seed_jobs(retained_jobs(JOB, 6))
    api.fail_next(1, 410, query="continue", after=1)
    token = list_page(batch, limit=2)["metadata"]["continue"]
    token = list_page(batch, limit=2, _continue=token)["metadata"]["continue"]
    with pytest.raises(ApiException) as gone:
        list_page(batch, limit=2, _continue=token)
    assert gone.value.status == 410
    api.fail_next(1, 403)
    with pytest.raises(ApiException) as refused:
        list_page(batch)
    assert refused.value.status == 403
    assert json.loads(refused.value.body)["reason"] == "Forbidden"


def test_selectors_exclude_by_inequality_and_absence(api, batch):
    api.seed_jobs(retained_jobs(JOB, 4, {"done": "true"}))
    api.seed_jobs([{**JOB, "metadata": {"name": "open", "labels": {"app": "runner"}}}])
    for selector in ("app=runner,done!=true", "app=runner,!done"):
        assert [j["metadata"]["name"] for j in list_page(batch, label_selector=selector)["items"]] == ["open"]
    assert "remainingItemCount" not in list_page(batch, label_selector="app=runner", limit=1)["metadata"]


def test_a_label_patch_is_modified_for_some_watches_and_deleted_for_those_it_leaves(api, batch):
    api.seed_jobs([{**JOB, "metadata": {"name": "one", "labels": {"app": "runner"}}}])
    rv = list_page(batch)["metadata"]["resourceVersion"]
    seen: dict[str, list[tuple[str, str]]] = {"app=runner": [], "app=runner,!done": []}

    def follow(selector):
        for event in watch.Watch(return_type="object").stream(
            batch.list_namespaced_job, "default", label_selector=selector, resource_version=rv, timeout_seconds=2
        ):
            seen[selector].append((event["type"], event["raw_object"]["metadata"]["labels"].get("done", "")))

    threads = [threading.Thread(target=follow, args=(selector,)) for selector in seen]
    for thread in threads:
        thread.start()
    patch = {"metadata": {"labels": {"done": "true"}}}
    batch.patch_namespaced_job("one", "default", patch, _content_type="application/merge-patch+json")
    for thread in threads:
        thread.join(10)
    assert seen["app=runner"] == [("MODIFIED", "true")]
    assert seen["app=runner,!done"] == [("DELETED", "true")]
    assert api.get_job("one")["metadata"]["labels"] == {"app": "runner", "done": "true"}
    assert [(c.method, c.status, c.name) for c in api.calls if c.method == "PATCH"] == [("PATCH", 200, "one")]


def test_the_clients_default_patch_of_a_dict_is_applied_as_a_strategic_merge(api, batch):
    api.seed_jobs([{**JOB, "metadata": {"name": "one", "labels": {"app": "runner"}}}])
    batch.patch_namespaced_job("one", "default", {"metadata": {"labels": {"done": "true", "app": None}}})
    assert api.get_job("one")["metadata"]["labels"] == {"done": "true"}
    with pytest.raises(ApiException) as unsupported:
        batch.patch_namespaced_job("one", "default", [{"op": "remove", "path": "/metadata/labels/done"}])
    assert unsupported.value.status == 415


def test_twenty_thousand_retained_jobs_are_listed_page_by_page(api, batch):
    assert api.seed_jobs(retained_jobs(JOB, 20_000)) == 20_000
    total, token, pages = 0, None, 0
    while True:
        page = list_page(batch, limit=500, _request_timeout=10, **({"_continue": token} if token else {}))
        total, pages = total + len(page["items"]), pages + 1
        token = page["metadata"].get("continue")
        if not token:
            break
    assert (total, pages) == (20_000, 40)
