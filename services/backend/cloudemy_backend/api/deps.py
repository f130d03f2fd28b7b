"""Dependencies shared by the routes: the backend's services, the current user, roles, pagination."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from bson import ObjectId
from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import OAuth2PasswordBearer

from cloudemy_backend.core.config import Settings
from cloudemy_backend.core.security import InvalidTokenError, decode_access_token
from cloudemy_backend.hashing import HashingPool
from cloudemy_backend.lti.service import LtiService
from cloudemy_backend.metrics import Metrics
from cloudemy_backend.queue import SubmissionQueue
from cloudemy_backend.ratelimit import RateLimiter
from cloudemy_backend.storage import Document, Storage, parse_object_id, utcnow
from cloudemy_common.models import ObjectIdStr


@dataclass
class Backend:
    """What one running app holds; created by the lifespan in main.py and kept on ``app.state.backend``."""

    settings: Settings
    storage: Storage
    queue: SubmissionQueue
    metrics: Metrics
    limiter: RateLimiter
    hashing: HashingPool
    lti: LtiService
    # The server's clock decides deadlines; tests pass a controllable one to create_app.
    clock: Callable[[], datetime] = field(default=utcnow)


def get_backend(request: Request) -> Backend:
    return request.app.state.backend


BackendDep = Annotated[Backend, Depends(get_backend)]

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


async def current_user(backend: BackendDep, token: Annotated[str | None, Depends(oauth2_scheme)]) -> Document:
    """The user named by a valid bearer token; 401 for a missing, forged or expired token or a deleted user."""
    if not token:
        raise unauthorized("not authenticated")
    try:
        claims = decode_access_token(token, backend.settings.jwt_secret.get_secret_value())
    except InvalidTokenError:
        raise unauthorized("invalid or expired token") from None
    user = await backend.storage.user_by_id(claims.user_id)
    if user is None:
        raise unauthorized("invalid or expired token")
    return user


CurrentUser = Annotated[Document, Depends(current_user)]


def is_staff(user: Document) -> bool:
    """Instructors and admins see every assignment and submission."""
    return user["role"] in {"instructor", "admin"}


async def staff_user(user: CurrentUser) -> Document:
    if not is_staff(user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="instructors and admins only")
    return user


async def admin_user(user: CurrentUser) -> Document:
    if user["role"] != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="admins only")
    return user


StaffUser = Annotated[Document, Depends(staff_user)]
AdminUser = Annotated[Document, Depends(admin_user)]


@dataclass
class Page:
    limit: int
    before_id: ObjectId | None


def page_params(
    limit: Annotated[int, Query(ge=1, le=100, description="items per page")] = 20,
    cursor: Annotated[ObjectIdStr | None, Query(description="next_cursor of the previous page")] = None,
) -> Page:
    return Page(limit=limit, before_id=parse_object_id(cursor) if cursor else None)


PageDep = Annotated[Page, Depends(page_params)]


def next_cursor(items: list[Any], limit: int) -> str | None:
    """A full page may have a successor: its last id is the cursor (lists are ordered by descending id)."""
    return str(items[-1]["_id"]) if len(items) == limit else None


def client_address(request: Request) -> str:
    """The client's address as the server saw it: behind an Ingress, the one the proxy headers name (uvicorn
    and gunicorn trust them from FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else "unknown"


def too_many_requests(detail: str, retry_after: int) -> HTTPException:
    return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, detail=detail, headers={"Retry-After": str(retry_after)})


def not_found(what: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"{what} not found")
