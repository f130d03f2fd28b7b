"""The fake OpenAI server other suites rely on: its modes through the official client, its queue and
records, and its standalone process with the HTTP control API."""

import json
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest

from fakes.openai_server import UNKNOWN_CRITERION_ID, FakeOpenAI
from fakes.ports import free_port

TESTS_DIR = Path(__file__).resolve().parents[1]
RUBRIC_LINE = json.dumps([{"id": "a", "points": 4}, {"id": "b", "points": 6}])
MESSAGES = [{"role": "system", "content": f"Rubric:\n{RUBRIC_LINE}\nAnswer in JSON."}, {"role": "user", "content": "x"}]


def ask(fake: FakeOpenAI, **kwargs):
    client = openai.OpenAI(api_key="k", base_url=fake.base_url, max_retries=0)
    return client.chat.completions.create(model="m", messages=MESSAGES, **kwargs)


def content(completion) -> dict:
    return json.loads(completion.choices[0].message.content)


def test_good_grades_every_criterion_it_is_given(fake_llm):
    fake_llm.set_mode("good", fraction=0.5)
    answer = content(ask(fake_llm))
    assert [(c["id"], c["score"]) for c in answer["criteria"]] == [("a", 2.0), ("b", 3.0)]
    assert answer["injection_suspected"] is False


def test_rubric_from_the_schema_enum_when_the_prompt_has_none(fake_llm):
    schema = {"properties": {"criteria": {"items": {"properties": {"id": {"enum": ["x", "y"]}}}}}}
    client = openai.OpenAI(api_key="k", base_url=fake_llm.base_url, max_retries=0)
    completion = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "grade"}],
        response_format={"type": "json_schema", "json_schema": {"name": "g", "schema": schema}},
    )
    assert [c["id"] for c in content(completion)["criteria"]] == ["x", "y"]


@pytest.mark.parametrize(
    ("mode", "error"),
    [("rate_limit", openai.RateLimitError), ("server_error", openai.InternalServerError),
     ("unauthorized", openai.AuthenticationError), ("bad_request", openai.BadRequestError)],
)  # fmt: skip
def test_error_modes(fake_llm, mode, error):
    fake_llm.set_mode(mode, retry_after=2)
    with pytest.raises(error) as caught:
        ask(fake_llm)
    if mode == "rate_limit":
        assert caught.value.response.headers["retry-after"] == "2"


def test_answer_modes(fake_llm):
    fake_llm.set_mode("bad_scores")
    assert [c["score"] for c in content(ask(fake_llm))["criteria"]] == [-3, 106]
    fake_llm.set_mode("unknown_ids")
    assert [c["id"] for c in content(ask(fake_llm))["criteria"]] == ["a", UNKNOWN_CRITERION_ID]
    fake_llm.set_mode("injection")
    assert content(ask(fake_llm))["injection_suspected"] is True
    fake_llm.set_mode("malformed")
    with pytest.raises(json.JSONDecodeError):
        content(ask(fake_llm))


def test_json_schema_unsupported_answers_json_mode(fake_llm):
    fake_llm.set_mode("no_json_schema")
    with pytest.raises(openai.BadRequestError):
        ask(fake_llm, response_format={"type": "json_schema", "json_schema": {"name": "g", "schema": {}}})
    assert content(ask(fake_llm, response_format={"type": "json_object"}))["criteria"]


def test_queue_counts_records_and_reset(fake_llm):
    fake_llm.queue("server_error", "rate_limit")
    for _ in range(2):
        with pytest.raises(openai.APIStatusError):
            ask(fake_llm)
    ask(fake_llm, temperature=0)
    assert fake_llm.calls == {"server_error": 1, "rate_limit": 1, "good": 1}
    assert [r.mode for r in fake_llm.requests] == ["server_error", "rate_limit", "good"]
    assert fake_llm.requests[2].body["temperature"] == 0
    assert fake_llm.first_request_at == fake_llm.requests[0].received_at
    fake_llm.reset()
    assert (fake_llm.requests, fake_llm.calls, fake_llm.first_request_at) == ([], {}, None)


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="unknown mode"):
        FakeOpenAI(mode="nope")


def _control(base: str, path: str, body: dict | None = None) -> dict:
    if body is None:
        return httpx.get(f"{base}{path}", timeout=5, trust_env=False).json()
    return httpx.post(f"{base}{path}", json=body, timeout=5, trust_env=False).json()


def test_standalone_process_with_http_control():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fakes.openai_server", "--port", str(port), "--mode", "server_error"],
        cwd=TESTS_DIR,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == f"READY http://127.0.0.1:{port}/v1"
        root = f"http://127.0.0.1:{port}"
        client = openai.OpenAI(api_key="k", base_url=f"{root}/v1", max_retries=0)
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="m", messages=MESSAGES)
        _control(root, "/_fake/mode", {"mode": "good", "options": {"fraction": 0.5}, "queue": ["injection"]})
        first = client.chat.completions.create(model="m", messages=MESSAGES)
        second = client.chat.completions.create(model="m", messages=MESSAGES)
        assert json.loads(first.choices[0].message.content)["injection_suspected"] is True
        assert json.loads(second.choices[0].message.content)["criteria"][1]["score"] == 3.0
        state = _control(root, "/_fake/state")
        assert state["calls"] == {"server_error": 1, "injection": 1, "good": 1}
        assert len(state["requests"]) == 3
        assert state["first_request_at"] is not None
        assert _control(root, "/_fake/reset", {})["requests"] == []
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0
