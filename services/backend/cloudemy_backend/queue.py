"""The Redis side of a submission: its payload (hash and shared assignment snapshot), its queue message, the
delayed set of messages handed back for later, and the lease that lets one backend process per deployment run
the sweep."""

import json
import logging

from redis.asyncio import Redis

from cloudemy_common.keys import delayed_queue, processing_queue, submission_key
from cloudemy_common.models import QueueMessage, SubmissionPayload
from cloudemy_common.payload_store import (
    DELETE_PAYLOAD,
    PAYLOAD_REFERENCE_FIELDS,
    payload_deletion,
    stage_payload_renewal,
    stage_payload_write,
)

log = logging.getLogger(__name__)

SWEEP_LEASE_KEY = "sweep:lease"
PROMOTE_BATCH = 200

# KEYS: delayed set, queue.  ARGV: batch size.  Moves every due message (score <= now in ms) to the queue's
# tail, atomically, so that of several processes promoting at once each message moves exactly once.
_PROMOTE_DUE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, message in ipairs(due) do
  redis.call('ZREM', KEYS[1], message)
  redis.call('RPUSH', KEYS[2], message)
end
return #due
"""

# KEYS: lease.  ARGV: holder, ttl ms.  Take the lease if free, renew it if ours; 1 when we hold it after.
_TAKE_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
  return 1
end
return 0
"""

_RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def connect_redis(url: str) -> Redis:
    """A client whose calls fail within seconds when Redis is away, instead of hanging a request."""
    return Redis.from_url(url, decode_responses=True, socket_connect_timeout=2, socket_timeout=5)


class SubmissionQueue:
    def __init__(self, redis: Redis, queue_name: str, payload_ttl_seconds: int) -> None:
        self.redis = redis
        self.queue_name = queue_name
        self.processing_name = processing_queue(queue_name)
        self.delayed_name = delayed_queue(queue_name)
        self.payload_ttl_seconds = payload_ttl_seconds

    async def enqueue(self, payload: SubmissionPayload) -> None:
        """Write the payload (hash and assignment snapshot, each with its TTL) and push the message, all in one
        MULTI/EXEC (see cloudemy_common.payload_store).

        The payload refers to the assignment's snapshot as it is now: the runner grades against the version of
        the assignment the attempt was enqueued with, even if an instructor edits it while the attempt waits.
        Raises redis.RedisError when Redis is unreachable; then nothing was written.
        """
        message = QueueMessage(submission_id=payload.submission_id, language=payload.language, attempt=payload.attempt)
        async with self.redis.pipeline(transaction=True) as pipe:
            stage_payload_write(pipe, payload, self.payload_ttl_seconds)
            pipe.rpush(self.queue_name, message.to_json())
            await pipe.execute()

    async def enqueue_later(self, message: QueueMessage, delay_seconds: float) -> None:
        """Put a message in the delayed set, due ``delay_seconds`` from now (Redis's clock); the payload hash
        and its snapshot stay, their TTLs renewed. Raises redis.RedisError when Redis is unreachable; then
        nothing was written."""
        now_seconds, now_micros = await self.redis.time()
        due_ms = now_seconds * 1000 + now_micros // 1000 + int(delay_seconds * 1000)
        reference = await self.redis.hmget(submission_key(message.submission_id), list(PAYLOAD_REFERENCE_FIELDS))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(self.delayed_name, {message.to_json(): due_ms})
            stage_payload_renewal(pipe, message.submission_id, reference, self.payload_ttl_seconds)
            await pipe.execute()

    async def withdraw_delayed(self, message: QueueMessage) -> None:
        await self.redis.zrem(self.delayed_name, message.to_json())

    async def promote_due(self) -> int:
        """Move the delayed messages that are due onto the queue; the number moved."""
        return int(await self.redis.eval(_PROMOTE_DUE, 2, self.delayed_name, self.queue_name, PROMOTE_BATCH))

    async def withdraw(self, submission_id: str) -> int:
        """Remove a submission's waiting messages (queue and delayed set) once it ended without a Job."""
        removed = 0
        for raw in await self.redis.lrange(self.queue_name, 0, -1):
            if _message_id(raw)[0] == submission_id:
                removed += int(await self.redis.lrem(self.queue_name, 0, raw))
        for raw in await self.redis.zrange(self.delayed_name, 0, -1):
            if _message_id(raw)[0] == submission_id:
                removed += int(await self.redis.zrem(self.delayed_name, raw))
        return removed

    async def delete_payload(self, submission_id: str) -> None:
        """Drop a finished submission's payload hash, and its assignment snapshot if no other payload refers to
        it any more (see cloudemy_common.payload_store)."""
        reference = await self.redis.hmget(submission_key(submission_id), list(PAYLOAD_REFERENCE_FIELDS))
        keys = payload_deletion(submission_id, reference)
        await self.redis.eval(DELETE_PAYLOAD, len(keys), *keys, submission_id)

    async def payload_attempt(self, submission_id: str) -> int | None:
        """The attempt the payload hash in Redis was written for; None when there is none."""
        raw = await self.redis.hget(submission_key(submission_id), "attempt")
        try:
            return int(raw) if raw is not None else None
        except ValueError:
            return None

    async def waiting_submissions(self) -> set[tuple[str, int]]:
        """(submission id, attempt) of every message in the queue, in ``:processing`` or in the delayed set."""
        found: set[tuple[str, int]] = set()
        for name in (self.queue_name, self.processing_name):
            for raw in await self.redis.lrange(name, 0, -1):
                found.add(_message_id(raw, name))
        for raw in await self.redis.zrange(self.delayed_name, 0, -1):
            found.add(_message_id(raw, self.delayed_name))
        return found

    async def take_sweep_lease(self, holder: str, ttl_seconds: float) -> bool:
        """Hold (or renew) the one sweep lease of the deployment for ``ttl_seconds``."""
        return bool(await self.redis.eval(_TAKE_LEASE, 1, SWEEP_LEASE_KEY, holder, int(ttl_seconds * 1000)))

    async def release_sweep_lease(self, holder: str) -> None:
        await self.redis.eval(_RELEASE_LEASE, 1, SWEEP_LEASE_KEY, holder)

    async def length(self) -> int:
        return int(await self.redis.llen(self.queue_name))

    async def ping(self) -> None:
        await self.redis.ping()

    async def close(self) -> None:
        await self.redis.aclose()


def _message_id(raw: str, where: str = "queue") -> tuple[str, int]:
    """(submission id, attempt) of a raw queue message; ("", 0) for an unreadable one (left to the scheduler)."""
    try:
        data = json.loads(raw)
        return str(data["submission_id"]), int(data.get("attempt", 1))
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("unreadable message in %s left for the scheduler", where, extra={"queue": where})
        return "", 0
