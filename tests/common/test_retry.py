"""The one retry idiom: back off after each named failure until the call succeeds or the worker stops."""

import threading
import time

import pytest

from cloudemy_common.retry import RETRYABLE_HTTP_STATUS, Stopped, backoff, retry_until_stopped


class Flaky:
    """Fails with ``error`` ``failures`` times, then returns ``"done"``."""

    def __init__(self, failures: int, error: type[Exception] = ConnectionError) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"failure {self.calls}")
        return "done"


def test_retries_the_named_errors_until_the_call_succeeds() -> None:
    flaky, waits = Flaky(3), []
    value = retry_until_stopped(
        flaky, retry_on=ConnectionError, stop=threading.Event(), on_retry=lambda exc, s: waits.append((str(exc), s))
    )
    assert value == "done"
    assert flaky.calls == 4
    assert [w[0] for w in waits] == ["failure 1", "failure 2", "failure 3"]
    assert all(0.1 <= s <= 5.1 for _, s in waits)


def test_other_errors_propagate_at_once() -> None:
    flaky = Flaky(1, error=KeyError)
    with pytest.raises(KeyError):
        retry_until_stopped(flaky, retry_on=ConnectionError, stop=threading.Event())
    assert flaky.calls == 1


def test_setting_stop_ends_a_wait_early_and_raises_stopped_from_the_last_error() -> None:
    stop = threading.Event()
    flaky = Flaky(10**6)
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    with pytest.raises(Stopped) as caught:
        retry_until_stopped(flaky, retry_on=(ConnectionError, TimeoutError), stop=stop, initial=10, maximum=60)
    assert time.monotonic() - started < 5, "the 10 s wait ended when stop was set"
    assert isinstance(caught.value.__cause__, ConnectionError)


def test_backoff_doubles_up_to_its_maximum_with_bounded_jitter() -> None:
    class State:
        def __init__(self, attempt: int) -> None:
            self.attempt_number = attempt

    wait = backoff(initial=0.5, maximum=4.0)
    for attempt, floor in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)):
        seconds = wait(State(attempt))  # type: ignore[arg-type]
        assert floor <= seconds <= floor + 0.5


def test_one_set_of_retryable_http_statuses() -> None:
    assert {408, 429, 500, 502, 503, 504} == RETRYABLE_HTTP_STATUS
    for final in (200, 400, 401, 403, 404, 409, 413, 422, 501):
        assert final not in RETRYABLE_HTTP_STATUS
