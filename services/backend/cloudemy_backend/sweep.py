"""The background sweep: nothing is lost, nothing stays in flight forever.

Every ``SWEEP_INTERVAL_SECONDS`` each backend process runs one pass:

1. Enqueue: a ``queued`` submission that has waited at least one interval and whose (id, attempt) is in
   neither the queue nor ``:processing`` gets its payload and message written again (Redis was down when
   it was submitted, or lost its data). To push, a process first claims the submission with a conditional
   update of ``enqueued_at`` (see Storage.mark_enqueued), so with several replicas exactly one pushes; a
   claim is not retried within one interval, which gives the scheduler time to report ``dispatched``.
2. Lost: a ``dispatched``/``running`` submission whose status is older than ``JOB_DEADLINE_SECONDS`` +
   ``STUCK_GRACE_SECONDS`` becomes ``error`` with fail tag ``lost``, again by a conditional update that only
   matches if nothing changed since it was read, so a result arriving meanwhile wins.

A pass that cannot reach Redis skips step 1 and still does step 2; the next pass tries again.
"""

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from redis.exceptions import RedisError

from cloudemy_backend.core.config import Settings
from cloudemy_backend.metrics import Metrics
from cloudemy_backend.queue import SubmissionQueue
from cloudemy_backend.storage import Document, Storage, utcnow
from cloudemy_backend.submitting import build_payload, delete_payload_quietly, lost_result

log = logging.getLogger(__name__)

BATCH_LIMIT = 500


class Sweeper:
    def __init__(self, settings: Settings, storage: Storage, queue: SubmissionQueue, metrics: Metrics) -> None:
        self.settings = settings
        self.storage = storage
        self.queue = queue
        self.metrics = metrics
        self.interval = timedelta(seconds=settings.sweep_interval_seconds)
        self.stuck_after = timedelta(seconds=settings.stuck_after_seconds)

    async def run_forever(self, stopping: asyncio.Event) -> None:
        """One pass per interval until ``stopping`` is set; a failing pass is logged, never fatal.

        Shutdown sets the event and also cancels the task; the event makes the loop end even if a
        client library swallowed the cancellation in the middle of a pass.
        """
        while not stopping.is_set():
            try:
                await self.sweep_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sweep pass failed; retrying next interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.settings.sweep_interval_seconds)

    async def sweep_once(self, now: datetime | None = None) -> tuple[int, int]:
        """One pass; returns (submissions enqueued, submissions marked lost)."""
        now = now or utcnow()
        enqueued = await self.enqueue_missing(now)
        lost = await self.mark_lost(now)
        if enqueued or lost:
            log.info("sweep pass", extra={"enqueued": enqueued, "lost": lost})
        return enqueued, lost

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
