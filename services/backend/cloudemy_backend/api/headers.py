"""Headers every API answer carries: its JSON holds code, emails and grades, so no cache may keep it and no
browser may sniff it into something else.

The middleware fills in what a route did not set itself: ``Cache-Control: no-store`` (the UI's files and the
API docs' assets set their own, revalidating, policy) and ``X-Content-Type-Options: nosniff``.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
)


class DefaultHeadersMiddleware:
    """Adds each of DEFAULT_HEADERS to an HTTP response that does not carry that header already."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_defaults(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                headers.extend((name, value) for name, value in DEFAULT_HEADERS if name not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_defaults)
