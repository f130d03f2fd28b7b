"""Fixtures shared by every test suite: real Redis servers on 127.0.0.1, and the MongoDB choice."""

import os
from collections.abc import Callable, Iterator

import pytest
import redis

from fakes.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the whole session; use ``redis_url`` for a clean database per test."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of the session's Redis, flushed before the test."""
    if not redis_server.running:
        redis_server.start()
    client = redis_server.client()
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def redis_factory() -> Iterator[Callable[..., RedisServer]]:
    """Own redis-server processes for fault tests (stop, kill -9, restart, AOF on with appendonly=True)."""
    servers: list[RedisServer] = []

    def make(*, appendonly: bool = False) -> RedisServer:
        server = RedisServer(appendonly=appendonly)
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture(params=["stand-in", pytest.param("real", marks=pytest.mark.mongo)])
def mongo_target(request: pytest.FixtureRequest) -> str:
    """Where Mongo tests run: mongomock-motor's in-process client, and a real server when MONGO_TEST_URI is set."""
    if request.param == "real":
        uri = os.environ.get("MONGO_TEST_URI")
        if not uri:
            pytest.skip("MONGO_TEST_URI is not set: no real MongoDB on this machine, stand-in only")
        return uri
    return "stand-in"
