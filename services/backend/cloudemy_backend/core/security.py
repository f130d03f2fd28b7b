"""Passwords (pwdlib, argon2id) and access tokens (PyJWT, HS256).

Argon2id parameters: 19 MiB of memory, 2 passes, 1 lane (the first configuration of OWASP's password storage
guidance). Every verification holds its hash's memory for its duration, so the number running at once is
bounded by the hashing pool (``cloudemy_backend.hashing``); docs/security.md has the memory arithmetic.
Hashes made with other parameters (pwdlib's former defaults: 64 MiB, 3 passes, 4 lanes) keep verifying,
and a successful login rehashes them with the current parameters.
"""

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

JWT_ALGORITHM = "HS256"
ACCESS_TOKEN_TYPE = "access"  # noqa: S105 - a claim value, not a secret

ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1

password_hash = PasswordHash(
    (Argon2Hasher(memory_cost=ARGON2_MEMORY_KIB, time_cost=ARGON2_TIME_COST, parallelism=ARGON2_PARALLELISM),)
)

_ARGON2_MEMORY = re.compile(r"^\$argon2(?:id|i|d)\$(?:v=\d+\$)?m=(\d+),")


def hash_password(password: str) -> str:
    return password_hash.hash(password)


@functools.cache
def _unknown_user_hash() -> str:
    """Verified when a login names an unknown email, so both failures take about the same time."""
    return password_hash.hash("cloudemy-unknown-user")


def verify_password(password: str, stored_hash: str | None) -> tuple[bool, str | None]:
    """Constant-effort check: an unknown user still costs one argon2 verification.

    Returns whether the password matches and, when it does and the stored hash uses other parameters than
    today's, the hash to store instead (None otherwise).
    """
    if stored_hash is None:
        password_hash.verify(password, _unknown_user_hash())
        return False, None
    try:
        return password_hash.verify_and_update(password, stored_hash)
    except ValueError:  # a hash pwdlib cannot read is a failed login, never a crash
        return False, None


def hash_memory_kib(stored_hash: str | None) -> int:
    """The memory one verification of ``stored_hash`` takes (argon2's ``m``, in KiB); today's for anything
    else (an unknown user is checked against a hash made with today's parameters)."""
    match = _ARGON2_MEMORY.match(stored_hash or "")
    return int(match.group(1)) if match else ARGON2_MEMORY_KIB


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    expires_at: datetime


class InvalidTokenError(Exception):
    """The bearer token is malformed, forged, expired or not an access token."""


def create_access_token(user_id: str, secret: str, expire_minutes: int) -> str:
    now = datetime.now(UTC)
    claims = {"sub": user_id, "type": ACCESS_TOKEN_TYPE, "iat": now, "exp": now + timedelta(minutes=expire_minutes)}
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


def decode_access_token(token: str, secret: str) -> AccessClaims:
    try:
        claims = jwt.decode(token, secret, algorithms=[JWT_ALGORITHM], options={"require": ["sub", "exp", "type"]})
    except jwt.PyJWTError as exc:
        raise InvalidTokenError(type(exc).__name__) from None
    if claims.get("type") != ACCESS_TOKEN_TYPE or not isinstance(claims.get("sub"), str):
        raise InvalidTokenError("not an access token")
    try:
        expires_at = datetime.fromtimestamp(claims["exp"], UTC)
    except (OverflowError, OSError, ValueError):  # signed, but beyond what a datetime holds (year > 9999)
        raise InvalidTokenError("expiry out of range") from None
    return AccessClaims(user_id=claims["sub"], expires_at=expires_at)
