"""The scheduler's Prometheus metrics (served by ``health.HealthServer`` on METRICS_PORT)."""

from prometheus_client import Counter, Gauge, Histogram

DISPATCHED = Counter(
    "cloudemy_scheduler_dispatched_total",
    "Submissions whose runner Job now exists, by how (created, or already existed).",
    ["outcome"],
)
DISPATCH_SECONDS = Histogram(
    "cloudemy_scheduler_dispatch_latency_seconds",
    "Time from taking a message off the queue to its Job existing.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
FAILURES = Counter(
    "cloudemy_scheduler_failures_total",
    "Things that went wrong, by reason (malformed-message, api-error, cluster-refused, job-timeout, job-error, ...).",
    ["reason"],
)
RECOVERED = Counter("cloudemy_scheduler_recovered_total", "Orphaned :processing messages put back on the queue.")
QUEUE_LENGTH = Gauge("cloudemy_scheduler_queue_length", "Messages in the scheduler's Redis lists.", ["list"])
ACTIVE_JOBS = Gauge("cloudemy_scheduler_active_jobs", "Unfinished runner Jobs (active-Job slots in use).")
STUCK_JOBS = Counter(
    "cloudemy_scheduler_stuck_jobs_total",
    "Runner Jobs that never started, reported as errors and deleted, by cause (pod-unschedulable, pod-not-created,"
    " image-pull-failed).",
    ["cause"],
)
WATCH_SYNCED = Gauge(
    "cloudemy_scheduler_job_watch_synced",
    "1 while the Job watch is synced (its last list completed and its watch runs), 0 while it is not.",
)
LABELS_PENDING = Gauge(
    "cloudemy_scheduler_reported_labels_pending",
    "Handled Job endings whose cloudemy.io/reported label is still to be patched (waiting or retrying).",
)
