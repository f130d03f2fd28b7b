"""Sign-up and login (OAuth2 password flow, so the /docs "Authorize" button works).

Login throttle: more than ``LOGIN_MAX_FAILURES`` failed logins for one account, or from one client address,
within ``LOGIN_FAILURE_WINDOW_SECONDS`` (15 minutes) and every further login of that account or address
answers 429 with ``Retry-After``, the right password included, until the oldest failure leaves the window.
The check runs when the login's turn in the hashing pool has come, right before its password is verified,
and a wrong password is recorded at once: parallel guesses overshoot the limit by at most the few
verifications running at once, and successful logins (a whole class behind one address) are never counted.
Sign-ups are limited per client address (``SIGNUP_RATE_PER_HOUR``).
"""

import logging
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, status

from cloudemy_backend.api.deps import BackendDep, client_address, too_many_requests, unauthorized
from cloudemy_backend.core.security import create_access_token
from cloudemy_backend.ratelimit import RateLimiter
from cloudemy_backend.schemas import ErrorOut, TokenOut, UserOut, UserRegister, user_out
from cloudemy_backend.storage import DuplicateEmailError

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/auth", tags=["auth"])

TOO_MANY = {429: {"model": ErrorOut, "description": "rate limited; see the Retry-After header"}}
SIGNUP_WINDOW_SECONDS = 3600


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses={403: {"model": ErrorOut}, 409: {"model": ErrorOut}, **TOO_MANY},
)
async def register(body: UserRegister, request: Request, backend: BackendDep) -> UserOut:
    """Create a student account (403 when ALLOW_SIGNUP=false, 409 when the email is taken, 429 beyond
    SIGNUP_RATE_PER_HOUR from one client address)."""
    if not backend.settings.allow_signup:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="sign-up is disabled; ask an admin for an account")
    decision = await backend.limiter.reserve(
        [RateLimiter.key("signup-address", client_address(request))],
        limit=backend.settings.signup_rate_per_hour,
        window_seconds=SIGNUP_WINDOW_SECONDS,
    )
    if not decision.allowed:
        backend.metrics.rate_limited.labels("signup").inc()
        raise too_many_requests("too many sign-ups from this address; try again later", decision.retry_after)
    password_hash = await backend.hashing.hash(body.password)
    try:
        user = await backend.storage.insert_user(
            email=body.email, name=body.name, role="student", password_hash=password_hash
        )
    except DuplicateEmailError:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="email already registered") from None
    log.info("user registered", extra={"user_id": str(user["_id"]), "role": "student"})
    return user_out(user)


def login_keys(email: str, address: str) -> list[str]:
    return [RateLimiter.key("login-account", email), RateLimiter.key("login-address", address)]


@router.post("/token", response_model=TokenOut, responses={401: {"model": ErrorOut}, **TOO_MANY})
async def token(
    request: Request,
    backend: BackendDep,
    username: Annotated[str, Form(max_length=254, description="the account's email")],
    password: Annotated[str, Form(max_length=256)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
    scope: Annotated[str, Form(max_length=1000)] = "",
) -> TokenOut:
    """Exchange email and password for a bearer token (HS256 JWT, JWT_EXPIRE_MINUTES); 429 with Retry-After
    after LOGIN_MAX_FAILURES failures for the account or from the client address within 15 minutes."""
    settings = backend.settings
    keys = login_keys(username, client_address(request))
    window = {"limit": settings.login_max_failures, "window_seconds": settings.login_failure_window_seconds}

    async def refuse_when_throttled() -> None:
        decision = await backend.limiter.check(keys, **window)
        if not decision.allowed:
            backend.metrics.rate_limited.labels("login").inc()
            log.warning("login throttled", extra={"retry_after": decision.retry_after})
            raise too_many_requests("too many failed logins; try again later", decision.retry_after)

    user = await backend.storage.user_by_email(username)
    matches, new_hash = await backend.hashing.verify(
        password, user["password_hash"] if user else None, first=refuse_when_throttled
    )
    if not matches or user is None:
        await backend.limiter.record(keys, **window)
        raise unauthorized("incorrect email or password")
    if new_hash is not None:
        await backend.storage.set_password_hash(user["_id"], new_hash)
        log.info("password rehashed with the current parameters", extra={"user_id": str(user["_id"])})
    access_token = create_access_token(
        str(user["_id"]), settings.jwt_secret.get_secret_value(), settings.jwt_expire_minutes
    )
    return TokenOut(access_token=access_token)
