"""The one JSON answer of the HTTP fakes (the internal API, the OpenAI-compatible server, the LMS), and the HTML
pages the fake LMS shows a browser."""

import json
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any


def send_json(
    handler: BaseHTTPRequestHandler, status: int, payload: Any, headers: Mapping[str, str] | None = None
) -> None:
    """Answer ``payload`` as JSON with ``status``; a client that already gave up (its timeout) is no error."""
    send_body(handler, status, json.dumps(payload).encode(), "application/json", headers)


def send_html(handler: BaseHTTPRequestHandler, status: int, page: str) -> None:
    """Answer an HTML page (a fake's own pages, for a browser), never cached."""
    send_body(handler, status, page.encode(), "text/html; charset=utf-8", {"Cache-Control": "no-store"})


def send_body(
    handler: BaseHTTPRequestHandler,
    status: int,
    data: bytes,
    content_type: str,
    headers: Mapping[str, str] | None = None,
) -> None:
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
