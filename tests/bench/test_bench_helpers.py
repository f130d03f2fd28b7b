"""The benchmark helpers measure what they claim: an open-loop client keeps its timetable, percentiles are
observed values, and summaries carry median, min and max."""

import asyncio
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from backend_load import OpenLoop, http_request, run_async
from common import percentile, summary, table

SLOW_ANSWER_SECONDS = 0.2


async def _slow_server() -> tuple[asyncio.Server, int]:
    """Answers every HTTP request after SLOW_ANSWER_SECONDS, one request at a time per connection."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                await asyncio.sleep(SLOW_ANSWER_SECONDS)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_open_loop_sends_on_its_timetable_while_the_server_is_slow():
    async def scenario():
        server, port = await _slow_server()
        gen = OpenLoop("127.0.0.1", port, lambda i: http_request("GET", "/healthz", {}))
        try:
            started = time.perf_counter()
            result = await gen.run(50, 0.6, prewarm=2)
            return result, time.perf_counter() - started
        finally:
            gen.close()
            server.close()
            await server.wait_closed()

    result, elapsed = run_async(scenario())
    assert len(result.samples) == 30
    assert result.errors == 0
    # a closed-loop client on 2 connections would need 30 x 0.2 / 2 = 3 s; open loop opens more connections
    assert elapsed < 2.0
    assert result.connections_opened > 0
    assert all(s.latency >= SLOW_ANSWER_SECONDS * 0.9 for s in result.samples)
    assert max(s.send_lag for s in result.samples) < SLOW_ANSWER_SECONDS


def test_open_loop_counts_a_refused_connection_as_an_error():
    from demo.processes import free_port

    port = free_port()  # nothing listens here
    gen = OpenLoop("127.0.0.1", port, lambda i: http_request("GET", "/", {}))

    async def scenario():
        return await gen.run(20, 0.2, prewarm=0)

    result = run_async(scenario())
    assert result.errors == len(result.samples) == 4
    assert result.latencies_ms() == []


def test_percentile_is_an_observed_value_by_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0
    assert percentile([3, 1, 2], 50) == 2


def test_summary_has_median_min_max_and_runs():
    stats = summary([3.0, 1.0, 2.0, 10.0, 4.0])
    assert (stats["median"], stats["min"], stats["max"]) == (3.0, 1.0, 10.0)
    assert stats["runs"] == [3.0, 1.0, 2.0, 10.0, 4.0]
    with pytest.raises(ValueError, match="no values"):
        summary([])


def test_table_aligns_columns():
    text = table(["name", "value"], [["a", 1], ["longer", 22]])
    lines = text.splitlines()
    assert len({len(line) for line in lines[:2]}) == 1
    assert lines[2].startswith("a ")
    assert lines[2].endswith(" 1")
