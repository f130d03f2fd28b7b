"""Result tokens: the master ``INTERNAL_RESULT_TOKEN`` and per-submission tokens derived from it."""

import hashlib
import hmac


def submission_token(master_token: str, submission_id: str) -> str:
    """hex(HMAC-SHA256(key=master_token, msg=submission_id)): lets one runner post for one submission."""
    return hmac.new(master_token.encode(), submission_id.encode(), hashlib.sha256).hexdigest()


def verify_result_token(master_token: str, submission_id: str, presented: str | None) -> bool:
    """True when ``presented`` is the master token or this submission's token (constant-time compare)."""
    if not presented or not master_token:
        return False
    given = presented.encode()
    is_master = hmac.compare_digest(given, master_token.encode())
    is_scoped = hmac.compare_digest(given, submission_token(master_token, submission_id).encode())
    return is_master or is_scoped
