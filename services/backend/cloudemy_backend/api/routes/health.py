"""Liveness, readiness and Prometheus metrics, at the root (not under /api)."""

import asyncio
import logging

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError

from cloudemy_backend.api.deps import BackendDep
from cloudemy_backend.schemas import ErrorOut, Health, Readiness

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])

PING_TIMEOUT_SECONDS = 3.0


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process serves requests (no dependency checked)."""
    return Health()


@router.get("/readyz", response_model=Readiness, responses={503: {"model": ErrorOut}})
async def readyz(backend: BackendDep) -> Response:
    """Mongo and Redis both answer a ping; 503 with each one's state otherwise."""
    checks = {"mongo": backend.storage.ping(), "redis": backend.queue.ping()}
    states: dict[str, str] = {}
    for name, ping in checks.items():
        try:
            await asyncio.wait_for(ping, PING_TIMEOUT_SECONDS)
            states[name] = "ok"
        except Exception as exc:  # any failure to answer means not ready, whatever the driver raised
            states[name] = f"unreachable ({type(exc).__name__})"
    if all(state == "ok" for state in states.values()):
        return JSONResponse(Readiness(**states).model_dump())
    log.warning("not ready", extra=states)
    return JSONResponse({"detail": states}, status_code=503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(backend: BackendDep) -> Response:
    """Prometheus text format; the queue length is read from Redis at scrape time."""
    try:
        backend.metrics.queue_length.set(await backend.queue.length())
    except RedisError:
        log.warning("queue length not refreshed: redis unreachable")
    return Response(backend.metrics.render(), media_type=CONTENT_TYPE_LATEST)
