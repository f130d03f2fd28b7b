"""Wiring: settings -> Redis, executor, backend client, dispatcher, housekeeping, metrics; run until SIGTERM."""

import logging
import os
import shlex
import signal
import sys
from collections.abc import Mapping
from types import FrameType

import redis
from pydantic import ValidationError

from cloudemy_common.llm_budget import BudgetLimits
from cloudemy_common.logs import configure_logging
from cloudemy_common.redis_policy import decoded_config, memory_policy_problems
from cloudemy_scheduler.backend_reporter import BackendReporter
from cloudemy_scheduler.config import ConfigurationError, Settings
from cloudemy_scheduler.dispatcher import BLOCK_SECONDS, Dispatcher
from cloudemy_scheduler.executors.base import Executor
from cloudemy_scheduler.health import HealthServer
from cloudemy_scheduler.housekeeping import Housekeeper
from cloudemy_scheduler.job_template import label_selector, load_template
from cloudemy_scheduler.llm_gate import LlmDispatchGate
from cloudemy_scheduler.work_queue import REDIS_ERRORS, WorkQueue

log = logging.getLogger("cloudemy_scheduler")

EXIT_CONFIG_ERROR = 2


def build_executor(settings: Settings, template: dict, environ: Mapping[str, str] | None = None) -> Executor:
    """The executor of EXECUTOR; local runners resolve their ``secretKeyRef``s from ``environ`` (default: this
    process's environment, which stands in for the release's Secret)."""
    if settings.executor == "local":
        from cloudemy_scheduler.executors.local import DEFAULT_RUNNER_COMMAND, LocalExecutor

        command = shlex.split(settings.runner_command) if settings.runner_command else DEFAULT_RUNNER_COMMAND
        return LocalExecutor(command, secrets=environ)
    from cloudemy_scheduler.executors.k8s import KubernetesExecutor
    from cloudemy_scheduler.stuck_pods import PendingBounds

    return KubernetesExecutor(
        settings.k8s_namespace,
        label_selector(template),
        pending_bounds=PendingBounds(
            unschedulable=settings.pod_unschedulable_timeout_seconds,
            not_created=settings.pod_create_timeout_seconds,
            image_pull=settings.image_pull_timeout_seconds,
        ),
        request_timeout=settings.k8s_request_timeout_seconds,
        watch_timeout=settings.watch_timeout_seconds,
        list_page_size=settings.k8s_list_page_size,
        kubeconfig=settings.kubeconfig,
    )


def warn_about_redis_memory_policy(client: redis.Redis) -> None:
    """One warning per problem when Redis would evict payloads or grow unbounded; never blocks start-up."""
    try:
        config = decoded_config(client.config_get("maxmemory*"))
    except redis.RedisError as exc:  # unreachable now (the loops wait for it), or CONFIG refused by an ACL
        log.info("redis memory policy not checked: %s", type(exc).__name__)
        return
    for problem in memory_policy_problems(config):
        log.warning("redis may lose submissions: %s", problem)


class Scheduler:
    """One scheduler process's parts. ``serve()`` blocks until ``stop()``; tests run it in a thread, with the
    environment it was configured from as ``environ``."""

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.template = load_template(settings.runner_job_template)  # a missing or broken template stops start-up
        if not settings.internal_result_token.get_secret_value():
            raise ConfigurationError("INTERNAL_RESULT_TOKEN is empty: runners could not post results")
        master = settings.internal_result_token.get_secret_value()
        self.redis = redis.Redis.from_url(
            settings.redis_url,
            decode_responses=True,
            socket_timeout=BLOCK_SECONDS + 10,
            socket_connect_timeout=5,
            health_check_interval=30,
        )
        self.work_queue = WorkQueue(self.redis, settings.queue_submissions, settings.scheduler_id)
        self.executor = build_executor(settings, self.template, environ)
        self.backend = BackendReporter(
            settings.backend_internal_url, master, result_budget_seconds=settings.report_timeout_seconds
        )
        limits = BudgetLimits(
            settings.llm_requests_per_minute, settings.llm_tokens_per_minute, settings.llm_budget_period_seconds
        )
        self.dispatcher = Dispatcher(
            self.work_queue,
            self.executor,
            self.backend,
            self.template,
            master_token=master,
            max_active_jobs=settings.max_active_jobs,
            language_images=settings.runner_language_images,
            llm_gate=LlmDispatchGate(
                self.redis,
                limits,
                max_backlog_seconds=settings.llm_dispatch_max_backlog_seconds,
                active_jobs=self.work_queue.slots_in_use,
                breaker=settings.llm_breaker,
            ),
        )
        self.housekeeper = Housekeeper(
            self.work_queue,
            self.executor,
            lease_seconds=settings.scheduler_lease_seconds,
            interval_seconds=settings.recovery_interval_seconds,
            orphan_grace_seconds=settings.orphan_grace_seconds,
            slot_grace_seconds=max(30.0, 3 * settings.k8s_request_timeout_seconds),
        )
        self.health = HealthServer(settings.metrics_port, self.dispatcher.healthy, ready=self.dispatcher.ready)

    def serve(self) -> None:
        settings = self.settings
        log.info("scheduler %s: queue %s, executor %s, cap %d", settings.scheduler_id, settings.queue_submissions,
                 settings.executor, settings.max_active_jobs)  # fmt: skip
        self.health.start()
        warn_about_redis_memory_policy(self.redis)
        try:
            self.executor.start(self.dispatcher.job_finished)
            if self.housekeeper.startup(self.dispatcher.stop_event):
                self.housekeeper.start()
                self.dispatcher.run()
        finally:
            self._shutdown()

    def stop(self) -> None:
        self.dispatcher.stop()

    def _shutdown(self) -> None:
        self.housekeeper.stop()
        try:
            self.work_queue.sign_off()
        except REDIS_ERRORS:
            log.warning("could not sign off in Redis; this scheduler's lease expires by itself")
        self.executor.close()
        self.backend.close()
        self.health.close()
        self.work_queue.close()
        self.redis.close()


def run(settings: Settings) -> int:
    try:
        scheduler = Scheduler(settings)
    except ConfigurationError as exc:
        log.error("configuration error: %s", exc)
        return EXIT_CONFIG_ERROR

    def request_stop(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: finishing the current dispatch, then exiting", signum)
        scheduler.stop()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    scheduler.serve()
    return 0


def main() -> None:
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))  # JSON lines on stderr, like every Cloudemy process
    try:
        settings = Settings()
    except ValidationError as exc:
        log.error("configuration error: %s", exc)
        sys.exit(EXIT_CONFIG_ERROR)
    configure_logging(settings.log_level, {"scheduler_id": settings.scheduler_id})
    sys.exit(run(settings))
