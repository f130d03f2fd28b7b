"""LTI 1.3 tool endpoints (``/lti/...``, reached by the LMS and the browser) and their admin and staff API.

Browser-facing endpoints answer an HTML page for every refusal (an unknown issuer, a replayed launch, a bad
signature), with the reason and no secret; the JSON API answers ``{"detail": ...}`` as everywhere else.
"""

import html
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from cloudemy_backend.api.course_access import INSTRUCTORS, STAFF, CourseAccess, authorize, require_course_role
from cloudemy_backend.api.deps import AdminUser, BackendDep, CurrentUser, not_found
from cloudemy_backend.core.security import create_access_token
from cloudemy_backend.lti.claims import LaunchError
from cloudemy_backend.lti.schemas import (
    DeepLinkIn,
    DeepLinkOut,
    LtiCodeIn,
    PlatformIn,
    PlatformOut,
    PlatformPatch,
    RosterSyncOut,
    ScoreSyncOut,
    platform_out,
)
from cloudemy_backend.lti.service import STATE_COOKIE_PREFIX, STATE_TTL_SECONDS, LtiService
from cloudemy_backend.schemas import ErrorOut, TokenOut
from cloudemy_backend.storage import DuplicatePlatformError

log = logging.getLogger(__name__)

router = APIRouter(tags=["lti"])

MAX_FORM_FIELD = 64 * 1024
ERROR_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def lti_service(backend: BackendDep) -> LtiService:
    return backend.lti


Lti = Annotated[LtiService, Depends(lti_service)]


def public_base(request: Request) -> str:
    """Where browsers and platforms reach this tool: ``PUBLIC_BASE_URL``, else the request's own origin."""
    configured = request.app.state.settings.public_base_url
    return (configured or str(request.base_url)).rstrip("/")


def tool_urls(request: Request) -> dict[str, str]:
    base = public_base(request)
    return {
        "login_url": f"{base}/lti/login",
        "redirect_uri": f"{base}/lti/launch",
        "target_link_uri": f"{base}/lti/launch",
        "jwks_url": f"{base}/lti/jwks",
        "deep_link_url": f"{base}/lti/launch",
    }


def error_page(error: LaunchError) -> HTMLResponse:
    message = html.escape(error.message)
    body = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Cloudemy: launch refused</title></head>"
        "<body style='font-family:sans-serif;max-width:40rem;margin:3rem auto'>"
        f"<h1>Cloudemy could not open this link</h1><p>{message}</p>"
        "<p>If this keeps happening, give this message to your course's instructor or your LMS administrator.</p>"
        "</body></html>"
    )
    headers = {
        "Content-Security-Policy": ERROR_PAGE_CSP,
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return HTMLResponse(body, status_code=error.status_code, headers=headers)


async def _params(request: Request) -> dict[str, str]:
    params = {k: v[:MAX_FORM_FIELD] for k, v in request.query_params.items()}
    if request.method == "POST":
        form = await request.form(max_files=0, max_fields=50)
        params.update({k: v[:MAX_FORM_FIELD] for k, v in form.items() if isinstance(v, str)})
    return params


@router.get("/lti/login", response_class=RedirectResponse, status_code=302, operation_id="lti_login_get")
@router.post("/lti/login", response_class=RedirectResponse, status_code=302, operation_id="lti_login_post")
async def lti_login(request: Request, lti: Lti) -> Response:
    """OIDC third-party login initiation: answers 302 to the platform's authorization endpoint."""
    try:
        start = await lti.begin_login(await _params(request), redirect_uri=tool_urls(request)["redirect_uri"])
    except LaunchError as exc:
        log.info("LTI login refused", extra={"reason": exc.message})
        return error_page(exc)
    response = RedirectResponse(start.redirect_url, status_code=status.HTTP_302_FOUND)
    response.set_cookie(
        STATE_COOKIE_PREFIX + start.state,
        start.state,
        max_age=STATE_TTL_SECONDS,
        path="/lti",
        secure=True,
        httponly=True,
        samesite="none",
    )
    return response


@router.post("/lti/launch", response_class=RedirectResponse, status_code=302)
async def lti_launch(request: Request, lti: Lti) -> Response:
    """The platform's form post of the id_token: verified, mapped, then 302 to the UI with a one-time code."""
    params = await _params(request)
    state = params.get("state", "")
    try:
        message = await lti.verify_launch(
            id_token=params.get("id_token", ""),
            state=state,
            cookie_state=request.cookies.get(STATE_COOKIE_PREFIX + state),
        )
        outcome = await lti.launch(message)
    except LaunchError as exc:
        log.info("LTI launch refused", extra={"reason": exc.message})
        return error_page(exc)
    location = f"{public_base(request)}/?lti_code={outcome.code}#{outcome.fragment}"
    response = RedirectResponse(location, status_code=status.HTTP_302_FOUND)
    response.delete_cookie(STATE_COOKIE_PREFIX + state, path="/lti", secure=True, httponly=True, samesite="none")
    log.info("LTI launch", extra={"user_id": outcome.user_id, "course_id": outcome.course_id})
    return response


@router.get("/lti/jwks")
async def lti_jwks(lti: Lti) -> JSONResponse:
    """The tool's public keys (every key in the key directory; the newest signs)."""
    return JSONResponse(lti.keys.jwks(), headers={"Cache-Control": "public, max-age=300"})


@router.post("/lti/deep-link", response_model=DeepLinkOut, responses={404: {"model": ErrorOut}})
async def lti_deep_link(
    body: DeepLinkIn, request: Request, backend: BackendDep, lti: Lti, user: CurrentUser
) -> DeepLinkOut:
    """The signed LtiDeepLinkingResponse for the assignment an instructor picked; the UI posts it to return_url."""
    assignment = await backend.storage.assignment_by_id(body.assignment_id)
    if assignment is None:
        raise not_found("assignment")
    course = await backend.storage.course_by_id(assignment["course_id"])
    await authorize(backend.storage, user, course, INSTRUCTORS, write=True, what="assignment")
    try:
        answer = await lti.deep_link(
            body.deep_link_id,
            user_id=str(user["_id"]),
            assignment=assignment,
            launch_url=tool_urls(request)["redirect_uri"],
        )
    except LaunchError as exc:
        raise HTTPException(exc.status_code, detail=exc.message) from None
    return DeepLinkOut(**answer)


@router.post("/api/auth/lti-token", response_model=TokenOut, responses={401: {"model": ErrorOut}})
async def lti_token(body: LtiCodeIn, backend: BackendDep, lti: Lti) -> TokenOut:
    """Exchange the one-time code of a launch for a bearer token (once, within 60 s)."""
    user_id = await lti.redeem_code(body.code)
    if user_id is None or await backend.storage.user_by_id(user_id) is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="this sign-in link was already used or has expired")
    settings = backend.settings
    return TokenOut(
        access_token=create_access_token(user_id, settings.jwt_secret.get_secret_value(), settings.jwt_expire_minutes)
    )


# --- platform registrations (admin) ---------------------------------------------------------------------------


@router.post("/api/lti/platforms", status_code=201, response_model=PlatformOut, responses={409: {"model": ErrorOut}})
async def create_platform(
    body: PlatformIn, request: Request, backend: BackendDep, lti: Lti, _: AdminUser
) -> PlatformOut:
    """Register an LMS (issuer, client id, its OIDC, token and key set URLs, deployment ids)."""
    try:
        doc = await backend.storage.lti.insert_platform(body.model_dump())
    except DuplicatePlatformError:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail="this issuer and client id are already registered"
        ) from None
    await lti.refresh_frame_ancestors()
    return platform_out(doc, tool_urls(request))


@router.get("/api/lti/platforms", response_model=list[PlatformOut])
async def list_platforms(request: Request, backend: BackendDep, _: AdminUser) -> list[PlatformOut]:
    return [platform_out(doc, tool_urls(request)) for doc in await backend.storage.lti.list_platforms()]


@router.patch("/api/lti/platforms/{platform_id}", response_model=PlatformOut, responses={404: {"model": ErrorOut}})
async def update_platform(
    platform_id: str, body: PlatformPatch, request: Request, backend: BackendDep, lti: Lti, _: AdminUser
) -> PlatformOut:
    changes = body.model_dump(exclude_none=True)
    try:
        doc = (
            await backend.storage.lti.update_platform(platform_id, changes)
            if changes
            else (await backend.storage.lti.platform_by_id(platform_id))
        )
    except DuplicatePlatformError:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail="this issuer and client id are already registered"
        ) from None
    if doc is None:
        raise not_found("platform")
    await lti.refresh_frame_ancestors()
    return platform_out(doc, tool_urls(request))


@router.delete("/api/lti/platforms/{platform_id}", status_code=204, responses={404: {"model": ErrorOut}})
async def delete_platform(platform_id: str, backend: BackendDep, lti: Lti, _: AdminUser) -> Response:
    if not await backend.storage.lti.delete_platform(platform_id):
        raise not_found("platform")
    await lti.refresh_frame_ancestors()
    return Response(status_code=204)


# --- roster and score sync (course staff) ---------------------------------------------------------------------


@router.post(
    "/api/courses/{course_id}/lti/roster-sync", response_model=RosterSyncOut, responses={409: {"model": ErrorOut}}
)
async def roster_sync(
    access: Annotated[CourseAccess, require_course_role("course", STAFF, write=True)], lti: Lti
) -> RosterSyncOut:
    """Names and Role Provisioning: add, remove and re-role the course's LMS members now."""
    try:
        report = await lti.sync_roster(str(access.course["_id"]))
    except LaunchError as exc:
        raise HTTPException(exc.status_code, detail=exc.message) from None
    return RosterSyncOut(**report.as_dict())


@router.get(
    "/api/submissions/{submission_id}/lti-sync", response_model=ScoreSyncOut, responses={404: {"model": ErrorOut}}
)
async def score_sync_status(access: Annotated[CourseAccess, require_course_role("submission", STAFF)]) -> ScoreSyncOut:
    """Whether this submission's score reached the LMS gradebook (``not-linked`` outside LTI courses)."""
    assert access.submission is not None
    sync = access.submission.get("lti_sync") or {"state": "not-linked"}
    return ScoreSyncOut(
        **{k: sync.get(k) for k in ("state", "last_error", "synced_at", "score")}, attempts=sync.get("attempts", 0)
    )
