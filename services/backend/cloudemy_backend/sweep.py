"""The background sweep: nothing is lost, nothing stays in flight (or waiting) forever.

Every backend process promotes due messages of the delayed set (attempts handed back while the LLM was
unavailable) to the queue about once a second; that is one atomic script, safe from any number of processes.
The sweep proper runs in one process per deployment: the holder of the Redis lease ``sweep:lease`` (renewed
every pass, expiring after ``LEASE_INTERVALS`` intervals, so a dead holder is replaced). Every
``SWEEP_INTERVAL_SECONDS`` the holder runs one pass:

1. Enqueue: a ``queued`` submission that has waited at least one interval, whose payload hash for this
   attempt is gone from Redis and whose (id, attempt) is in neither the queue, ``:processing`` nor the delayed
   set gets its payload and message written again (Redis was down when it was submitted, or lost its data);
   the payload refers to a snapshot of the assignment as MongoDB holds it now, written if that version has
   none. A payload whose message is still waiting but whose hash or snapshot is gone (an evicting Redis) is
   not rebuilt here: its runner ends it as ``payload-missing``, and the next submission of the same version
   writes the snapshot again for every payload still referring to it.
   A payload hash that is still there means the message was written with it (one MULTI/EXEC) and is in
   flight: in a list, or taken by a scheduler that created its Job and has not reported ``dispatched`` yet.
   Such a submission is never pushed a second time, however long the backlog. To push, the process claims
   the submission with a conditional update of ``enqueued_at`` (see Storage.mark_enqueued).
2. Lost: a ``dispatched``/``running`` submission whose status is older than ``JOB_DEADLINE_SECONDS`` +
   ``STUCK_GRACE_SECONDS`` becomes ``error`` with fail tag ``lost``, by a conditional update that only matches
   if nothing changed since it was read, so a result arriving meanwhile wins.
3. Expired: a ``queued`` submission older than ``QUEUED_TIMEOUT_SECONDS`` becomes ``error`` with fail tag
   ``queue-timeout`` (same conditional update), and its waiting messages are withdrawn.

A pass that cannot reach Redis skips step 1 and still does steps 2 and 3; the next pass tries again. When
Redis is unreachable no lease can be held, so every process runs steps 2 and 3 (their writes are conditional:
one wins).
"""

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from datetime import datetime, timedelta
from typing import NamedTuple

from redis.exceptions import RedisError

from cloudemy_backend.core.config import Settings
from cloudemy_backend.metrics import Metrics
from cloudemy_backend.queue import SubmissionQueue
from cloudemy_backend.storage import Document, Storage, utcnow
from cloudemy_backend.submitting import build_payload, delete_payload_quietly, lost_result, queue_timeout_result

log = logging.getLogger(__name__)

BATCH_LIMIT = 500
PROMOTE_EVERY_SECONDS = 1.0
LEASE_INTERVALS = 3
"""The sweep lease outlives its holder by this many intervals."""


class SweepPass(NamedTuple):
    enqueued: int
    lost: int
    expired: int


class Sweeper:
    def __init__(self, settings: Settings, storage: Storage, queue: SubmissionQueue, metrics: Metrics) -> None:
        self.settings = settings
        self.storage = storage
        self.queue = queue
        self.metrics = metrics
        self.interval = timedelta(seconds=settings.sweep_interval_seconds)
        self.stuck_after = timedelta(seconds=settings.stuck_after_seconds)
        self.queued_timeout = timedelta(seconds=settings.queued_timeout_seconds)
        self.holder = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    async def run_forever(self, stopping: asyncio.Event) -> None:
        """Promote due delayed messages every second, and run a pass per interval while holding the lease,
        until ``stopping`` is set; a failing step is logged, never fatal.

        Shutdown sets the event and also cancels the task; the event makes the loop end even if a
        client library swallowed the cancellation in the middle of a pass.
        """
        next_pass = time.monotonic()
        tick = min(PROMOTE_EVERY_SECONDS, self.settings.sweep_interval_seconds)
        try:
            while not stopping.is_set():
                try:
                    await self.promote_due()
                    if time.monotonic() >= next_pass:
                        next_pass = time.monotonic() + self.settings.sweep_interval_seconds
                        if await self.hold_lease():
                            await self.sweep_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("sweep pass failed; retrying next interval")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), tick)
        finally:
            with contextlib.suppress(RedisError, asyncio.CancelledError):
                await self.queue.release_sweep_lease(self.holder)

    async def promote_due(self) -> int:
        try:
            moved = await self.queue.promote_due()
        except RedisError:
            return 0  # the pass logs Redis trouble; promotion just tries again in a second
        if moved:
            self.metrics.requeue_promoted.inc(moved)
            log.info("delayed submissions back on the queue", extra={"count": moved})
        return moved

    async def hold_lease(self) -> bool:
        """Whether this process runs the pass: it holds the lease, or Redis is away (then steps 2-3 only)."""
        try:
            held = await self.queue.take_sweep_lease(
                self.holder, self.settings.sweep_interval_seconds * LEASE_INTERVALS
            )
        except RedisError:
            return True
        self.metrics.sweep_leader.set(1 if held else 0)
        return held

    async def sweep_once(self, now: datetime | None = None) -> SweepPass:
        """One pass; returns how many submissions were enqueued, marked lost and expired in the queue."""
        now = now or utcnow()
        enqueued = await self.enqueue_missing(now)
        lost = await self.mark_lost(now)
        expired = await self.expire_queued(now)
        if enqueued or lost or expired:
            log.info("sweep pass", extra={"enqueued": enqueued, "lost": lost, "expired": expired})
        return SweepPass(enqueued, lost, expired)

    async def enqueue_missing(self, now: datetime) -> int:
        candidates = await self.storage.queued_since(now - self.interval, BATCH_LIMIT)
        if not candidates:
            return 0
        try:
            waiting = await self.queue.waiting_submissions()
        except RedisError as exc:
            log.warning("sweep cannot read the queue; enqueue step skipped", extra={"reason": type(exc).__name__})
            return 0
        pushed = 0
        for doc in candidates:
            if (str(doc["_id"]), doc["attempt"]) in waiting:
                continue
            try:
                if await self.queue.payload_attempt(str(doc["_id"])) == doc["attempt"]:
                    continue  # the message was written with this hash: it is in flight, not missing
            except RedisError:
                return pushed
            if await self._push(doc, now):
                pushed += 1
        return pushed

    async def _push(self, doc: Document, now: datetime) -> bool:
        claimed_at = doc.get("enqueued_at")
        if claimed_at is not None and now - claimed_at < self.interval:
            return False  # pushed a moment ago; the scheduler may be between LREM and "dispatched"
        if not await self.storage.mark_enqueued(doc["_id"], doc["attempt"], expected=claimed_at):
            return False  # another replica (or the submit request) got there first
        assignment = await self.storage.assignment_by_id(doc["assignment_id"])
        if assignment is None:
            log.error("queued submission's assignment is gone", extra={"submission_id": str(doc["_id"])})
            return False
        try:
            await self.queue.enqueue(build_payload(doc, assignment))
        except RedisError as exc:
            # The claim stays; the next pass after one interval tries again.
            log.warning("sweep enqueue failed", extra={"submission_id": str(doc["_id"]), "reason": type(exc).__name__})
            return False
        self.metrics.sweep_enqueued.inc()
        log.info("sweep enqueued submission", extra={"submission_id": str(doc["_id"]), "attempt": doc["attempt"]})
        return True

    async def mark_lost(self, now: datetime) -> int:
        marked = 0
        for doc in await self.storage.in_flight_since(now - self.stuck_after, BATCH_LIMIT):
            result = lost_result(doc, self.settings.stuck_after_seconds)
            if await self.storage.mark_lost(doc, result) is None:
                continue  # a result or status update arrived since the read: it wins
            marked += 1
            self.metrics.results.labels(result.status).inc()
            await delete_payload_quietly(self.queue, str(doc["_id"]))
            log.warning(
                "submission lost in flight", extra={"submission_id": str(doc["_id"]), "attempt": doc["attempt"]}
            )
        return marked

    async def expire_queued(self, now: datetime) -> int:
        expired = 0
        for doc in await self.storage.queued_since(now - self.queued_timeout, BATCH_LIMIT):
            result = queue_timeout_result(doc, self.settings.queued_timeout_seconds)
            if await self.storage.mark_lost(doc, result) is None:
                continue
            expired += 1
            self.metrics.results.labels(result.status).inc()
            self.metrics.queue_timeouts.inc()
            sid = str(doc["_id"])
            with contextlib.suppress(RedisError):
                await self.queue.withdraw(sid)
            await delete_payload_quietly(self.queue, sid)
            log.warning("submission waited too long in the queue", extra={"submission_id": sid})
        return expired
