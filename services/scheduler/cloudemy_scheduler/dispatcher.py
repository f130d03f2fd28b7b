"""The dispatch loop: BLMOVE -> parse -> cap check -> create Job -> report dispatched -> LREM.

One message at a time, each step named, each failure path explicit:
- malformed message          -> ``:dead`` with the reason (the loop never crashes on input)
- at MAX_ACTIVE_JOBS         -> wait for a slot (before BLMOVE, so the work stays queued)
- API 5xx / timeout / down   -> retry with backoff; the message stays in ``:processing`` until the Job exists
- 409 AlreadyExists          -> the Job for this submission attempt exists: done, exactly like a create
- API rejects the Job (4xx)  -> ``:dead`` and an ``error`` result, so the submission is not left waiting
- no image for the language  -> an ``error`` result (``language-unavailable``) instead of a Job that could not grade
- SIGTERM                    -> finish the current dispatch; if the API is unreachable, give the message back
Ended Jobs come back through ``job_finished``: the slot is freed and failures are reported as results.
"""

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from cloudemy_common.jobs import job_name
from cloudemy_common.keys import submission_key
from cloudemy_common.models import QueueMessage
from cloudemy_common.retry import Stopped, retry_until_stopped
from cloudemy_scheduler.backend_reporter import BackendReporter
from cloudemy_scheduler.executors.base import Created, Executor, Handled, JobRejected, TransientError
from cloudemy_scheduler.job_endings import Ending, JobEnding, result_for
from cloudemy_scheduler.job_template import build_job
from cloudemy_scheduler.llm_gate import LlmDispatchGate
from cloudemy_scheduler.metrics import ACTIVE_JOBS, DISPATCH_SECONDS, DISPATCHED, FAILURES
from cloudemy_scheduler.work_queue import REDIS_ERRORS, WorkQueue

log = logging.getLogger(__name__)

BLOCK_SECONDS = 5  # BLMOVE <queue> <queue>:processing LEFT RIGHT 5: the wait of one take
SLOT_POLL_SECONDS = 0.2  # how often a full scheduler looks for slots that other replicas freed
T = TypeVar("T")


def malformed_reason(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "message"
    return f"malformed message: {where}: {first.get('msg', 'invalid')}"


class Dispatcher:
    def __init__(
        self,
        work_queue: WorkQueue,
        executor: Executor,
        backend: BackendReporter,
        template: dict[str, Any],
        *,
        master_token: str,
        max_active_jobs: int,
        language_images: Mapping[str, str] | None = None,
        llm_gate: LlmDispatchGate | None = None,
    ) -> None:
        self.queue = work_queue
        self.llm_gate = llm_gate
        self.language_images = language_images
        self.executor = executor
        self.backend = backend
        self.template = template
        self.master_token = master_token
        self.max_active_jobs = max_active_jobs
        self._stop = threading.Event()
        self._slot_freed = threading.Event()  # set when a Job of ours ends: wake a dispatch waiting for a slot
        self._slots_full = False
        self.last_tick = time.monotonic()

    # ---- the loop ------------------------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()
        self._slot_freed.set()
        self.queue.wake()

    @property
    def stop_event(self) -> threading.Event:
        return self._stop

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """Dispatch until ``stop()``; the message in hand when asked to stop is finished first."""
        while not self.stopping:
            self.last_tick = time.monotonic()
            try:
                raw = retry_until_stopped(self._next_message, retry_on=REDIS_ERRORS, stop=self._stop,
                                          on_retry=self._redis_unavailable)  # fmt: skip
            except Stopped:
                break
            if raw is not None:
                self.dispatch(raw)
        log.info("dispatch loop stopped")

    def _next_message(self) -> str | None:
        """Wait for a free slot and the LLM gate, then BLMOVE the next message into ``:processing`` (None: none
        came, held, or stopping)."""
        if not self._wait_for_capacity():
            return None
        if self.llm_gate is not None and self.llm_gate.wait(self._stop):
            return None  # held while the LLM could not take more: look at capacity and stopping again
        return self.queue.take(BLOCK_SECONDS)

    def _redis_unavailable(self, exc: BaseException, wait_seconds: float) -> None:
        FAILURES.labels(reason="redis-error").inc()
        self.last_tick = time.monotonic()  # waiting on a dependency is not a hung loop
        log.warning("Redis unavailable (%s); retrying in %.1f s", exc, wait_seconds)

    def dispatch(self, raw: str) -> None:
        """Turn one message (already in ``:processing``) into its Job."""
        try:
            self._dispatch(raw)
        except Stopped:
            log.warning("stopping with Redis unreachable: the message stays in processing for recovery")

    def _dispatch(self, raw: str) -> None:
        taken_at = time.monotonic()
        try:
            message = QueueMessage.model_validate_json(raw)
        except ValidationError as exc:
            self._reject_malformed(raw, malformed_reason(exc))
            return
        name = job_name(message.submission_id, message.attempt, message.requeue)
        image = None
        if self.language_images is not None:
            image = self.language_images.get(message.language)
            if not image:
                self._reject_language(raw, message, name)
                return
        try:
            self._claim_slot(raw, name)
            job = build_job(
                self.template, message.submission_id, message.attempt, self.master_token, image, requeue=message.requeue
            )
            created = self._create(job, name)
        except Stopped:
            self._give_back(raw, name)
            return
        except JobRejected as exc:
            self._reject_job(raw, message, name, str(exc))
            return
        if created is Created.EXISTS:
            self._release_if_ended(name)
        DISPATCHED.labels(outcome=created.value).inc()
        DISPATCH_SECONDS.observe(time.monotonic() - taken_at)
        self.backend.report_dispatched(message.submission_id, message.attempt, name)
        self._with_redis(lambda: self.queue.finish(raw), "finish")
        log.debug("dispatched %s (%s)", name, created.value)  # one per Job: counted by the metrics instead

    # ---- steps ---------------------------------------------------------------------------------------------

    def _wait_for_capacity(self) -> bool:
        """Block while every active-Job slot is taken, so new work stays in the queue. False when stopping."""
        while self._slots_full and not self.stopping:
            used = self.queue.slots_in_use()
            ACTIVE_JOBS.set(used)
            if used < self.max_active_jobs:
                self._slots_full = False
                break
            self.last_tick = time.monotonic()
            self._pause_for_slot()
        return not self.stopping

    def _claim_slot(self, raw: str, name: str) -> None:
        """Claim the message and take a slot for its Job, waiting while all slots are taken (another replica
        may have taken the last one between our capacity check and the BLMOVE)."""
        while True:
            claim = self._with_redis(lambda: self.queue.claim(raw, name, self.max_active_jobs), "claim")
            ACTIVE_JOBS.set(claim.slots_in_use)
            self._slots_full = claim.slots_in_use >= self.max_active_jobs
            if claim.slot_taken:
                return
            self.last_tick = time.monotonic()
            if self._pause_for_slot():
                raise Stopped

    def _pause_for_slot(self) -> bool:
        """Wait until one of our Jobs ends (its slot is free at once) or SLOT_POLL_SECONDS pass (a slot another
        replica freed is seen at the next look). True when stopping."""
        self._slot_freed.wait(SLOT_POLL_SECONDS)
        self._slot_freed.clear()
        return self.stopping

    def _create(self, job: dict[str, Any], name: str) -> Created:
        """Create the Job, retrying transient API failures with backoff until it exists; Stopped if asked to stop."""
        try:
            return self.executor.create(job)  # the common case, without setting up a retry loop
        except TransientError as exc:
            self._note_api_failure(name, exc)
        return retry_until_stopped(lambda: self.executor.create(job), retry_on=TransientError, stop=self._stop,
                                   on_retry=lambda exc, wait_seconds: self._note_api_failure(name, exc))  # fmt: skip

    def _note_api_failure(self, name: str, exc: BaseException) -> None:
        FAILURES.labels(reason="api-error").inc()
        self.last_tick = time.monotonic()
        log.warning("creating Job %s failed (%s); retrying", name, exc)
        with contextlib.suppress(*REDIS_ERRORS):
            self.queue.refresh_slot(name)  # still ours: reconciliation must not free it while we retry

    def _note_redis_failure(self, what: str) -> None:
        FAILURES.labels(reason="redis-error").inc()
        self.last_tick = time.monotonic()  # waiting on a dependency is not a hung loop
        log.warning("Redis step %s failed; retrying", what)

    def _release_if_ended(self, name: str) -> None:
        """After a 409: if the existing Job already ended, the slot we took for it is not in use."""
        try:
            ended = self.executor.is_finished(name)
        except TransientError:
            return  # reconciliation frees it if it has ended
        if ended:
            self._with_redis(lambda: self.queue.release_slot(name), "release slot")

    def _reject_malformed(self, raw: str, reason: str) -> None:
        FAILURES.labels(reason="malformed-message").inc()
        log.error("%s; moved to %s: %r", reason, self.queue.dead, raw[:200])
        self._with_redis(lambda: self.queue.dead_letter(raw, reason), "dead-letter")

    def _reject_job(self, raw: str, message: QueueMessage, name: str, reason: str) -> None:
        FAILURES.labels(reason="cluster-refused").inc()
        log.error("the cluster refused Job %s: %s; moved to %s", name, reason, self.queue.dead)
        self._with_redis(lambda: self.queue.dead_letter(raw, f"job rejected: {reason}"), "dead-letter")
        self._with_redis(lambda: self.queue.release_slot(name), "release slot")
        ended = JobEnding(name, message.submission_id, message.attempt, Ending.ERROR, "cluster-refused")
        self.backend.report_result(message.submission_id, message.attempt, result_for(ended))

    def _reject_language(self, raw: str, message: QueueMessage, name: str) -> None:
        """No runner image carries this language's toolchain: say so as the submission's result, create no Job."""
        FAILURES.labels(reason="language-unavailable").inc()
        log.warning("no runner image serves %s: %s reported as language-unavailable", message.language, name)
        ended = JobEnding(name, message.submission_id, message.attempt, Ending.ERROR, "language-unavailable",
                             detail=message.language)  # fmt: skip
        self.backend.report_result(message.submission_id, message.attempt, result_for(ended))
        self._with_redis(lambda: self.queue.finish(raw), "finish")

    def _give_back(self, raw: str, name: str) -> None:
        try:
            self.queue.give_back(raw)
            self.queue.release_slot(name)
        except REDIS_ERRORS:
            log.warning("stopping with Redis unreachable: %s stays in processing for recovery", name)
            return
        log.info("stopping before Job %s existed: message returned to the queue", name)

    def _with_redis(self, operation: Callable[[], T], what: str) -> T:
        """Run a Redis step, retrying while Redis is unreachable; Stopped if asked to stop meanwhile."""
        try:
            return operation()  # the common case, without setting up a retry loop
        except REDIS_ERRORS:
            log.warning("Redis step %s failed; retrying", what)
        return retry_until_stopped(operation, retry_on=REDIS_ERRORS, stop=self._stop,
                                   on_retry=lambda exc, wait_seconds: self._note_redis_failure(what))  # fmt: skip

    # ---- Jobs that ended -----------------------------------------------------------------------------------

    def job_finished(self, ended: JobEnding) -> Handled:
        """Called by the executor once per ended Job: free its slot; report a failure as the submission's result.

        Returns whether the ending is handled (the watcher then labels the Job reported): at once for a success
        or a stale attempt (a slot Redis could not free now is freed by reconciliation, which no longer sees the
        Job), else the report's Future, True once the backend has answered it."""
        try:
            self.queue.release_slot(ended.job_name)
            self._slot_freed.set()
        except REDIS_ERRORS:
            log.warning("could not free the slot of %s now; reconciliation will", ended.job_name)
        if ended.ending is Ending.SUCCEEDED:
            return True
        if self._is_stale(ended):
            log.info("Job %s ended after a newer attempt was queued: not reported", ended.job_name)
            return True
        FAILURES.labels(reason=f"job-{ended.ending.value}").inc()
        log.warning("Job %s ended: %s (%s)", ended.job_name, ended.ending.value, ended.cause)
        return self.backend.report_result(ended.submission_id, ended.attempt, result_for(ended))

    def _is_stale(self, ended: JobEnding) -> bool:
        """A regrade queued a newer attempt: this Job's ending must not become that attempt's result."""
        try:
            current = self.queue.redis.hget(submission_key(ended.submission_id), "attempt")
        except REDIS_ERRORS:
            return False
        try:
            return current is not None and int(current) > ended.attempt
        except ValueError:
            return False

    def healthy(self) -> tuple[bool, str]:
        """Liveness: the dispatch loop advances. A Job watch that cannot sync does not fail it (a restart cannot
        bring the API server back); the detail says so, and ``ready()`` fails."""
        idle = time.monotonic() - self.last_tick
        executor_ok, executor_detail = self.executor.healthy()
        if idle > 60:
            return False, f"dispatch loop has not advanced for {idle:.0f} s"
        return True, executor_detail if executor_ok else f"dispatching; {executor_detail}"

    def ready(self) -> tuple[bool, str]:
        """Readiness: live, and the executor's view of the Jobs is current (the Job watch is synced)."""
        live, detail = self.healthy()
        if not live:
            return False, detail
        executor_ok, executor_detail = self.executor.healthy()
        return executor_ok, executor_detail
