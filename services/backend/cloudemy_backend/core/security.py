"""Passwords (pwdlib, argon2) and access tokens (PyJWT, HS256)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

JWT_ALGORITHM = "HS256"
ACCESS_TOKEN_TYPE = "access"  # noqa: S105 - a claim value, not a secret

password_hash = PasswordHash((Argon2Hasher(),))

# Verified when a login names an unknown email, so both failures take about the same time.
_UNKNOWN_USER_HASH = password_hash.hash("cloudemy-unknown-user")


def hash_password(password: str) -> str:
    return password_hash.hash(password)


def verify_password(password: str, stored_hash: str | None) -> bool:
    """Constant-effort check: an unknown user still costs one argon2 verification."""
    if stored_hash is None:
        password_hash.verify(password, _UNKNOWN_USER_HASH)
        return False
    try:
        return password_hash.verify(password, stored_hash)
    except ValueError:  # a hash pwdlib cannot read is a failed login, never a crash
        return False


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
