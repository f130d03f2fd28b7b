"""Sign-up and login (OAuth2 password flow, so the /docs "Authorize" button works)."""

import logging
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, status
from starlette.concurrency import run_in_threadpool

from cloudemy_backend.api.deps import BackendDep, unauthorized
from cloudemy_backend.core.security import create_access_token, hash_password, verify_password
from cloudemy_backend.schemas import ErrorOut, TokenOut, UserOut, UserRegister, user_out
from cloudemy_backend.storage import DuplicateEmailError

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses={403: {"model": ErrorOut}, 409: {"model": ErrorOut}},
)
async def register(body: UserRegister, backend: BackendDep) -> UserOut:
    """Create a student account (403 when ALLOW_SIGNUP=false, 409 when the email is taken)."""
    if not backend.settings.allow_signup:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="sign-up is disabled; ask an admin for an account")
    password_hash = await run_in_threadpool(hash_password, body.password)
    try:
        user = await backend.storage.insert_user(
            email=body.email, name=body.name, role="student", password_hash=password_hash
        )
    except DuplicateEmailError:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="email already registered") from None
    log.info("user registered", extra={"user_id": str(user["_id"]), "role": "student"})
    return user_out(user)


@router.post("/token", response_model=TokenOut, responses={401: {"model": ErrorOut}})
async def token(
    backend: BackendDep,
    username: Annotated[str, Form(max_length=254, description="the account's email")],
    password: Annotated[str, Form(max_length=256)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
    scope: Annotated[str, Form(max_length=1000)] = "",
) -> TokenOut:
    """Exchange email and password for a bearer token (HS256 JWT, JWT_EXPIRE_MINUTES)."""
    user = await backend.storage.user_by_email(username)
    stored_hash = user["password_hash"] if user else None
    if not await run_in_threadpool(verify_password, password, stored_hash) or user is None:
        raise unauthorized("incorrect email or password")
    settings = backend.settings
    access_token = create_access_token(
        str(user["_id"]), settings.jwt_secret.get_secret_value(), settings.jwt_expire_minutes
    )
    return TokenOut(access_token=access_token)
