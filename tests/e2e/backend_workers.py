"""``python -m e2e.backend_workers`` (``tests/`` on the import path): the backend with ``WEB_CONCURRENCY`` workers,
as the image's gunicorn runs it, in one process over the in-memory store.

gunicorn gives each worker a whole app on one shared port: its own Redis clients, its own sweep task (and so its own
bid for the sweep lease), its own delayed-set promotion and metrics. Here each worker is a uvicorn server with its
own ``create_app`` on its own ``SO_REUSEPORT`` socket bound to ``$HOST:$PORT`` (the kernel spreads connections over
the sockets as it spreads them over gunicorn's workers), all on one event loop. With no MongoDB on this machine the
workers share one mongomock store; one event loop keeps each of its operations whole, as MongoDB keeps a
single-document write. What differs from the image: one process instead of ``WEB_CONCURRENCY`` (no parallelism).
SIGTERM stops every worker gracefully.
"""

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Iterator

import uvicorn
from mongomock_motor import AsyncMongoMockClient

from cloudemy_backend import storage
from cloudemy_backend.core.config import Settings, load_settings_or_exit
from cloudemy_backend.main import create_app


class Worker(uvicorn.Server):
    """A uvicorn server that leaves signals to the process (one handler stops every worker)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def shared_store(settings: Settings) -> None:
    """Every worker's ``Storage.from_settings`` returns a Storage over one in-memory client."""
    client = AsyncMongoMockClient(tz_aware=True)

    def from_settings(_: Settings) -> storage.Storage:
        return storage.Storage(client, settings.db_name, ephemeral=True)

    storage.Storage.from_settings = staticmethod(from_settings)  # type: ignore[method-assign]


def listening_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


async def serve(settings: Settings, workers: int) -> None:
    shared_store(settings)
    servers = []
    for _ in range(workers):
        config = uvicorn.Config(create_app(settings), log_config=None, access_log=False, server_header=False,
                                timeout_graceful_shutdown=30)  # fmt: skip
        servers.append((Worker(config), listening_socket(settings.host, settings.port)))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: [setattr(server, "should_exit", True) for server, _ in servers])
    await asyncio.gather(*(server.serve(sockets=[sock]) for server, sock in servers))


def main() -> None:
    settings = load_settings_or_exit()
    asyncio.run(serve(settings, max(1, int(os.environ.get("WEB_CONCURRENCY") or "1"))))


if __name__ == "__main__":
    main()
