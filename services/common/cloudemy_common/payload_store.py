"""The payload's Redis commands: how one attempt's payload is written and deleted (backend) and read (runner).

Writing stages commands on a MULTI/EXEC pipeline (sync or asyncio redis-py; the caller adds its own, such as
the queue message, and executes), so the payload hash, its assignment snapshot and the message appear together:

- ``SET assignment:{id}:{version} <snapshot> NX EX ttl`` — the snapshot is written once per version;
- ``EXPIRE assignment:{id}:{version} ttl GT`` — and its expiry moved out to this payload's, never in, so it
  outlives every payload that refers to it, whatever the TTL each writer was configured with;
- ``SADD assignment-refs:{id}:{version} <submission id>`` with the same expiry (``EXPIRE NX``, then ``GT``) —
  the submissions referring to the snapshot;
- ``DEL``, ``HSET``, ``EXPIRE`` of ``submission:{id}`` — replaced, not merged, so a regrade never keeps a field
  of the previous attempt.

Deleting a finished submission's payload (one script, ``DELETE_PAYLOAD``) removes the hash and its id from
the snapshot's set, and the snapshot and the set with the last id: a drained backlog gives its memory back
at once instead of after the TTL. An id whose hash expired without a delete stays in the set, which then only
keeps the snapshot until its TTL: never a snapshot deleted under a payload that still refers to it.

Reading takes two round trips, because the snapshot's key is in the hash: ``HGETALL submission:{id}``, then
``GET`` of the snapshot it names (an inline hash of an older release needs no second read). A snapshot never
changes (its key is its content's digest), so nothing can change between the two reads; it can only be gone.
"""

from typing import Any

from cloudemy_common.keys import (
    DEFAULT_PAYLOAD_TTL_SECONDS,
    assignment_refs_key,
    assignment_snapshot_key,
    submission_key,
)
from cloudemy_common.models import SubmissionPayload

PAYLOAD_REFERENCE_FIELDS = ("assignment_id", "assignment_version")
"""The hash fields naming the snapshot (HMGET them to renew or delete a payload)."""

# KEYS: payload hash[, snapshot's set of submission ids, snapshot].  ARGV: submission id.
DELETE_PAYLOAD = """
redis.call('DEL', KEYS[1])
if #KEYS == 3 and redis.call('SREM', KEYS[2], ARGV[1]) == 1 and redis.call('SCARD', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[2], KEYS[3])
end
return 1
"""


class PayloadMissing(LookupError):
    """No payload to grade: the hash, or the snapshot it refers to, is gone (expired, evicted or deleted)."""


def stage_payload_write(pipe: Any, payload: SubmissionPayload, ttl_seconds: int) -> None:
    """Queue the commands writing ``payload`` (its hash and its assignment snapshot) on a MULTI pipeline."""
    records = payload.redis_records()
    refs = assignment_refs_key(payload.assignment_id, records.fields["assignment_version"])
    pipe.set(records.snapshot_key, records.snapshot, ex=ttl_seconds, nx=True)
    pipe.expire(records.snapshot_key, ttl_seconds, gt=True)
    pipe.sadd(refs, payload.submission_id)
    pipe.expire(refs, ttl_seconds, nx=True)
    pipe.expire(refs, ttl_seconds, gt=True)
    key = submission_key(payload.submission_id)
    pipe.delete(key)
    pipe.hset(key, mapping=records.fields)
    pipe.expire(key, ttl_seconds)


def snapshot_keys(reference: list[Any]) -> list[str]:
    """[snapshot's set of submission ids, snapshot] named by ``HMGET submission:{id} assignment_id
    assignment_version``; empty for an inline hash (or none at all)."""
    found = SubmissionPayload.reference_in(
        {name: value for name, value in zip(PAYLOAD_REFERENCE_FIELDS, reference, strict=True) if value is not None}
    )
    return [assignment_refs_key(*found), assignment_snapshot_key(*found)] if found else []


def stage_payload_renewal(pipe: Any, submission_id: str, reference: list[Any], ttl_seconds: int) -> None:
    """Queue the commands renewing a payload's TTL and its snapshot's (never shortening the snapshot's).
    ``reference`` is ``HMGET submission:{id} assignment_id assignment_version`` (an inline hash has none)."""
    pipe.expire(submission_key(submission_id), ttl_seconds)
    for key in snapshot_keys(reference):
        pipe.expire(key, ttl_seconds, gt=True)


def payload_deletion(submission_id: str, reference: list[Any]) -> list[str]:
    """The KEYS of ``DELETE_PAYLOAD`` for one submission (its hash, then its snapshot's keys if any)."""
    return [submission_key(submission_id), *snapshot_keys(reference)]


def read_payload(client: Any, submission_id: str) -> SubmissionPayload:
    """Load one payload with a sync redis-py client. Raises PayloadMissing when the hash or its snapshot is
    gone, ValueError when either is malformed, and redis.RedisError when Redis cannot be read."""
    raw = client.hgetall(submission_key(submission_id))
    if not raw:
        raise PayloadMissing("payload hash missing or expired")
    snapshot_key = SubmissionPayload.snapshot_key_in(raw)
    snapshot = None
    if snapshot_key is not None:
        snapshot = client.get(snapshot_key)
        if snapshot is None:
            raise PayloadMissing("assignment snapshot missing or expired")
    return SubmissionPayload.from_redis_hash(raw, snapshot)


def write_payload(client: Any, payload: SubmissionPayload, ttl_seconds: int = DEFAULT_PAYLOAD_TTL_SECONDS) -> None:
    """Write one payload with a sync redis-py client in one MULTI/EXEC, without a queue message (benches and
    tools that start a runner directly; the backend's enqueue adds the message to the same transaction)."""
    pipe = client.pipeline(transaction=True)
    stage_payload_write(pipe, payload, ttl_seconds)
    pipe.execute()
