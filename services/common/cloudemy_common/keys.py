"""Redis key and queue names of the Redis contract."""

DEFAULT_QUEUE = "queue:submissions"
PROCESSING_SUFFIX = ":processing"
DEAD_SUFFIX = ":dead"
SUBMISSION_KEY_PREFIX = "submission:"
DEFAULT_PAYLOAD_TTL_SECONDS = 7 * 24 * 3600


def processing_queue(queue: str = DEFAULT_QUEUE) -> str:
    """The list a scheduler moves a message to while it creates the message's Job."""
    return queue + PROCESSING_SUFFIX


def dead_queue(queue: str = DEFAULT_QUEUE) -> str:
    """The list that keeps malformed messages, with the reason they were rejected."""
    return queue + DEAD_SUFFIX


def submission_key(submission_id: str) -> str:
    """The hash holding one submission's payload for its runner."""
    return SUBMISSION_KEY_PREFIX + submission_id
