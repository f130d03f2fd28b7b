"""The runner's calls to the backend's internal API: status ``running`` first, the result last.

Both send ``X-Result-Token`` (the per-submission token). The result POST is retried with tenacity on
connection errors and retryable statuses (``RETRYABLE_HTTP_STATUS``) until the posting phase of the budget
ends; the answer decides the exit: 200 posted, 409 already final (both fine), 401 a configuration error,
anything else not postable. The standard library's HTTP client is enough for a few small JSON POSTs and
keeps start-up cheap.
"""

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from enum import StrEnum
from http.client import HTTPException

from cloudemy_common.models import RequeueAnswer, RequeueRequest, ResultBody, StatusUpdate
from cloudemy_common.retry import RETRYABLE_HTTP_STATUS
from cloudemy_runner import __version__
from cloudemy_runner.config import Budget

log = logging.getLogger("cloudemy_runner.backend")

REQUEST_TIMEOUT_SECONDS = 10.0
STATUS_TIMEOUT_SECONDS = 3.0
STATUS_ATTEMPTS = 3
"""Reporting ``running`` is informative only: a few quick tries, then grading goes on."""


class Delivery(StrEnum):
    """What became of a POST to the internal API."""

    POSTED = "posted"
    REQUEUED = "requeued"
    ALREADY_FINAL = "already-final"
    UNAUTHORIZED = "unauthorized"
    REJECTED = "rejected"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    detail: str
    body: bytes = b""


class TransientPostError(Exception):
    """A connection error or a retryable status (``RETRYABLE_HTTP_STATUS``): worth another try."""


class SubmissionReporter:
    """Reports one submission's progress and result (or a requeue) to the backend's internal API."""

    def __init__(self, base_url: str, submission_id: str, token: str, budget: Budget) -> None:
        self.base_url = base_url.rstrip("/")
        self.submission_id = submission_id
        self._token = token
        self.budget = budget
        self.result_attempts = 0

    def report_running(self, job_name: str | None = None) -> Delivery:
        """POST status ``running``; only 401 matters to the caller (the token is wrong, nothing can be posted)."""
        import tenacity

        from cloudemy_common.retry import backoff

        body = StatusUpdate(status="running", job_name=job_name).model_dump(mode="json", exclude_none=True)
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(TransientPostError),
            wait=backoff(initial=0.2, maximum=1.0),
            stop=tenacity.stop_after_attempt(STATUS_ATTEMPTS),
            reraise=True,
        )
        try:
            answer = retrying(self._post, "status", body, timeout=STATUS_TIMEOUT_SECONDS)
        except TransientPostError as exc:
            log.warning("status running not reported", extra={"reason": str(exc)})
            return Delivery.UNREACHABLE
        delivery = _classify(answer)
        if delivery is not Delivery.POSTED:
            log.warning("status running refused", extra={"http_status": answer.status})
        return delivery

    def request_requeue(self, request: RequeueRequest, attempt: int) -> Delivery:
        """Hand this attempt back to the queue; REQUEUED when the backend took it (200), anything else
        (409: the attempt may not go back again, or moved on; unreachable) means: post the result instead."""
        import tenacity

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(TransientPostError),
            wait=tenacity.wait_exponential(multiplier=0.25, max=2.0) + tenacity.wait_random(0, 0.25),
            stop=tenacity.stop_after_attempt(STATUS_ATTEMPTS),
            reraise=True,
        )
        try:
            answer = retrying(self._post, f"requeue?attempt={attempt}", request.model_dump(mode="json"))
        except TransientPostError as exc:
            log.warning("requeue not possible, backend unreachable", extra={"reason": str(exc)})
            return Delivery.UNREACHABLE
        if 200 <= answer.status < 300:
            try:
                taken = RequeueAnswer.model_validate_json(answer.body)
            except ValueError:
                return Delivery.REJECTED
            log.info(
                "attempt handed back to the queue",
                extra={"requeue": taken.requeue, "delay_seconds": taken.delay_seconds},
            )
            return Delivery.REQUEUED
        log.warning("requeue refused", extra={"http_status": answer.status, "detail": answer.detail})
        return _classify(answer)

    def post_result(self, result: ResultBody, attempt: int | None = None) -> Delivery:
        """POST the result until the backend answers, or the posting phase of the budget runs out.

        ``attempt`` (from the payload) lets the backend refuse a late result of an attempt a regrade replaced.
        """
        import tenacity

        from cloudemy_common.retry import backoff

        body = result.to_wire()
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(TransientPostError),
            wait=backoff(initial=0.25, maximum=4.0),
            stop=tenacity.stop_before_delay(max(self.budget.post_remaining(), 0.0)),
            before_sleep=lambda state: log.warning(
                "result post failed, retrying",
                extra={"attempt_number": state.attempt_number, "reason": str(state.outcome.exception())},
            ),
            reraise=True,
        )
        try:
            endpoint = "result" if attempt is None else f"result?attempt={attempt}"
            answer = retrying(self._post, endpoint, body, counted=True)
        except TransientPostError as exc:
            log.error("result could not be posted", extra={"attempts": self.result_attempts, "reason": str(exc)})
            return Delivery.UNREACHABLE
        delivery = _classify(answer)
        log.info(
            "result post answered",
            extra={"http_status": answer.status, "delivery": delivery.value, "attempts": self.result_attempts},
        )
        if delivery is Delivery.REJECTED:
            log.error("result rejected", extra={"http_status": answer.status, "detail": answer.detail})
        return delivery

    def _post(
        self, endpoint: str, body: dict[str, object], *, counted: bool = False, timeout: float = REQUEST_TIMEOUT_SECONDS
    ) -> HttpAnswer:
        if counted:
            self.result_attempts += 1
        url = f"{self.base_url}/submissions/{self.submission_id}/{endpoint}"
        request = urllib.request.Request(  # noqa: S310 - the URL is the configured http(s) backend
            url,
            data=json.dumps(body).encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-Result-Token": self._token,
                "User-Agent": f"cloudemy-runner/{__version__}",
            },
        )
        timeout = max(min(timeout, self.budget.post_remaining()), 1.0)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                answer = HttpAnswer(response.status, "", response.read(20_000))
        except urllib.error.HTTPError as exc:
            answer = HttpAnswer(exc.code, _detail(exc))
            exc.close()
        except (urllib.error.URLError, OSError, HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise TransientPostError(f"{type(exc).__name__}: {reason}") from exc
        if answer.status in RETRYABLE_HTTP_STATUS:
            raise TransientPostError(f"HTTP {answer.status}")
        return answer


def _classify(answer: HttpAnswer) -> Delivery:
    if 200 <= answer.status < 300:
        return Delivery.POSTED
    if answer.status == 409:
        return Delivery.ALREADY_FINAL
    if answer.status in (401, 403):
        return Delivery.UNAUTHORIZED
    return Delivery.REJECTED


def _detail(exc: urllib.error.HTTPError) -> str:
    """Where and why the backend refused (``loc`` and ``msg`` only: a 422's ``input`` may quote feedback)."""
    try:
        detail = json.loads(exc.read(20_000).decode(errors="replace")).get("detail")
    except (OSError, ValueError, AttributeError):
        return ""
    if isinstance(detail, list):
        parts = [
            f"{'.'.join(str(p) for p in item.get('loc', ()))}: {item.get('msg', '')}"
            for item in detail
            if isinstance(item, dict)
        ]
        return "; ".join(parts)[:300]
    return str(detail)[:300] if isinstance(detail, str) else ""
