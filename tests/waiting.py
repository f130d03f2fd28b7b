"""The one way the suites wait: poll a condition until it holds, and fail with what was awaited."""

import time
from collections.abc import Callable
from typing import TypeVar

import httpx

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T],
    timeout: float = 15,
    interval: float = 0.05,
    what: str = "",
    alive: Callable[[], bool] | None = None,
) -> T:
    """The first truthy value of ``condition()``, polled every ``interval`` seconds.

    AssertionError after ``timeout`` seconds, or at once when ``alive()`` says the thing being waited on (a
    process, a thread) is gone. From async code: ``await asyncio.to_thread(wait_for, ...)``.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if alive is not None and not alive():
            raise AssertionError(f"gave up waiting for {what or condition}: it is no longer running")
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(interval)


def answering(url: str) -> Callable[[], httpx.Response | None]:
    """A condition for ``wait_for``: the response of ``GET url`` once a server answers it with 2xx."""

    def probe() -> httpx.Response | None:
        try:
            response = httpx.get(url, timeout=1.0, trust_env=False)
        except httpx.TransportError:
            return None
        return response if response.is_success else None

    return probe
