"""One access line and the request metrics per HTTP request, by route template (never the raw path or query)."""

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloudemy_backend.metrics import Metrics

UNMATCHED_ROUTE = "<unmatched>"

access_log = logging.getLogger("cloudemy_backend.access")


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/api/submissions/{submission_id}``), never the raw path.

    API routes put themselves in the scope; other endpoints (``/openapi.json``, ``/docs``, static files)
    are named by their endpoint, so the label's values stay few.
    """
    route = scope.get("route")
    if route is not None and hasattr(route, "path"):
        return str(route.path)
    endpoint = scope.get("endpoint")
    return getattr(endpoint, "__name__", type(endpoint).__name__) if endpoint is not None else UNMATCHED_ROUTE


class RequestLogMiddleware:
    """Counts every HTTP request, records its latency and logs one access line (route template, no query)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route, method, elapsed = route_template(scope), scope["method"], time.perf_counter() - started
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.latency.labels(route, method).observe(elapsed)
            access_log.info(
                "%s %s %s",
                method,
                route,
                status,
                extra={"method": method, "route": route, "status": status, "duration_ms": round(elapsed * 1000, 1)},
            )
