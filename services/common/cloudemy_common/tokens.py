"""Result tokens: the master ``INTERNAL_RESULT_TOKEN`` and the scoped tokens derived from it.

- ``attempt_token``: what the scheduler gives a runner Job. ``a1.{attempt}.{expires}.{mac}`` with
  ``mac = hex(HMAC-SHA256(key=master, msg="{submission id}:{attempt}:{expires}"))``: valid for one submission,
  one attempt, until ``expires`` (Unix seconds). A token copied out of a retained Job is worth nothing once it
  expired, and never for a regrade's attempt.
- ``submission_token``: ``hex(HMAC-SHA256(key=master, msg=submission id))``, one submission, any attempt, no
  expiry (the earlier scheme, still accepted so that Jobs created before an upgrade can report).

Every comparison is constant-time; the attempt and expiry are checked only after the MAC matched.
"""

import hashlib
import hmac
import time
from dataclasses import dataclass

ATTEMPT_TOKEN_PREFIX = "a1"  # noqa: S105 - a format marker, not a secret
MAX_TOKEN_CHARS = 256


@dataclass(frozen=True)
class ResultGrant:
    """What a valid token allows: ``attempt`` None means any attempt (master or per-submission token)."""

    kind: str  # "master" | "attempt" | "submission"
    attempt: int | None = None
    expires_at: int | None = None

    def allows_attempt(self, attempt: int) -> bool:
        return self.attempt is None or self.attempt == attempt


def submission_token(master_token: str, submission_id: str) -> str:
    """hex(HMAC-SHA256(key=master_token, msg=submission_id)): lets one runner post for one submission."""
    return hmac.new(master_token.encode(), submission_id.encode(), hashlib.sha256).hexdigest()


def _attempt_mac(master_token: str, submission_id: str, attempt: int, expires_at: int) -> str:
    message = f"{submission_id}:{attempt}:{expires_at}".encode()
    return hmac.new(master_token.encode(), message, hashlib.sha256).hexdigest()


def attempt_token(master_token: str, submission_id: str, attempt: int, expires_at: int) -> str:
    """A token for one attempt of one submission, valid until ``expires_at`` (Unix seconds)."""
    mac = _attempt_mac(master_token, submission_id, attempt, expires_at)
    return f"{ATTEMPT_TOKEN_PREFIX}.{attempt}.{expires_at}.{mac}"


def result_grant(
    master_token: str, submission_id: str, presented: str | None, now: float | None = None
) -> ResultGrant | None:
    """What ``presented`` allows for this submission; None for a missing, forged, foreign or expired token."""
    if not presented or not master_token or len(presented) > MAX_TOKEN_CHARS:
        return None
    given = presented.encode()
    if hmac.compare_digest(given, master_token.encode()):
        return ResultGrant("master")
    if hmac.compare_digest(given, submission_token(master_token, submission_id).encode()):
        return ResultGrant("submission")
    parts = presented.split(".")
    if len(parts) != 4 or parts[0] != ATTEMPT_TOKEN_PREFIX or not (parts[1].isdigit() and parts[2].isdigit()):
        return None
    attempt, expires_at = int(parts[1]), int(parts[2])
    if not hmac.compare_digest(
        parts[3].encode(), _attempt_mac(master_token, submission_id, attempt, expires_at).encode()
    ):
        return None
    if (time.time() if now is None else now) >= expires_at:
        return None
    return ResultGrant("attempt", attempt, expires_at)


def verify_result_token(master_token: str, submission_id: str, presented: str | None) -> bool:
    """True when ``presented`` is valid for this submission (any attempt); see ``result_grant``."""
    return result_grant(master_token, submission_id, presented) is not None
