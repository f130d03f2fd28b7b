"""The current user, and accounts created by an admin (any role)."""

import logging

from fastapi import APIRouter, HTTPException, status

from cloudemy_backend.api.deps import AdminUser, BackendDep, CurrentUser
from cloudemy_backend.schemas import ErrorOut, UserCreate, UserOut, user_out
from cloudemy_backend.storage import DuplicateEmailError

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/users", tags=["users"])


@router.get("/me", response_model=UserOut)
async def me(user: CurrentUser) -> UserOut:
    return user_out(user)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=UserOut, responses={409: {"model": ErrorOut}})
async def create_user(body: UserCreate, backend: BackendDep, admin: AdminUser) -> UserOut:
    """Admins create students, instructors and other admins (works whatever ALLOW_SIGNUP says)."""
    password_hash = await backend.hashing.hash(body.password)
    try:
        user = await backend.storage.insert_user(
            email=body.email, name=body.name, role=body.role, password_hash=password_hash
        )
    except DuplicateEmailError:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="email already registered") from None
    log.info("user created", extra={"user_id": str(user["_id"]), "role": body.role, "by": str(admin["_id"])})
    return user_out(user)
