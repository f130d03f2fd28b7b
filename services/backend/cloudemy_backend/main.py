"""The ASGI app factory: ``create_app()`` builds the backend app.

Servers call the factory themselves: the image runs ``gunicorn 'cloudemy_backend.main:create_app()'``, and
``uvicorn --factory cloudemy_backend.main:create_app`` works the same way; ``python -m cloudemy_backend`` and the
tests call ``create_app(settings)``. Importing this module needs no environment; building the app without
settings reads the environment once and exits with one line when a required variable is missing.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from bson.errors import InvalidStringData
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pymongo.errors import ConnectionFailure, PyMongoError
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay

from cloudemy_backend import __version__
from cloudemy_backend.api.deps import Backend
from cloudemy_backend.api.headers import DefaultHeadersMiddleware
from cloudemy_backend.api.routes import (
    assignments,
    auth,
    courses,
    grades,
    health,
    internal,
    lti,
    review,
    submissions,
    users,
)
from cloudemy_backend.core.config import Settings, load_settings_or_exit
from cloudemy_backend.core.security import hash_password
from cloudemy_backend.hashing import HashingPool
from cloudemy_backend.limits import BodySizeLimitMiddleware
from cloudemy_backend.lti.service import LtiService, ScoreSync, roster_schedule
from cloudemy_backend.metrics import Metrics
from cloudemy_backend.queue import SubmissionQueue, connect_redis
from cloudemy_backend.ratelimit import RateLimiter
from cloudemy_backend.request_log import RequestLogMiddleware
from cloudemy_backend.storage import DuplicateEmailError, Storage
from cloudemy_backend.sweep import Sweeper
from cloudemy_backend.web import router as web_ui_router
from cloudemy_backend.web.docs import router as api_docs_router
from cloudemy_common.logs import configure_logging
from cloudemy_common.redis_policy import decoded_config, memory_policy_problems
from cloudemy_common.retry import backoff

log = logging.getLogger(__name__)

# One line per router; the web UI's router comes last (it serves / and the static assets).
ROUTERS = [
    health.router,
    auth.router,
    users.router,
    courses.router,
    assignments.router,
    submissions.router,
    review.router,
    internal.router,
    grades.router,
    lti.router,
    web_ui_router,
]

STARTUP_RETRY_SECONDS = 60
SHUTDOWN_WAIT_SECONDS = 10


async def bootstrap_admin(settings: Settings, storage: Storage) -> None:
    """Create the admin named by CLOUDEMY_ADMIN_EMAIL/PASSWORD unless that email exists (idempotent)."""
    email, password = settings.cloudemy_admin_email, settings.cloudemy_admin_password
    if not email or password is None or not password.get_secret_value():
        return
    if await storage.user_by_email(email) is not None:
        log.info("admin bootstrap: account exists, left unchanged")
        return
    password_hash = await run_in_threadpool(hash_password, password.get_secret_value())
    try:
        user = await storage.insert_user(email=email, name="Administrator", role="admin", password_hash=password_hash)
    except DuplicateEmailError:  # another replica created it a moment ago
        return
    log.info("admin bootstrap: account created", extra={"user_id": str(user["_id"])})


async def prepare_storage(settings: Settings, storage: Storage) -> None:
    """Indexes and the admin account; retried while MongoDB is still starting, then start-up fails."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(ConnectionFailure),
        stop=stop_after_delay(STARTUP_RETRY_SECONDS),
        wait=backoff(initial=0.5, maximum=5),
        reraise=True,
    ):
        with attempt:
            await storage.create_indexes()
            await bootstrap_admin(settings, storage)
            moved = await storage.migrate_into_default_course()
            if any(moved.values()):
                log.info("data from before courses moved into the default course", extra=moved)


def route_server_logs() -> None:
    """uvicorn's and gunicorn's own lines go through the JSON handler; their access lines are off (the
    backend's request middleware logs each request by route template, without query strings)."""
    for name in ("uvicorn", "uvicorn.error", "gunicorn.error"):
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True
    for name in ("uvicorn.access", "gunicorn.access"):
        access_logger = logging.getLogger(name)
        access_logger.handlers.clear()
        access_logger.propagate = False
        access_logger.disabled = True


async def warn_about_redis_memory_policy(queue: SubmissionQueue) -> None:
    """One warning per problem when Redis would evict payloads (or grow unbounded); never blocks start-up."""
    try:
        config = decoded_config(await queue.redis.config_get("maxmemory*"))
    except RedisError as exc:  # unreachable now (the sweep copes), or CONFIG refused by a managed service's ACL
        log.info("redis memory policy not checked", extra={"reason": type(exc).__name__})
        return
    for problem in memory_policy_problems(config):
        log.warning("redis may lose submissions: %s", problem, extra={"redis_config": "maxmemory"})


def install_error_handlers(app: FastAPI) -> None:
    """Every error answers JSON ``{"detail": ...}``; nothing a client sends becomes a 5xx."""

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # The offending input is not echoed back: it may be a password or a whole program.
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(UnicodeError)
    @app.exception_handler(InvalidStringData)
    async def invalid_text(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": "text must be valid Unicode"}, status_code=422)

    @app.exception_handler(PyMongoError)
    async def database_unavailable(request: Request, exc: PyMongoError) -> JSONResponse:
        log.error("database error", extra={"path_template": _route(request), "reason": type(exc).__name__})
        return JSONResponse({"detail": "database unavailable, try again shortly"}, status_code=503)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc, extra={"path_template": _route(request)})
        return JSONResponse({"detail": "internal server error"}, status_code=500)


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", "<unmatched>")


def create_app(settings: Settings | None = None, *, clock: Callable[[], datetime] | None = None) -> FastAPI:
    """The backend app; reads the environment when no settings are given. ``clock`` (default: the system's
    UTC time) is what deadlines are judged by; tests pass one they control."""
    settings = settings or load_settings_or_exit()
    configure_logging(settings.log_level)
    route_server_logs()
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        storage = Storage.from_settings(settings)
        queue = SubmissionQueue(
            connect_redis(settings.redis_url), settings.queue_submissions, settings.submission_payload_ttl
        )
        await prepare_storage(settings, storage)
        await warn_about_redis_memory_policy(queue)
        lti_service = LtiService(settings, storage)
        await lti_service.refresh_frame_ancestors()
        app.state.backend = Backend(
            settings=settings,
            storage=storage,
            queue=queue,
            metrics=metrics,
            limiter=RateLimiter(queue.redis, metrics),
            hashing=HashingPool(
                settings.password_hashing_memory_mib * 1024, settings.password_hashing_wait_seconds, metrics
            ),
            lti=lti_service,
        )
        if clock is not None:
            app.state.backend.clock = clock
        sweeper, stopping = Sweeper(settings, storage, queue, metrics), asyncio.Event()
        sweep_task = asyncio.create_task(sweeper.run_forever(stopping), name="cloudemy-sweep")
        background = {sweep_task}
        score_sync = ScoreSync(lti_service, settings.lti_score_sync_interval_seconds)
        background.add(asyncio.create_task(score_sync.run_forever(stopping), name="cloudemy-lti-scores"))
        if settings.lti_roster_sync_minutes > 0:
            roster = roster_schedule(lti_service, settings.lti_roster_sync_minutes, stopping)
            background.add(asyncio.create_task(roster, name="cloudemy-lti-roster"))
        log.info("backend started", extra={"version": __version__, "store": "memory" if storage.ephemeral else "mongo"})
        try:
            yield
        finally:
            stopping.set()
            for task in background:
                task.cancel()
            await asyncio.wait(background, timeout=SHUTDOWN_WAIT_SECONDS)
            await lti_service.close()
            await queue.close()
            await storage.close()
            log.info("backend stopped")

    app = FastAPI(
        title="Cloudemy backend",
        version=__version__,
        description='Public API under /api, internal result API under /internal. Errors are JSON {"detail": ...}.',
        lifespan=lifespan,
        # The docs pages are the backend's own files (web/docs.py), not FastAPI's CDN-loading ones.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    if settings.docs_enabled:
        app.include_router(api_docs_router)
    # Added last = runs first: observe everything, then CORS, then the default headers on every answer (the
    # body bound's 413 included), then the body bound before any parsing.
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_request_bytes,
        assignment_max_bytes=settings.max_assignment_request_bytes,
    )
    app.add_middleware(DefaultHeadersMiddleware)
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(RequestLogMiddleware, metrics=metrics)
    return app
