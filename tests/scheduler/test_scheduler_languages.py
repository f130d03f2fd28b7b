"""Runner images per language: the scheduler stamps the image that carries the submission's toolchain into its
Job, and a language no image serves ends as an ``error`` result without a Job (nothing waits forever)."""

import json

import yaml
from scheduler_harness import QUEUE, message, sid, wait_for

from cloudemy_common.models import ResultBody

PROCESSING = QUEUE + ":processing"
DEAD = QUEUE + ":dead"
IMAGES = {"python": "registry.example/cloudemy-runner:1.2", "c": "registry.example/cloudemy-runner:1.2-polyglot"}


def runner_image(k8s_api, name):
    job = wait_for(lambda: k8s_api.get_job(name), what=f"Job {name}")
    return job["spec"]["template"]["spec"]["containers"][0]["image"]


def test_each_job_gets_the_image_of_its_language(k8s_api, redis_client, start_scheduler):
    start_scheduler(runner_language_images=json.dumps(IMAGES))
    redis_client.rpush(QUEUE, message(1, language="python"), message(2, language="c"))
    assert runner_image(k8s_api, f"runner-{sid(1)}") == IMAGES["python"]
    assert runner_image(k8s_api, f"runner-{sid(2)}") == IMAGES["c"]


def test_language_without_an_image_is_reported_not_dispatched(k8s_api, backend, redis_client, start_scheduler):
    start_scheduler(runner_language_images=json.dumps(IMAGES))
    redis_client.rpush(QUEUE, message(3, language="java"), message(4, language="python"))
    wait_for(lambda: k8s_api.get_job(f"runner-{sid(4)}"), what="the next message still dispatched")
    result = wait_for(lambda: backend.results_for(sid(3)), what="language-unavailable result")[0]
    ResultBody.model_validate(result)
    assert result["status"] == "error"
    assert result["fail_tags"] == ["language-unavailable"]
    assert "java" in result["feedback"]
    assert k8s_api.get_job(f"runner-{sid(3)}") is None, "no Job for a language no image serves"
    wait_for(lambda: redis_client.llen(PROCESSING) == 0, what="processing empty")
    assert redis_client.llen(QUEUE) == 0
    assert redis_client.llen(DEAD) == 0, "a configuration gap is not a malformed message"
    assert backend.posts(f"/submissions/{sid(3)}/status") == [], "never reported as dispatched"


def test_without_a_language_map_every_language_runs_in_the_template_image(
    k8s_api, redis_client, start_scheduler, job_template
):
    start_scheduler()
    redis_client.rpush(QUEUE, message(5, language="java"))
    template_image = yaml.safe_load(job_template.read_text())["spec"]["template"]["spec"]["containers"][0]["image"]
    assert runner_image(k8s_api, f"runner-{sid(5)}") == template_image
