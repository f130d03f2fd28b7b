"""The API documentation, served from the backend's own files: Swagger UI at ``/docs``, ReDoc at ``/redoc``.

Nothing loads from a CDN, so the pages work on an air-gapped cluster. Swagger UI's and ReDoc's builds come
from the ``fastapi-offline`` package (its ``static`` folder); the two pages and their start-up scripts are
this package's (``web/static/docs``), so no inline script is needed and the Content-Security-Policy allows
scripts from this origin only. Both libraries set inline styles (React style attributes, styled-components),
and ReDoc runs its search in a ``blob:`` worker: the policy allows exactly that much more than the UI's.

``DOCS_ENABLED=false`` removes ``/docs``, ``/redoc`` and ``/openapi.json`` (404).
"""

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from cloudemy_backend.web.router import MEDIA_TYPES, SECURITY_HEADERS, STATIC_DIR

VENDORED_DIR = (Path(fastapi_offline.__file__).parent / "static").resolve()
PAGES_DIR = STATIC_DIR / "docs"

# Every file the two pages load, and where it lives.
ASSETS: dict[str, Path] = {
    "swagger-ui-bundle.js": VENDORED_DIR / "swagger-ui-bundle.js",
    "swagger-ui.css": VENDORED_DIR / "swagger-ui.css",
    "redoc.standalone.js": VENDORED_DIR / "redoc.standalone.js",
    "favicon.png": VENDORED_DIR / "favicon.png",
    "swagger-init.js": PAGES_DIR / "swagger-init.js",
    "redoc-init.js": PAGES_DIR / "redoc-init.js",
}

DOCS_CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
DOCS_HEADERS = SECURITY_HEADERS | {"Content-Security-Policy": DOCS_CONTENT_SECURITY_POLICY}

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def swagger_ui() -> FileResponse:
    return FileResponse(PAGES_DIR / "swagger.html", media_type=MEDIA_TYPES[".html"], headers=DOCS_HEADERS)


@router.get("/redoc")
async def redoc() -> FileResponse:
    return FileResponse(PAGES_DIR / "redoc.html", media_type=MEDIA_TYPES[".html"], headers=DOCS_HEADERS)


@router.get("/docs/assets/{name}")
async def docs_asset(name: str) -> FileResponse:
    path = ASSETS.get(name)
    if path is None:
        raise HTTPException(status_code=404, detail="Not Found")
    media_type = MEDIA_TYPES.get(path.suffix, "image/png")
    return FileResponse(path, media_type=media_type, headers=DOCS_HEADERS)
