"""Self-consistency (LLM_SAMPLES, LLM_MAX_SPREAD): the median per criterion, low agreement goes to review,
the ``n`` parameter where the server honours it and separate requests where it does not."""

from runner_support import SUBMISSION_ID, run_runner

from cloudemy_runner.answer import CriterionAnswer, ModelAnswer
from cloudemy_runner.consistency import combine


def _answer(correctness: float, style: float, feedback: str = "f", *, injection: bool = False) -> ModelAnswer:
    return ModelAnswer(
        criteria=(
            CriterionAnswer("correctness", correctness, "met", "e", f"c{correctness}"),
            CriterionAnswer("style", style, "met", "e", f"s{style}"),
        ),
        fail_tags=(),
        feedback=feedback,
        injection_suspected=injection,
        confidence=0.8,
    )


POINTS = {"correctness": 6.0, "style": 4.0}


def test_median_per_criterion_and_the_largest_spread() -> None:
    consensus = combine([_answer(6, 0, "a"), _answer(2, 4, "b"), _answer(5, 2, "c")], POINTS)
    scores = {c.id: c.score for c in consensus.answer.criteria}
    assert scores == {"correctness": 5.0, "style": 2.0}
    assert consensus.samples == 3
    # correctness spread (6-2)/6 = 0.67, style (4-0)/4 = 1.0
    assert consensus.max_spread == 1.0
    assert consensus.answer.feedback == "c"  # the sample whose total (7) is the medians' total (7)


def test_one_sample_is_taken_as_it_is() -> None:
    only = _answer(6, 4)
    consensus = combine([only], POINTS)
    assert consensus.answer is only
    assert consensus.max_spread == 0.0


def test_any_sample_suspecting_injection_counts() -> None:
    consensus = combine([_answer(6, 4), _answer(6, 4, injection=True), _answer(6, 4)], POINTS)
    assert consensus.answer.injection_suspected


def _result(backend) -> dict:
    assert list(backend.stored) == [SUBMISSION_ID]
    return backend.stored[SUBMISSION_ID]


def test_three_samples_in_one_request_agreeing(runner_env, store_payload, backend, fake_llm) -> None:
    store_payload()
    fake_llm.set_mode("good", fractions=[1.0, 0.9, 1.0])
    run = run_runner(runner_env(LLM_SAMPLES="3"))
    assert run.exit_code == 0
    result = _result(backend)
    assert result["status"] == "graded"
    assert len(fake_llm.requests) == 1
    assert fake_llm.requests[0].body["n"] == 3
    assert result["metrics"]["samples"] == 3
    assert result["metrics"]["max_spread"] == 0.1
    assert result["score"] == 10.0  # the median of 1.0, 0.9, 1.0 is full marks on every criterion


def test_wide_spread_needs_review(runner_env, store_payload, backend, fake_llm) -> None:
    store_payload()
    fake_llm.set_mode("good", fractions=[1.0, 0.2, 0.6])
    run = run_runner(runner_env(LLM_SAMPLES="3", LLM_MAX_SPREAD="0.25"))
    assert run.exit_code == 0
    result = _result(backend)
    assert result["status"] == "needs_review"
    assert "low-agreement" in result["fail_tags"]
    assert result["metrics"]["max_spread"] == 0.8


def test_a_server_ignoring_n_gets_separate_requests(runner_env, store_payload, backend, fake_llm) -> None:
    store_payload()
    fake_llm.set_mode("good", fractions=[1.0, 0.5, 0.5], supports_n=False)
    run = run_runner(runner_env(LLM_SAMPLES="3", LLM_MAX_SPREAD="0.6"))
    assert run.exit_code == 0
    result = _result(backend)
    assert len(fake_llm.requests) == 3
    assert [r.body.get("n") for r in fake_llm.requests] == [3, 2, None]
    assert result["metrics"]["samples"] == 3
    assert result["status"] == "graded"
    assert result["score"] == 5.0  # the median of 1.0, 0.5, 0.5


def test_one_sample_is_the_default(runner_env, store_payload, backend, fake_llm) -> None:
    store_payload()
    fake_llm.set_mode("good")
    run = run_runner(runner_env())
    assert run.exit_code == 0
    assert "n" not in fake_llm.requests[0].body
    assert fake_llm.requests[0].body["temperature"] == 0
    assert _result(backend)["metrics"]["samples"] == 1


def test_demo_and_chart_pass_the_sampling_settings_to_runner_jobs() -> None:
    from demo.chart import runner_job_template
    from demo.platform import PlatformConfig, runner_job_values

    cfg = PlatformConfig.from_env({"LLM_SAMPLES": "3", "LLM_MAX_SPREAD": "0.3", "LLM_BASE_URL": "http://127.0.0.1:9"})
    values = runner_job_values(cfg)
    template = runner_job_template(set_values=values["set_values"], set_strings=values["set_strings"])
    (runner,) = [c for c in template["spec"]["template"]["spec"]["containers"] if c["name"] == "runner"]
    env = {e["name"]: e.get("value") for e in runner["env"]}
    assert env["LLM_SAMPLES"] == "3"
    assert env["LLM_MAX_SPREAD"] == "0.3"
