"""Every Redis key of the Redis contract, as functions of the queue name (``QUEUE_SUBMISSIONS``).

- ``{queue}`` — pending queue messages; the backend RPUSHes, schedulers BLMOVE from the left.
- ``{queue}:processing`` — messages a scheduler is turning into a Job (the reliable dequeue).
- ``{queue}:processing:owners`` — hash raw message -> id of the scheduler that holds it.
- ``{queue}:processing:unowned`` — hash raw message -> when recovery first saw it without an owner.
- ``{queue}:schedulers`` — sorted set scheduler id -> heartbeat expiry.
- ``{queue}:active-jobs`` — sorted set Job name -> when its slot was taken (the MAX_ACTIVE_JOBS slots).
- ``{queue}:dead`` — malformed or rejected messages with the reason they were rejected.
- ``{queue}:delayed`` — sorted set raw message -> when it is due (attempts handed back while the LLM was down).
- ``submission:{id}`` — the hash holding one submission's payload for its runner, with a TTL.
- ``assignment:{id}:{version}`` — one version of an assignment as runners grade it (a JSON string), shared by
  every payload of that version; written once (SET NX), its TTL moved out to the payload TTL whenever a
  payload referring to it is written or renewed, so it outlives each of them; deleted with the last of them.
- ``assignment-refs:{id}:{version}`` — the set of submission ids whose payload refers to that snapshot; the
  snapshot is deleted with the last of them (its TTL is the fallback). Only the backend reads or writes it.
- ``ratelimit:{limit}:{digest}`` — the backend's rate limits (login failures, submissions, sign-ups): sorted
  sets of event times, each expiring with its window. Only the backend reads or writes them.
"""

DEFAULT_QUEUE = "queue:submissions"
DEFAULT_PAYLOAD_TTL_SECONDS = 7 * 24 * 3600
SUBMISSION_KEY_PREFIX = "submission:"
ASSIGNMENT_SNAPSHOT_KEY_PREFIX = "assignment:"
ASSIGNMENT_REFS_KEY_PREFIX = "assignment-refs:"
ASSIGNMENT_VERSION_PATTERN = r"^[0-9a-f]{32}$"
"""An assignment snapshot's version: 128 bits of the SHA-256 of its text, in lowercase hex."""
RATE_LIMIT_KEY_PREFIX = "ratelimit:"


def processing_queue(queue: str = DEFAULT_QUEUE) -> str:
    """The list a scheduler moves a message to while it creates the message's Job."""
    return f"{queue}:processing"


def processing_owners(queue: str = DEFAULT_QUEUE) -> str:
    """The hash naming the scheduler that holds each message in ``processing_queue``."""
    return f"{processing_queue(queue)}:owners"


def processing_unowned(queue: str = DEFAULT_QUEUE) -> str:
    """The hash of messages in ``processing_queue`` that no live scheduler holds, with when that was seen."""
    return f"{processing_queue(queue)}:unowned"


def schedulers(queue: str = DEFAULT_QUEUE) -> str:
    """The sorted set of live schedulers, scored by their heartbeat's expiry."""
    return f"{queue}:schedulers"


def active_jobs(queue: str = DEFAULT_QUEUE) -> str:
    """The sorted set of runner Jobs holding an active-Job slot, scored by when the slot was taken."""
    return f"{queue}:active-jobs"


def dead_queue(queue: str = DEFAULT_QUEUE) -> str:
    """The list that keeps malformed or rejected messages, with the reason they were rejected."""
    return f"{queue}:dead"


def delayed_queue(queue: str = DEFAULT_QUEUE) -> str:
    """The sorted set of messages handed back for later (score: when they are due, Unix milliseconds)."""
    return f"{queue}:delayed"


def submission_key(submission_id: str) -> str:
    """The hash holding one submission's payload for its runner."""
    return SUBMISSION_KEY_PREFIX + submission_id


def assignment_snapshot_key(assignment_id: str, version: str) -> str:
    """The string holding one version of an assignment's snapshot, shared by the payloads that refer to it."""
    return f"{ASSIGNMENT_SNAPSHOT_KEY_PREFIX}{assignment_id}:{version}"


def assignment_refs_key(assignment_id: str, version: str) -> str:
    """The set of submission ids whose payload hash refers to one assignment snapshot."""
    return f"{ASSIGNMENT_REFS_KEY_PREFIX}{assignment_id}:{version}"
