"""Housekeeping beside the dispatch loop: this scheduler's heartbeat, recovery of orphaned ``:processing``
messages, reconciliation of the active-Job slots with the Jobs that really run, and the queue gauges.

Safe with several replicas: each scheduler renews its heartbeat every third of SCHEDULER_LEASE_SECONDS from its own
thread (a dispatch stuck retrying the API keeps its message). A message goes back to the queue only when its owner's
heartbeat has expired, or when it has sat without an owner for ORPHAN_GRACE_SECONDS; each re-queue is one Lua script
that re-checks the owner. Delivery is at-least-once, and the deterministic Job name makes it exactly one Job.
"""

import logging
import threading

from cloudemy_common.retry import Stopped, retry_until_stopped
from cloudemy_scheduler.executors.base import Executor
from cloudemy_scheduler.metrics import ACTIVE_JOBS, FAILURES, QUEUE_LENGTH, RECOVERED
from cloudemy_scheduler.work_queue import REDIS_ERRORS, WorkQueue

log = logging.getLogger(__name__)


class Housekeeper:
    def __init__(
        self,
        work_queue: WorkQueue,
        executor: Executor,
        *,
        lease_seconds: float,
        interval_seconds: float,
        orphan_grace_seconds: float,
        slot_grace_seconds: float,
    ) -> None:
        self.queue = work_queue
        self.executor = executor
        self.lease_seconds = lease_seconds
        self.interval_seconds = interval_seconds
        self.orphan_grace_seconds = orphan_grace_seconds
        self.slot_grace_seconds = slot_grace_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="housekeeping", daemon=True)

    def startup(self, stop: threading.Event) -> bool:
        """Before the first BLMOVE: announce this scheduler and re-queue what a dead predecessor left.
        Retries while Redis is unreachable; False if ``stop`` is set first."""
        try:
            recovered = retry_until_stopped(self._announce, retry_on=REDIS_ERRORS, stop=stop,
                                            on_retry=_redis_unavailable_at_startup, initial=0.2)  # fmt: skip
        except Stopped:
            return False
        RECOVERED.inc(recovered)
        if recovered:
            log.info("start-up: %d orphaned message(s) returned to the queue", recovered)
        return True

    def _announce(self) -> int:
        self.queue.heartbeat(self.lease_seconds)
        return self.queue.recover(startup=True, grace_seconds=self.orphan_grace_seconds)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        tick = min(self.lease_seconds / 3, self.interval_seconds)
        since_recovery = 0.0
        while not self._stop.wait(tick):
            since_recovery += tick
            try:
                self.queue.heartbeat(self.lease_seconds)
                if since_recovery >= self.interval_seconds:
                    since_recovery = 0.0
                    self.run_once()
            except REDIS_ERRORS as exc:
                FAILURES.labels(reason="redis-error").inc()
                log.warning("housekeeping: Redis unavailable (%s)", exc)
            except Exception:
                log.exception("housekeeping failed; trying again next round")

    def run_once(self) -> None:
        """One round of recovery, slot reconciliation and gauges."""
        recovered = self.queue.recover(startup=False, grace_seconds=self.orphan_grace_seconds)
        if recovered:
            RECOVERED.inc(recovered)
            log.info("%d orphaned message(s) returned to the queue", recovered)
        self.reconcile()
        lengths = self.queue.lengths()
        for name in ("queued", "processing", "dead"):
            QUEUE_LENGTH.labels(list=name).set(lengths[name])
        ACTIVE_JOBS.set(lengths["active_slots"])

    def reconcile(self) -> bool:
        """Reconcile the slots with the executor's unfinished Jobs, only against a synced view (never the stale
        set a failed watch or list left) and only for slots older than the grace plus the view's staleness, so a
        Job created after the view was taken keeps its slot. Jobs that ended while the script ran (their slot
        freed, then re-added from the view) are freed again. False when there was no view to reconcile with."""
        view = self.executor.unfinished_view()
        if view is None:
            log.debug("slot reconciliation skipped: the Job watch is not synced")
            return False
        freed, _ = self.queue.reconcile_slots(view.names, self.slot_grace_seconds + view.staleness)
        if freed:
            log.info("freed %d active-Job slot(s) of Jobs that ended unseen", freed)
        after = self.executor.unfinished_view()
        if after is not None and after.generation == view.generation:
            for name in view.names - after.names:
                self.queue.release_slot(name)
        return True


def _redis_unavailable_at_startup(exc: BaseException, wait_seconds: float) -> None:
    log.warning("Redis unavailable at start-up (%s); retrying in %.1f s", exc, wait_seconds)
