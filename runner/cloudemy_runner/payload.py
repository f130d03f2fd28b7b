"""Load the payload (``submission:{id}`` and the assignment snapshot it refers to) from Redis, retrying transient
Redis errors within the budget."""

import logging
from dataclasses import dataclass

from cloudemy_common.models import SubmissionPayload
from cloudemy_common.payload_store import PayloadMissing, read_payload
from cloudemy_runner import tags
from cloudemy_runner.config import Budget

log = logging.getLogger("cloudemy_runner.payload")

SOCKET_TIMEOUT_SECONDS = 5.0
LOAD_SHARE_OF_LLM_PHASE = 0.5
"""Redis retries may use at most this share of the time before the LLM phase ends."""


@dataclass(frozen=True)
class PayloadLoad:
    """Either the payload, or the fail tag naming why there is none."""

    payload: SubmissionPayload | None
    failure_tag: str | None = None


def load_payload(redis_url: str, submission_id: str, budget: Budget) -> PayloadLoad:
    import redis
    import tenacity
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from cloudemy_common.retry import backoff

    client = redis.Redis.from_url(
        redis_url,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0),  # tenacity below is the one place that retries
    )
    give_up_after = max(budget.llm_remaining() * LOAD_SHARE_OF_LLM_PHASE, 0.0)
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type((redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)),
        wait=backoff(initial=0.2, maximum=2.0),
        stop=tenacity.stop_before_delay(give_up_after),
        before_sleep=lambda state: log.warning(
            "redis unavailable, retrying",
            extra={"attempt_number": state.attempt_number, "error_type": type(state.outcome.exception()).__name__},
        ),
        reraise=True,
    )
    try:
        payload = retrying(read_payload, client, submission_id)
    except redis.RedisError as exc:
        log.error("payload could not be loaded", extra={"error_type": type(exc).__name__})
        return PayloadLoad(None, tags.PAYLOAD_UNAVAILABLE)
    except PayloadMissing as exc:
        log.error("payload missing or expired", extra={"reason": str(exc)})
        return PayloadLoad(None, tags.PAYLOAD_MISSING)
    except ValueError as exc:  # pydantic.ValidationError is a ValueError; never log its input (the code)
        fields = _error_fields(exc)
        log.error("payload malformed", extra={"fields": fields})
        return PayloadLoad(None, tags.PAYLOAD_INVALID)
    finally:
        client.close()
    if payload.submission_id != submission_id:
        log.error("payload belongs to another submission")
        return PayloadLoad(None, tags.PAYLOAD_INVALID)
    return PayloadLoad(payload)


def _error_fields(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return "assignment"
    return ",".join(sorted({".".join(str(p) for p in e.get("loc", ())) or "?" for e in errors(include_input=False)}))
