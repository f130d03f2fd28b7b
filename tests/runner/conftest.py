"""Fixtures for the runner's tests: the recording internal API, the fake OpenAI server, payloads in Redis,
and the environment of a runner Job."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from runner_support import (
    GOOD_CODE,
    LLM_KEY,
    MASTER_TOKEN,
    SUBMISSION_ID,
    RecordingBackend,
    clean_env,
    make_payload,
)

from cloudemy_common.models import SubmissionPayload
from cloudemy_common.payload_store import write_payload
from cloudemy_common.tokens import submission_token
from fakes.openai_server import FakeOpenAI


@pytest.fixture
def backend() -> Iterator[RecordingBackend]:
    server = RecordingBackend().start()
    yield server
    server.stop()


@pytest.fixture
def fake_llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(mode="good", retry_after=1) as fake:
        yield fake


@pytest.fixture
def store_payload(redis_client) -> Callable[..., SubmissionPayload]:
    """Write a submission's payload (hash and assignment snapshot) to the test Redis, as the backend does."""

    def store(code: str = GOOD_CODE, **kwargs: Any) -> SubmissionPayload:
        payload = make_payload(code, **kwargs)
        write_payload(redis_client, payload)
        return payload

    return store


@pytest.fixture
def runner_env(redis_url, backend, fake_llm) -> Callable[..., dict[str, str]]:
    """The environment the scheduler would give a runner Job, pointing at the test servers."""

    def make(**overrides: str | None) -> dict[str, str]:
        env = clean_env()
        env.update(
            {
                "SUBMISSION_ID": SUBMISSION_ID,
                "REDIS_URL": redis_url,
                "BACKEND_INTERNAL_URL": backend.internal_url,
                "INTERNAL_RESULT_TOKEN": submission_token(MASTER_TOKEN, SUBMISSION_ID),
                "LLM_API_KEY": LLM_KEY,
                "LLM_BASE_URL": fake_llm.base_url,
                "LLM_MODEL": "gpt-4o-mini",
                "LLM_TIMEOUT_SECONDS": "10",
                "JOB_DEADLINE_SECONDS": "40",
                "LOG_LEVEL": "DEBUG",
                "NO_PROXY": "127.0.0.1,localhost",
            }
        )
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    return make
