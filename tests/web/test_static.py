"""The UI's static files and their headers, checked without a browser."""

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cloudemy_backend.web.router import STATIC_DIR, router

VENDOR_DIR = STATIC_DIR / "vendor"
# Cloudemy's own scripts; vendor/ holds third-party libraries copied unchanged from npm (vendor/VERSIONS.txt).
SCRIPTS = sorted(p for p in STATIC_DIR.rglob("*.js") if not p.is_relative_to(VENDOR_DIR))


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    app.include_router(router)
    return TestClient(app)


def test_index_has_security_headers(client: TestClient) -> None:
    resp = client.get("/")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    csp = resp.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["default-src"] == "'none'"
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "no-referrer"
    assert resp.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    ("path", "media_type"),
    [("/ui/js/app.js", "text/javascript"), ("/ui/css/app.css", "text/css"), ("/ui/favicon.svg", "image/svg+xml")],
)
def test_assets_are_served_with_their_type_and_headers(client: TestClient, path: str, media_type: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith(media_type)
    assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]
    assert resp.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/ui/../router.py",
        "/ui/%2e%2e/router.py",
        "/ui/..%2frouter.py",
        "/ui/js/missing.js",
        "/ui/",
        "/ui/js",
        "/ui/../__init__.py",
    ],
)
def test_nothing_outside_the_static_files_is_served(client: TestClient, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 404
    assert "import" not in resp.text


def test_index_holds_no_inline_script_or_handler() -> None:
    html = (STATIC_DIR / "index.html").read_text()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag, f"inline script: {tag}"
    assert not re.search(r"<script\b[^>]*>\s*[^<\s]", html), "a script element has inline content"
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler attribute"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(STATIC_DIR)))
def test_scripts_never_write_markup(script: Path) -> None:
    """Untrusted text reaches the page only through textContent and DOM nodes."""
    source = script.read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "srcdoc"):
        assert sink not in source, f"{script.name} uses {sink}"
    assert not re.search(r"setAttribute\(\s*[\"']on", source), f"{script.name} sets an inline handler"


def test_the_token_lives_in_local_storage_of_this_origin_only() -> None:
    """Kept across the tabs of one browser (localStorage), never in a cookie."""
    sources = "\n".join(p.read_text() for p in SCRIPTS)
    assert "localStorage.setItem(TOKEN_KEY" in sources
    assert "document.cookie" not in sources


def test_vendored_libraries_are_listed_with_their_versions_and_licenses() -> None:
    listed = (VENDOR_DIR / "VERSIONS.txt").read_text()
    for name in ("marked", "dompurify", "@highlightjs/cdn-assets"):
        assert name in listed
    for license_file in ("marked.LICENSE.txt", "dompurify.LICENSE.txt", "highlight.LICENSE.txt"):
        assert (VENDOR_DIR / license_file).is_file()
    for script in VENDOR_DIR.rglob("*.js"):
        assert "sourceMappingURL" not in script.read_text(), f"{script.name} points at a map that is not shipped"


def test_only_the_sanitiser_turns_library_html_into_nodes() -> None:
    """Markdown and highlighter output reach the page as DOMPurify fragments (RETURN_DOM_FRAGMENT) only."""
    sources = {p.name: p.read_text() for p in SCRIPTS}
    assert "RETURN_DOM_FRAGMENT: true" in sources["markdown.js"]
    assert "RETURN_DOM_FRAGMENT: true" in sources["sanitize.js"]
    assert "html: (token) => escapeHtml(token.text)" in sources["markdown.js"], "raw HTML in Markdown is shown as text"
