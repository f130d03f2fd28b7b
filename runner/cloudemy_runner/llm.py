"""Grading requests to an OpenAI-compatible Chat Completions API, within the runner's time budget.

One loop with explicit states:
- ``json_schema`` (strict structured output) first; a 400/422 rejecting it switches once to
  ``json_object`` (JSON mode), whose answer is validated the same way;
- every request first reserves its turn in the LLM budget all runners share (``LLM_REQUESTS_PER_MINUTE``,
  ``LLM_TOKENS_PER_MINUTE``) and waits for it; a turn that would come after the LLM phase ends is not taken
  (code ``llm-busy``);
- transient failures (429, 408, 5xx, timeouts, connection errors) are retried by tenacity with full jitter
  (a Retry-After is the floor, never obeyed to the millisecond by every runner at once) until the LLM phase
  of the budget would be overrun; other 4xx are final;
- every transient failure counts towards the shared circuit breaker, every answer closes it; while it is
  open no request is sent (code ``breaker-open``);
- an answer that is not a usable grading answer is asked for once more, then given up on.

Failures whose cause is the provider's availability (``LlmFailure.requeueable``) are not the student's
business: the runner hands the attempt back to the queue with a delay instead of posting an ``error``.

``openai`` is imported here, on first use, so that the offline grader and the runner's start never pay for it.
"""

import email.utils
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cloudemy_common.models import REQUEUE_REASONS
from cloudemy_common.retry import RETRYABLE_HTTP_STATUS, full_jitter
from cloudemy_runner.answer import InvalidAnswer, ModelAnswer, parse_answer
from cloudemy_runner.config import Budget, RunnerSettings
from cloudemy_runner.llm_limits import SharedLimits
from cloudemy_runner.prompt import JSON_OBJECT_FORMAT, GradingPrompt

if TYPE_CHECKING:
    import openai
    import tenacity

log = logging.getLogger("cloudemy_runner.llm")

GRADING_SEED = 20240611
"""Fixed seed (with temperature 0) so that a regrade asks the model the same question the same way."""
MAX_REQUESTS = 8
"""Upper bound on HTTP requests for one grading, whatever the budget still allows."""
SAMPLING_TEMPERATURE = 0.7
"""With LLM_SAMPLES > 1: enough variation for the samples to be independent opinions."""
MAX_INVALID_ANSWERS = 2
"""An unusable answer is asked for again once; the second one ends the grading."""
MIN_REQUEST_SECONDS = 1.0
"""No request starts with less time than this left in the LLM phase."""
BACKOFF_INITIAL_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0
REQUEST_RESERVE_SECONDS = 10.0
"""A budget turn is only taken if at least this much (or LLM_TIMEOUT_SECONDS, if shorter) of the LLM phase is
left after it for the request itself."""
REQUEUEABLE_CODES = REQUEUE_REASONS
"""Outcomes caused by the provider's availability, not by the submission: the attempt goes back to the queue."""

JSON_SCHEMA = "json_schema"
JSON_OBJECT = "json_object"


@dataclass
class LlmStats:
    """What the LLM phase cost; becomes part of the result's metrics."""

    model: str
    attempts: int = 0
    budget_wait_ms: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: int = 0
    response_format: str = JSON_SCHEMA
    code: str = "pending"
    """How the LLM phase ended (``ok`` or a failure code); reported as the ``llm_outcome`` metric."""
    samples: int = 0
    """Usable answers combined into the grade (LLM_SAMPLES asked for; 0 when grading failed)."""
    max_spread: float = 0.0


@dataclass(frozen=True)
class LlmFailure:
    """Why grading with the LLM gave up: ``code`` (the ``llm_outcome`` metric) and ``detail``, a readable reason."""

    code: str
    detail: str
    retry_after_seconds: float = 0.0
    """The earliest useful retry, when the server or the breaker said one."""

    @property
    def requeueable(self) -> bool:
        return self.code in REQUEUEABLE_CODES


@dataclass(frozen=True)
class LlmResult:
    answer: ModelAnswer | None
    failure: LlmFailure | None
    stats: LlmStats
    answers: tuple[ModelAnswer, ...] = ()
    """Every usable sample (``LLM_SAMPLES``); ``answer`` is the first."""


class BudgetExhausted(Exception):
    """Too little of the LLM phase is left to start another request."""


class BudgetBusy(Exception):
    """The shared LLM budget has no turn for this runner before its LLM phase ends."""

    def __init__(self, wait_seconds: float) -> None:
        super().__init__(f"next turn in {wait_seconds:.1f}s")
        self.wait_seconds = wait_seconds


class BreakerOpen(Exception):
    """The shared circuit breaker is open: the provider kept failing for every runner."""

    def __init__(self, retry_in_seconds: float) -> None:
        super().__init__(f"open for {retry_in_seconds:.1f}s more")
        self.retry_in_seconds = retry_in_seconds


def make_client(settings: RunnerSettings) -> "openai.OpenAI":
    """The official client; its own retries are off because this module owns retrying."""
    import openai

    for noisy in ("openai", "httpx", "httpx2", "httpcore", "httpcore2"):
        # Their DEBUG logs would print request bodies (the code) and headers (the key): never.
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return openai.OpenAI(
        api_key=settings.llm_api_key.get_secret_value() or "not-needed",
        base_url=settings.effective_llm_base_url,
        timeout=settings.llm_timeout_seconds,
        max_retries=0,
    )


def retry_after_seconds(exc: BaseException) -> float | None:
    """The server's Retry-After (seconds or an HTTP date) or retry-after-ms, if the error carries one."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(float(millis) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


class LlmGrader:
    """Asks the model for a grade; ``grade`` never raises for anything the server or network does."""

    def __init__(
        self,
        settings: RunnerSettings,
        budget: Budget,
        client: "openai.OpenAI | None" = None,
        limits: SharedLimits | None = None,
    ) -> None:
        self.settings = settings
        self.budget = budget
        self.client = client or make_client(settings)
        self.limits = limits or SharedLimits(settings)
        self.stats = LlmStats(model=settings.llm_model)
        self._last_retry_after = 0.0
        self._choices_wanted = 1

    def grade(self, prompt: GradingPrompt) -> LlmResult:
        import openai

        invalid_answers = 0
        wanted = self.settings.llm_samples
        answers: list[ModelAnswer] = []
        breaker = self.limits.breaker("state")
        if breaker.is_open:
            return self._failed(
                "breaker-open", "the model server kept failing for every grader", breaker.retry_in_seconds
            )
        while True:
            self._choices_wanted = wanted - len(answers)
            try:
                completion = self._request_with_retries(prompt)
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                if self.stats.response_format == JSON_SCHEMA:
                    log.warning(
                        "llm rejected json_schema; falling back to json_object", extra={"http_status": exc.status_code}
                    )
                    self.stats.response_format = JSON_OBJECT
                    continue
                return self._failed("rejected", f"the model server rejected the request (HTTP {exc.status_code})")
            except BreakerOpen as exc:
                return self._failed(
                    "breaker-open", "the model server kept failing for every grader", exc.retry_in_seconds
                )
            except BudgetBusy as exc:
                return self._failed("llm-busy", "the shared model budget had no room in time", exc.wait_seconds)
            except openai.RateLimitError:
                return self._failed(
                    "rate-limited", "the model server kept answering 429 Too Many Requests", self._last_retry_after
                )
            except openai.APITimeoutError:
                return self._failed("timeout", "the model did not answer within the time limit")
            except openai.APIConnectionError:
                return self._failed("connection-error", "the model server could not be reached")
            except openai.APIStatusError as exc:
                if exc.status_code >= 500:
                    return self._failed("server-error", f"the model server kept failing (HTTP {exc.status_code})")
                if exc.status_code in RETRYABLE_HTTP_STATUS:
                    return self._failed("timeout", f"the model server kept answering HTTP {exc.status_code}")
                return self._failed("rejected", f"the model server rejected the request (HTTP {exc.status_code})")
            except BudgetExhausted:
                if answers:  # the first samples arrived; grade with them rather than not at all
                    return self._answered(answers)
                return self._failed("budget-exhausted", "the time available for grading ran out")

            for content in _contents_of(completion):
                try:
                    answers.append(parse_answer(content))
                except InvalidAnswer as exc:
                    invalid_answers += 1
                    log.warning("llm answer unusable", extra={"reason": str(exc), "count": invalid_answers})
            if len(answers) >= wanted:
                return self._answered(answers[:wanted])
            if invalid_answers >= MAX_INVALID_ANSWERS:
                if answers:
                    return self._answered(answers)
                return self._failed("invalid-output", "the model's answers were not valid grading JSON")

    def _answered(self, answers: list[ModelAnswer]) -> LlmResult:
        self.stats.code = "ok"
        self.stats.samples = len(answers)
        return LlmResult(answer=answers[0], failure=None, stats=self.stats, answers=tuple(answers))

    def _failed(self, code: str, detail: str, retry_after: float = 0.0) -> LlmResult:
        self.stats.code = code
        log.warning("llm grading failed", extra={"llm_outcome": code, "attempts": self.stats.attempts})
        return LlmResult(answer=None, failure=LlmFailure(code, detail, retry_after), stats=self.stats)

    def _request_with_retries(self, prompt: GradingPrompt) -> Any:
        import tenacity

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_is_transient),
            wait=self._wait_for_retry,
            stop=tenacity.stop_after_attempt(MAX_REQUESTS - self.stats.attempts) | self._stop_before_budget_end,
            before_sleep=_log_retry,
            reraise=True,
        )
        return retrying(self._send_once, prompt)

    def _stop_before_budget_end(self, retry_state: "tenacity.RetryCallState") -> bool:
        upcoming = retry_state.upcoming_sleep or 0.0
        return upcoming + MIN_REQUEST_SECONDS > self.budget.llm_remaining()

    def _send_once(self, prompt: GradingPrompt) -> Any:
        remaining = self.budget.llm_remaining()
        if remaining < MIN_REQUEST_SECONDS or self.stats.attempts >= MAX_REQUESTS:
            raise BudgetExhausted
        response_format = prompt.json_schema_format if self.stats.response_format == JSON_SCHEMA else JSON_OBJECT_FORMAT
        estimate = self._wait_for_turn(prompt, remaining)
        remaining = self.budget.llm_remaining()
        if remaining < MIN_REQUEST_SECONDS:
            raise BudgetExhausted
        self.stats.attempts += 1
        started = time.monotonic()
        try:
            sampling = {"n": self._choices_wanted} if self._choices_wanted > 1 else {}
            completion = self.client.chat.completions.create(
                model=self.settings.llm_model,
                messages=prompt.messages,  # type: ignore[arg-type]
                # One sample is asked deterministically; several need the model's own variation.
                temperature=SAMPLING_TEMPERATURE if self.settings.llm_samples > 1 else 0,
                seed=GRADING_SEED,
                response_format=response_format,  # type: ignore[arg-type]
                timeout=min(self.settings.llm_timeout_seconds, remaining),
                **sampling,  # type: ignore[arg-type]
            )
        except Exception as exc:
            if _is_transient(exc):
                self._last_retry_after = retry_after_seconds(exc) or 0.0
                state = self.limits.breaker("failure")
                if state.is_open:
                    raise BreakerOpen(state.retry_in_seconds) from exc
            raise
        finally:
            self.stats.latency_ms += int((time.monotonic() - started) * 1000)
        self.limits.breaker("success")
        used = 0
        usage = getattr(completion, "usage", None)
        if usage is not None:
            prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
            completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
            self.stats.prompt_tokens += prompt_tokens
            self.stats.completion_tokens += completion_tokens
            used = prompt_tokens + completion_tokens
        if used:
            self.limits.correct(estimate, used)
        return completion

    def _wait_for_turn(self, prompt: GradingPrompt, remaining: float) -> int:
        """Reserve this request's turn in the shared budget and sleep until it; returns the tokens charged."""
        estimate = self.limits.estimate_tokens(sum(len(str(m.get("content", ""))) for m in prompt.messages))
        request_reserve = min(self.settings.llm_timeout_seconds, REQUEST_RESERVE_SECONDS)
        reservation = self.limits.reserve(estimate, remaining - request_reserve)
        if not reservation.reserved:
            log.warning("llm budget full", extra={"next_turn_in_seconds": round(reservation.wait_seconds, 1)})
            raise BudgetBusy(reservation.wait_seconds)
        if reservation.wait_seconds > 0:
            self.stats.budget_wait_ms += int(reservation.wait_seconds * 1000)
            time.sleep(reservation.wait_seconds)
        return estimate

    def _wait_for_retry(self, retry_state: "tenacity.RetryCallState") -> float:
        """Full jitter over exponential backoff, with the server's Retry-After as the floor."""
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        server_says = retry_after_seconds(exc) if exc is not None else None
        return full_jitter(
            retry_state.attempt_number, base=BACKOFF_INITIAL_SECONDS, cap=BACKOFF_MAX_SECONDS, floor=server_says or 0.0
        )


def _is_transient(exc: BaseException) -> bool:
    import openai

    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in RETRYABLE_HTTP_STATUS
    return False


def _log_retry(retry_state: "tenacity.RetryCallState") -> None:
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    status = getattr(exc, "status_code", None)
    reason = f"HTTP {status}" if status else type(exc).__name__
    log.warning(
        "llm request failed",
        extra={
            "reason": reason,
            "attempt_number": retry_state.attempt_number,
            "retry_in_seconds": round(retry_state.upcoming_sleep, 2),
        },
    )


def _contents_of(completion: Any) -> list[str | None]:
    """Every choice's content; a refusal or a missing choice counts as one unusable answer (``None``)."""
    choices = getattr(completion, "choices", None) or []
    if not choices:
        return [None]
    contents: list[str | None] = []
    for choice in choices:
        message = choice.message
        refused = getattr(message, "refusal", None) and not message.content
        contents.append(None if refused else message.content)
    return contents
