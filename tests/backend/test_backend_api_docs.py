"""The API documentation is served from the backend's own files with a CSP, and DOCS_ENABLED turns it off."""

import re
from collections.abc import Callable

import httpx
import pytest
from backend_api import serve

from cloudemy_backend.core.config import Settings


async def test_swagger_ui_and_redoc_load_only_files_of_this_origin(client: httpx.AsyncClient) -> None:
    for page in ("/docs", "/redoc"):
        response = await client.get(page)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-eval" not in csp
        assert "default-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "<script>" not in response.text  # nothing inline
        urls = re.findall(r'(?:src|href)="([^"]+)"', response.text)
        assert urls
        for url in urls:
            assert url.startswith("/docs/assets/"), url  # no CDN
            asset = await client.get(url)
            assert asset.status_code == 200, url
            assert asset.content
    bundle = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert len(bundle.content) > 100_000
    init = (await client.get("/docs/assets/swagger-init.js")).text
    assert '"/openapi.json"' in init
    assert (await client.get("/openapi.json")).json()["info"]["title"] == "Cloudemy backend"


@pytest.mark.parametrize("name", ["../docs.py", "swagger-ui-bundle.js%00", "unknown.js", "..%2F..%2Fmain.py"])
async def test_only_the_listed_docs_assets_are_served(client: httpx.AsyncClient, name: str) -> None:
    response = await client.get(f"/docs/assets/{name}")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


async def test_docs_enabled_false_removes_the_docs_and_the_schema(make_settings: Callable[..., Settings]) -> None:
    async with serve(make_settings(docs_enabled=False)) as client:
        for path in ("/docs", "/redoc", "/openapi.json", "/docs/assets/swagger-ui-bundle.js"):
            assert (await client.get(path)).status_code == 404, path
        assert (await client.get("/healthz")).status_code == 200
