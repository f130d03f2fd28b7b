"""Serves the single-page UI: ``/`` is the page, ``/ui/...`` its scripts, styles and icons.

Every answer carries the security headers below. The Content-Security-Policy allows scripts and
styles only from this origin (no ``unsafe-inline``, no ``eval``), so even text that slipped into the
page as markup could not run; the UI itself only ever writes untrusted text with ``textContent``.

The page itself may be framed, and may post a form, only where LTI needs it: ``frame-ancestors`` and
``form-action`` list the origins of the registered LMS platforms (and ``LTI_FRAME_ANCESTORS``); with none
registered the page keeps ``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``.
"""

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse

STATIC_DIR = (Path(__file__).parent / "static").resolve()

_BASE_POLICY = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
]


def content_security_policy(frame_ancestors: list[str] | None = None) -> str:
    """The UI's policy; ``frame_ancestors``: LMS origins that may frame the page and receive its deep-link form."""
    origins = " ".join(frame_ancestors or [])
    form_action = f"form-action 'self' {origins}" if origins else "form-action 'self'"
    ancestors = f"frame-ancestors {origins}" if origins else "frame-ancestors 'none'"
    return "; ".join([*_BASE_POLICY, form_action, ancestors])


CONTENT_SECURITY_POLICY = content_security_policy()

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    # Always revalidate: a new release is picked up at once, unchanged files answer 304.
    "Cache-Control": "no-cache",
}

MEDIA_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}

router = APIRouter(include_in_schema=False)


def _static_file(relative: str) -> FileResponse:
    """The file under STATIC_DIR named by ``relative``, or 404 for anything else: traversal, an unknown type,
    or a name no file system holds (a NUL byte, a name over NAME_MAX)."""
    try:
        candidate = (STATIC_DIR / relative).resolve()
        found = candidate.is_relative_to(STATIC_DIR) and candidate.is_file()
    except (OSError, ValueError):  # ValueError: embedded NUL; OSError: ENAMETOOLONG and kin
        found = False
    media_type = MEDIA_TYPES.get(candidate.suffix) if found else None
    if media_type is None:
        raise HTTPException(status_code=404, detail="Not Found")
    return FileResponse(candidate, media_type=media_type, headers=SECURITY_HEADERS)


@router.get("/")
async def index(request: Request) -> FileResponse:
    """The UI's one page; views are chosen client-side from the URL fragment (``#/assignments`` ...)."""
    response = _static_file("index.html")
    backend = getattr(request.app.state, "backend", None)
    ancestors = backend.lti.frame_ancestors if backend is not None else []
    if ancestors:
        response.headers["Content-Security-Policy"] = content_security_policy(ancestors)
        del response.headers["X-Frame-Options"]
    return response


@router.get("/ui/{path:path}")
async def asset(path: str) -> FileResponse:
    return _static_file(path)
