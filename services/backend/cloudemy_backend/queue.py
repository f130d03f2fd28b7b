"""The Redis side of a submission: its payload hash and its queue message (SPEC "Redis contract")."""

import json
import logging

from redis.asyncio import Redis

from cloudemy_common.keys import processing_queue, submission_key
from cloudemy_common.models import QueueMessage, SubmissionPayload

log = logging.getLogger(__name__)


def connect_redis(url: str) -> Redis:
    """A client whose calls fail within seconds when Redis is away, instead of hanging a request."""
    return Redis.from_url(url, decode_responses=True, socket_connect_timeout=2, socket_timeout=5)


class SubmissionQueue:
    def __init__(self, redis: Redis, queue_name: str, payload_ttl_seconds: int) -> None:
        self.redis = redis
        self.queue_name = queue_name
        self.processing_name = processing_queue(queue_name)
        self.payload_ttl_seconds = payload_ttl_seconds

    async def enqueue(self, payload: SubmissionPayload) -> None:
        """Write the payload hash (with its TTL) and push the message, all in one MULTI/EXEC.

        The hash is replaced, not merged, so a regrade never leaves a field of the previous attempt behind.
        Raises redis.RedisError when Redis is unreachable; then nothing was written.
        """
        key = submission_key(payload.submission_id)
        message = QueueMessage(submission_id=payload.submission_id, language=payload.language, attempt=payload.attempt)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping=payload.to_redis_hash())
            pipe.expire(key, self.payload_ttl_seconds)
            pipe.rpush(self.queue_name, message.to_json())
            await pipe.execute()

    async def delete_payload(self, submission_id: str) -> None:
        await self.redis.delete(submission_key(submission_id))

    async def waiting_submissions(self) -> set[tuple[str, int]]:
        """(submission id, attempt) of every message in the queue or in ``:processing``."""
        found: set[tuple[str, int]] = set()
        for name in (self.queue_name, self.processing_name):
            for raw in await self.redis.lrange(name, 0, -1):
                try:
                    data = json.loads(raw)
                    found.add((str(data["submission_id"]), int(data.get("attempt", 1))))
                except (ValueError, KeyError, TypeError, AttributeError):
                    log.warning("unreadable message in %s left for the scheduler", name, extra={"queue": name})
        return found

    async def length(self) -> int:
        return int(await self.redis.llen(self.queue_name))

    async def ping(self) -> None:
        await self.redis.ping()

    async def close(self) -> None:
        await self.redis.aclose()
