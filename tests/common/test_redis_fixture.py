import pytest
import redis


def test_restart_keeps_port_and_aof_data(redis_factory):
    server = redis_factory(appendonly=True)
    client = server.client()
    client.rpush("queue:submissions", "a", "b")
    port = server.port
    server.restart(kill=True)
    assert server.port == port
    client = server.client()
    assert client.lrange("queue:submissions", 0, -1) == ["a", "b"]


def test_stopped_server_refuses_then_comes_back(redis_factory):
    server = redis_factory()
    client = server.client()
    server.stop()
    with pytest.raises(redis.ConnectionError):
        client.ping()
    server.start()
    assert server.client().ping()


def test_redis_url_is_clean_per_test(redis_client):
    assert redis_client.dbsize() == 0
    redis_client.set("leftover", "1")
