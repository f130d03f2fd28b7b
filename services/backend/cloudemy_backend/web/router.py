"""Serves the single-page UI: ``/`` is the page, ``/ui/...`` its scripts, styles and icons.

Every answer carries the security headers below. The Content-Security-Policy allows scripts and
styles only from this origin (no ``unsafe-inline``, no ``eval``), so even text that slipped into the
page as markup could not run; the UI itself only ever writes untrusted text with ``textContent``.
"""

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

STATIC_DIR = (Path(__file__).parent / "static").resolve()

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

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
async def index() -> FileResponse:
    """The UI's one page; views are chosen client-side from the URL fragment (``#/assignments`` ...)."""
    return _static_file("index.html")


@router.get("/ui/{path:path}")
async def asset(path: str) -> FileResponse:
    return _static_file(path)
