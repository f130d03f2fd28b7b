"""Calls to the backend's internal API with the master token: ``dispatched`` status and Job-failure results.

Reports run on a small thread pool and are retried with tenacity (connection errors, and the shared retryable
answers ``RETRYABLE_HTTP_STATUS``: 408, 429, 5xx), so a slow or absent backend never holds up dispatch. Other 4xx
answers are final: 409 on a result means the submission
already has its terminal result (the runner's, or another replica's identical report). Each report's Future says
whether the backend gave a final answer (True: 2xx, 409 or another final 4xx; False: it gave up, or the backend
refused the scheduler's token), which is when the watcher labels the Job reported.

HTTP goes through urllib3 (already here for the kubernetes client): one ``dispatched`` report per Job is on the
scheduler's hot path, and urllib3 costs a fraction of the CPU per request that httpx does (see the benchmark).
"""

import json
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait

import urllib3
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential_jitter,
)

from cloudemy_common.models import ResultBody, StatusUpdate
from cloudemy_common.retry import RETRYABLE_HTTP_STATUS

log = logging.getLogger(__name__)


class BackendUnavailable(Exception):
    """The backend could not be reached or answered with a retryable status."""


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, BackendUnavailable | urllib3.exceptions.HTTPError | OSError)


class BackendReporter:
    def __init__(
        self,
        base_url: str,
        master_token: str,
        *,
        status_budget_seconds: float = 60,
        result_budget_seconds: float = 300,
        workers: int = 4,
        timeout_seconds: float = 5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"X-Result-Token": master_token, "Content-Type": "application/json"}
        self._http = urllib3.PoolManager(
            num_pools=2,
            maxsize=workers,
            retries=False,
            timeout=urllib3.Timeout(connect=timeout_seconds, read=timeout_seconds),
        )
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="report")
        self._status_budget = status_budget_seconds
        self._result_budget = result_budget_seconds
        self._closing = threading.Event()
        self._pending: set[Future[bool]] = set()
        self._lock = threading.Lock()

    # ---- fire-and-forget reports ---------------------------------------------------------------------------

    def report_dispatched(self, submission_id: str, attempt: int, job_name: str) -> Future[bool]:
        body = StatusUpdate(status="dispatched", job_name=job_name)
        path = f"/submissions/{submission_id}/status?attempt={attempt}"
        return self._submit(path, body.model_dump(mode="json", exclude_none=True), self._status_budget)

    def report_result(self, submission_id: str, attempt: int, result: ResultBody) -> Future[bool]:
        """``attempt`` lets the backend refuse the result of an attempt that a regrade has replaced."""
        path = f"/submissions/{submission_id}/result?attempt={attempt}"
        return self._submit(path, result.model_dump(mode="json", exclude_none=True), self._result_budget)

    def _submit(self, path: str, body: dict, budget: float) -> Future[bool]:
        future = self._pool.submit(self._post_with_retries, path, body, budget)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future[bool]) -> None:
        with self._lock:
            self._pending.discard(future)

    # ---- one report ----------------------------------------------------------------------------------------

    def _post_with_retries(self, path: str, body: dict, budget: float) -> bool:
        """True once the backend gave a final answer; False if it never did within ``budget``."""
        try:
            return self._post_once(path, body)  # the common case, without setting up a retry loop
        except Exception as exc:
            if not _retryable(exc):
                raise
        retrying = Retrying(
            retry=retry_if_exception(_retryable),
            wait=wait_exponential_jitter(multiplier=0.2, max=10),
            stop=stop_after_delay(budget) | self._stop_when_closing,
            reraise=False,
        )
        try:
            return retrying(self._post_once, path, body)
        except RetryError as exc:
            log.warning("gave up reporting %s to the backend: %s", path, exc.last_attempt.exception())
            return False

    def _stop_when_closing(self, retry_state: object) -> bool:
        return self._closing.is_set()

    def _post_once(self, path: str, body: dict) -> bool:
        try:
            response = self._http.request(
                "POST", self.base_url + path, body=json.dumps(body).encode(), headers=self._headers
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            log.info("backend unreachable for %s: %s", path, type(exc).__name__)
            raise
        if response.status in RETRYABLE_HTTP_STATUS:
            raise BackendUnavailable(f"{response.status} from {path}")
        if response.status == 409:
            log.info("backend already has a final answer for %s", path)
        elif response.status in (401, 403):
            log.error("backend refused the scheduler's token on %s: check INTERNAL_RESULT_TOKEN", path)
            return False
        elif response.status >= 400:
            log.warning(
                "backend answered %d on %s: %s", response.status, path, response.data[:200].decode(errors="replace")
            )
        return True

    # ---- shutdown ------------------------------------------------------------------------------------------

    def close(self, wait_seconds: float = 5) -> None:
        """Give pending reports ``wait_seconds`` to finish, then stop retrying and close."""
        with self._lock:
            pending = list(self._pending)
        wait(pending, timeout=wait_seconds)
        self._closing.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._http.clear()
