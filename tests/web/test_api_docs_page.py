"""The API docs work from the backend's own files under their Content-Security-Policy: Swagger UI and ReDoc
render every operation, load nothing from another origin, and trip no CSP violation (a console error)."""

import re
from collections.abc import Callable
from typing import Any

import pytest
from ui_harness import Api

pytestmark = pytest.mark.browser


def test_swagger_ui_renders_the_operations_offline(ui_backend: Api, open_browser: Callable[..., Any]) -> None:
    browser = open_browser(ui_backend.url)
    requested: list[str] = []  # what was fetched (a request the CSP blocked never gets a response)
    browser.page.on("response", lambda response: requested.append(response.url))
    browser.page.goto(f"{ui_backend.url}/docs")
    browser.page.wait_for_selector(".opblock-summary-path[data-path='/api/auth/token']")
    assert browser.page.locator(".opblock").count() > 10
    assert all(url.startswith(ui_backend.url) or url.startswith(("data:", "blob:")) for url in requested), requested


def test_redoc_renders_the_operations_offline(ui_backend: Api, open_browser: Callable[..., Any]) -> None:
    browser = open_browser(ui_backend.url)
    # ReDoc's footer asks for its logo from cdn.redoc.ly: the CSP blocks it (nothing leaves the origin), and
    # the browser reports the block on the console.
    browser.console.allowed.append(re.compile(r"https://cdn\.redoc\.ly/\S+' violates .*img-src"))
    requested: list[str] = []  # what was fetched (a request the CSP blocked never gets a response)
    browser.page.on("response", lambda response: requested.append(response.url))
    browser.page.goto(f"{ui_backend.url}/redoc")
    browser.page.wait_for_selector("h1:has-text('Cloudemy backend')", timeout=30_000)
    assert browser.page.get_by_text("/api/auth/token").count() > 0
    assert all(url.startswith(ui_backend.url) or url.startswith(("data:", "blob:")) for url in requested), requested
