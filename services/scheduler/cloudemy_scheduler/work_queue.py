"""The scheduler's Redis state: the reliable queue, who holds each in-flight message, live schedulers, and the
active-Job slots that enforce MAX_ACTIVE_JOBS across every replica.

Keys (``Q`` is QUEUE_SUBMISSIONS):
- ``Q`` — pending messages; the backend RPUSHes, schedulers BLMOVE from the left.
- ``Q:processing`` — messages a scheduler is turning into a Job (the reliable dequeue: BLMOVE from ``Q``).
- ``Q:processing:owners`` — hash raw message -> id of the scheduler that holds it.
- ``Q:processing:unowned`` — hash raw message -> when recovery first saw it without an owner.
- ``Q:schedulers`` — sorted set scheduler id -> heartbeat expiry (Redis server time, seconds).
- ``Q:active-jobs`` — sorted set Job name -> when its slot was taken; its size is the number of unfinished Jobs.
- ``Q:dead`` — malformed or rejected messages with the reason (JSON entries).

Every multi-step change is one Lua script, so a crash between steps cannot leave a half-done state.
"""

import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass

import redis

REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError)
"""Redis is unreachable or slow (restarting, failing over): worth waiting for, never a reason to drop work."""
_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) + tonumber(t[2]) / 1000000 "

# Claim a just-moved message and take an active-Job slot for its Job if one is free.
# KEYS: owners, slots. ARGV: raw, owner, job name, cap. Returns {slot taken (0/1), slots in use}.
_CLAIM = (
    _NOW
    + """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if redis.call('ZSCORE', KEYS[2], ARGV[3]) then
  redis.call('ZADD', KEYS[2], now, ARGV[3])
  return {1, redis.call('ZCARD', KEYS[2])}
end
local used = redis.call('ZCARD', KEYS[2])
if used < tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[2], now, ARGV[3])
  return {1, used + 1}
end
return {0, used}
"""
)

# The Job exists: drop the message from processing (one copy) and our ownership record.
# KEYS: processing, owners. ARGV: raw, owner. Returns how many copies were removed (0 or 1).
_FINISH = """
local removed = redis.call('LREM', KEYS[1], 1, ARGV[1])
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[2], ARGV[1]) end
return removed
"""

# Move a message from processing to the dead-letter list with the reason.
# KEYS: processing, owners, dead. ARGV: raw, owner, entry.
_DEAD_LETTER = """
redis.call('LREM', KEYS[1], 1, ARGV[1])
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[2], ARGV[1]) end
redis.call('RPUSH', KEYS[3], ARGV[3])
return 1
"""

# Put one copy of a message back at the head of the queue, only if its owner is still the one observed
# ('' = no owner), so a message another live scheduler just claimed is left alone.
# KEYS: processing, owners, queue, unowned. ARGV: raw, expected owner.
_REQUEUE = """
local owner = redis.call('HGET', KEYS[2], ARGV[1]) or ''
if owner ~= ARGV[2] then return 0 end
local removed = redis.call('LREM', KEYS[1], 1, ARGV[1])
if removed == 1 then
  redis.call('LPUSH', KEYS[3], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[4], ARGV[1])
end
return removed
"""

# Heartbeat. KEYS: schedulers. ARGV: id, lease seconds. Forgets schedulers dead for over an hour.
_HEARTBEAT = (
    _NOW
    + """
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 3600)
return tostring(now)
"""
)

# A snapshot for recovery. KEYS: processing, owners, schedulers, unowned.
# Returns {now, processing list, owners (flat), live ids, unowned (flat)}.
_SNAPSHOT = (
    _NOW
    + """
return {tostring(now), redis.call('LRANGE', KEYS[1], 0, -1), redis.call('HGETALL', KEYS[2]),
        redis.call('ZRANGEBYSCORE', KEYS[3], now, '+inf'), redis.call('HGETALL', KEYS[4])}
"""
)

# Forget bookkeeping of a message that is no longer in processing. KEYS: processing, owners, unowned. ARGV: raw.
_FORGET = """
if redis.call('LPOS', KEYS[1], ARGV[1]) then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
"""

# Reconcile the slots with the unfinished Jobs the executor sees.
# KEYS: slots. ARGV: grace seconds (the view's staleness added), then the unfinished Job names. Slots of Jobs that
# are not unfinished and were not taken or refreshed within the grace are freed; unfinished Jobs without a slot
# get one.
_RECONCILE = (
    _NOW
    + """
local active = {}
for i = 2, #ARGV do active[ARGV[i]] = true end
local freed = 0
local members = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #members, 2 do
  local name, taken = members[i], tonumber(members[i + 1])
  if not active[name] and now - taken > tonumber(ARGV[1]) then
    redis.call('ZREM', KEYS[1], name)
    freed = freed + 1
  end
end
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'NX', now, ARGV[i]) end
return {freed, redis.call('ZCARD', KEYS[1])}
"""
)


# KEYS: slots. ARGV: Job name. Renews the time of a slot that exists.
_REFRESH = _NOW + "return redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1])"


@dataclass(frozen=True)
class Claim:
    slot_taken: bool
    slots_in_use: int


class WorkQueue:
    """Named operations on the scheduler's Redis keys for one queue."""

    def __init__(self, client: redis.Redis, queue: str, owner: str) -> None:
        self.redis = client
        self.owner = owner
        self.queue = queue
        self.processing = queue + ":processing"
        self.dead = queue + ":dead"
        self.owners = self.processing + ":owners"
        self.unowned = self.processing + ":unowned"
        self.schedulers = queue + ":schedulers"
        self.slots = queue + ":active-jobs"
        self._blocking: redis.Redis | None = None  # BLMOVE's own connection, opened on first use
        self._blocking_id: int | None = None
        self._claim = client.register_script(_CLAIM)
        self._finish = client.register_script(_FINISH)
        self._dead_letter = client.register_script(_DEAD_LETTER)
        self._requeue = client.register_script(_REQUEUE)
        self._heartbeat = client.register_script(_HEARTBEAT)
        self._snapshot = client.register_script(_SNAPSHOT)
        self._forget = client.register_script(_FORGET)
        self._reconcile = client.register_script(_RECONCILE)
        self._refresh = client.register_script(_REFRESH)

    # ---- the dispatch path ---------------------------------------------------------------------------------

    def take(self, timeout: float) -> str | None:
        """BLMOVE the next message from the queue's head to the tail of ``:processing`` (None after timeout).

        It blocks on a connection of its own, so ``wake()`` can end the wait at once (CLIENT UNBLOCK)."""
        try:
            if self._blocking is None:
                pool = self.redis.connection_pool
                self._blocking = redis.Redis(
                    connection_pool=redis.ConnectionPool(
                        connection_class=pool.connection_class, **pool.connection_kwargs
                    ),
                    single_connection_client=True,
                )
            if self._blocking_id is None:
                self._blocking_id = int(self._blocking.client_id())
            return self._blocking.blmove(self.queue, self.processing, timeout, "LEFT", "RIGHT")
        except (redis.ConnectionError, redis.TimeoutError):
            self._blocking_id = None
            raise

    def wake(self) -> None:
        """End a BLMOVE in progress as if it timed out (used when stopping)."""
        blocking_id = self._blocking_id
        if blocking_id is not None:
            with contextlib.suppress(redis.RedisError):
                self.redis.client_unblock(blocking_id)

    def close(self) -> None:
        if self._blocking is not None:
            self._blocking.close()

    def claim(self, raw: str, job_name: str, cap: int) -> Claim:
        """Record that this scheduler holds ``raw`` and take a slot for ``job_name`` if fewer than ``cap`` are used."""
        taken, used = self._claim(keys=[self.owners, self.slots], args=[raw, self.owner, job_name, cap])
        return Claim(bool(taken), int(used))

    def finish(self, raw: str) -> bool:
        """The Job exists: remove one copy of ``raw`` from ``:processing``."""
        return bool(self._finish(keys=[self.processing, self.owners], args=[raw, self.owner]))

    def dead_letter(self, raw: str, reason: str) -> None:
        entry = json.dumps({"message": raw, "reason": reason, "scheduler": self.owner, "at": time.time()})
        self._dead_letter(keys=[self.processing, self.owners, self.dead], args=[raw, self.owner, entry])

    def give_back(self, raw: str) -> bool:
        """Return a message this scheduler holds to the head of the queue (shutting down before its Job exists)."""
        return self.requeue(raw, self.owner)

    def requeue(self, raw: str, expected_owner: str) -> bool:
        keys = [self.processing, self.owners, self.queue, self.unowned]
        return bool(self._requeue(keys=keys, args=[raw, expected_owner]))

    # ---- active-Job slots ----------------------------------------------------------------------------------

    def slots_in_use(self) -> int:
        return int(self.redis.zcard(self.slots))

    def refresh_slot(self, job_name: str) -> None:
        """Mark a held slot as still in use (its Job's create is being retried)."""
        self._refresh(keys=[self.slots], args=[job_name])

    def release_slot(self, job_name: str) -> None:
        self.redis.zrem(self.slots, job_name)

    def reconcile_slots(self, unfinished: set[str] | frozenset[str], grace_seconds: float) -> tuple[int, int]:
        """Free slots whose Jobs are finished or gone; add slots for unfinished Jobs. Returns (freed, in use).

        ``grace_seconds`` should include how stale ``unfinished`` may be: a slot younger than that may belong
        to a Job the view cannot know yet."""
        freed, used = self._reconcile(keys=[self.slots], args=[grace_seconds, *sorted(unfinished)])
        return int(freed), int(used)

    # ---- liveness and recovery -----------------------------------------------------------------------------

    def heartbeat(self, lease_seconds: float) -> None:
        self._heartbeat(keys=[self.schedulers], args=[self.owner, lease_seconds])

    def sign_off(self) -> None:
        """A clean exit: others may recover anything this scheduler still holds right away."""
        self.redis.zrem(self.schedulers, self.owner)

    def recover(self, *, startup: bool, grace_seconds: float) -> int:
        """Re-queue messages in ``:processing`` that no live scheduler holds. Returns how many went back.

        A message goes back when its owner's heartbeat expired, when it has had no owner for ``grace_seconds``
        (its scheduler died between BLMOVE and claiming it), and at start-up also when this scheduler's own id
        holds it (a predecessor in the same pod) or it has no owner at all. Re-queuing is always safe: the Job
        name is deterministic, so a second dispatch of a message whose Job exists ends in 409 and LREM.
        """
        keys = [self.processing, self.owners, self.schedulers, self.unowned]
        now_raw, processing, owners_flat, live, unowned_flat = self._snapshot(keys=keys)
        now = float(now_raw)
        owners = dict(zip(owners_flat[::2], owners_flat[1::2], strict=True))
        unowned_since = {k: float(v) for k, v in zip(unowned_flat[::2], unowned_flat[1::2], strict=True)}
        live_ids = set(live)
        requeued = 0
        for raw, copies in Counter(processing).items():
            owner = owners.get(raw, "")
            if owner:
                alive = owner in live_ids and not (startup and owner == self.owner)
                if alive:
                    if raw in unowned_since:
                        self.redis.hdel(self.unowned, raw)
                    continue
            elif not startup:
                first_seen = unowned_since.get(raw)
                if first_seen is None:
                    self.redis.hsetnx(self.unowned, raw, now)
                    continue
                if now - first_seen < grace_seconds:
                    continue
            for _ in range(copies):
                requeued += self.requeue(raw, owner)
        in_processing = set(processing)
        for raw in set(owners) | set(unowned_since):
            if raw not in in_processing:
                self._forget(keys=[self.processing, self.owners, self.unowned], args=[raw])
        return requeued

    # ---- gauges --------------------------------------------------------------------------------------------

    def lengths(self) -> dict[str, int]:
        pipe = self.redis.pipeline(transaction=False)
        pipe.llen(self.queue)
        pipe.llen(self.processing)
        pipe.llen(self.dead)
        pipe.zcard(self.slots)
        queued, processing, dead, slots = pipe.execute()
        return {"queued": queued, "processing": processing, "dead": dead, "active_slots": slots}
