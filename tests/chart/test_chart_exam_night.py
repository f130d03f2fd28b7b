"""Exam-night limits in the chart: the shared LLM budget reaches runners, scheduler and backend with the same
numbers, the breaker's thresholds reach runners and scheduler alike, and the bundled Redis has a memory bound
that refuses writes instead of evicting payloads."""

import pytest
from chart_render import HELMS, env_of, main_container, render_chart, render_error


def value(env: dict, name: str) -> str:
    return env[name]["value"]


@pytest.mark.parametrize("helm", HELMS)
def test_rate_limit_values_feed_runner_scheduler_and_backend(helm: str) -> None:
    render = render_chart(
        {"llm": {"rateLimit": {"requestsPerMinute": 500, "tokensPerMinute": 2_000_000, "requeueLimit": 5}}}, helm=helm
    )
    runner = env_of(render.job_template()["spec"]["template"]["spec"]["containers"][0])
    scheduler = env_of(main_container(render, "Deployment", "scheduler"))
    backend = env_of(main_container(render, "Deployment", "backend"))
    for env in (runner, scheduler):
        assert value(env, "LLM_REQUESTS_PER_MINUTE") == "500"
        assert value(env, "LLM_TOKENS_PER_MINUTE") == "2000000", "large numbers are not rendered as 2e+06"
        assert value(env, "LLM_REQUEUE_LIMIT") == "5"
    assert value(backend, "LLM_REQUEUE_LIMIT") == "5", "the backend enforces the requeue limit"


def test_rate_limit_defaults_are_no_limit_and_three_requeues() -> None:
    runner = env_of(render_chart().job_template()["spec"]["template"]["spec"]["containers"][0])
    assert (value(runner, "LLM_REQUESTS_PER_MINUTE"), value(runner, "LLM_TOKENS_PER_MINUTE")) == ("0", "0")
    assert value(runner, "LLM_REQUEUE_LIMIT") == "3"


@pytest.mark.parametrize("helm", HELMS)
def test_breaker_thresholds_are_one_setting_for_runners_and_scheduler(helm: str) -> None:
    """The scheduler tells a half-open breaker from a closed one with the runners' threshold: both get the same
    LLM_BREAKER_FAILURES and LLM_BREAKER_OPEN_SECONDS, from llm.breaker, with the runner's defaults."""
    for values, expected in (
        ({}, ("5", "30")),
        ({"llm": {"breaker": {"failures": 2, "openSeconds": 7.5}}}, ("2", "7.5")),
    ):
        render = render_chart(values, helm=helm)
        runner = env_of(render.job_template()["spec"]["template"]["spec"]["containers"][0])
        scheduler = env_of(main_container(render, "Deployment", "scheduler"))
        for env in (runner, scheduler):
            assert (value(env, "LLM_BREAKER_FAILURES"), value(env, "LLM_BREAKER_OPEN_SECONDS")) == expected


@pytest.mark.parametrize("breaker", [{"failures": 0}, {"openSeconds": 0}, {"openSeconds": 3601}, {"halfOpen": 1}])
def test_bad_breaker_values_are_refused(breaker: dict) -> None:
    assert "breaker" in render_error({"llm": {"breaker": breaker}})


@pytest.mark.parametrize(
    "rate_limit", [{"requestsPerMinute": -1}, {"requeueLimit": 101}, {"tokensPerMinute": "lots"}, {"burst": 3}]
)
def test_bad_rate_limits_are_refused(rate_limit: dict) -> None:
    assert "rateLimit" in render_error({"llm": {"rateLimit": rate_limit}})


def test_bundled_redis_never_evicts_and_stays_under_its_limit() -> None:
    command = main_container(render_chart(), "StatefulSet", "redis")["command"]
    flags = dict(zip(command[1::2], command[2::2], strict=False))
    assert flags["--maxmemory-policy"] == "noeviction"
    assert flags["--maxmemory"] == "192mb", "about 3/4 of the 256Mi limit: room for the AOF rewrite and buffers"
    custom = main_container(render_chart({"redis": {"maxmemory": "1gb"}}), "StatefulSet", "redis")["command"]
    assert custom[custom.index("--maxmemory") + 1] == "1gb"
    assert "maxmemory" in render_error({"redis": {"maxmemory": "lots"}})


def test_runner_job_ignores_disruptions_and_never_reruns_a_runner_that_exited() -> None:
    job = render_chart().job_template()
    rules = job["spec"]["podFailurePolicy"]["rules"]
    assert rules[0] == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
    assert rules[1] == {
        "action": "FailJob",
        "onExitCodes": {"containerName": "runner", "operator": "In", "values": [1, 2]},
    }
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never", "podFailurePolicy requires it"
