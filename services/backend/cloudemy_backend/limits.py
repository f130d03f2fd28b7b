"""Request body bound, enforced before anything parses the body."""

import json
import re

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_TESTS_TOTAL_BYTES = 4 * 1024 * 1024
"""Ceiling of all of an assignment's tests' ``stdin`` plus ``expected_stdout`` together (UTF-8): every queued
submission's payload carries the tests, so this bounds Redis memory per queued submission (and keeps an assignment
document far below MongoDB's 16 MB)."""


class BodyTooLargeError(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body larger than {limit} bytes")


LARGE_BODY_PATHS = re.compile(
    r"^/api/(?:courses/[^/]+/)?assignments(?:/[^/]+)?/?$"  # an assignment created or changed: its tests
    r"|^/internal/submissions/[^/]+/result/?$"  # a runner's result: up to 100 tests' stdout and stderr excerpts
)
"""Writes whose bodies legitimately carry instructor tests or their outcomes: larger than any other request."""


class BodySizeLimitMiddleware:
    """413 for a body over the bound: at once from Content-Length, or while a chunked body streams in.

    ``max_bytes`` bounds every request except the writes of LARGE_BODY_PATHS (assignments with their tests, results
    with their test outcomes), which may carry up to ``assignment_max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int, assignment_max_bytes: int | None = None) -> None:
        self.app = app
        self.default_max_bytes = max_bytes
        self.assignment_max_bytes = max(assignment_max_bytes or max_bytes, max_bytes)

    def bound(self, scope: Scope) -> int:
        writes = scope.get("method") in ("POST", "PATCH", "PUT")
        if writes and LARGE_BODY_PATHS.fullmatch(scope.get("path", "")):
            return self.assignment_max_bytes
        return self.default_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.bound(scope)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and not declared.isdigit():
            await self._reject(send, 400, "invalid Content-Length header")
            return
        if declared is not None and int(declared) > max_bytes:
            await self._reject(send, 413, f"request body larger than {max_bytes} bytes")
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLargeError(max_bytes)  # FastAPI's exception handlers answer 413
            return message

        await self.app(scope, counting_receive, send)

    @staticmethod
    async def _reject(send: Send, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
