"""The e2e suite's TCP proxy really cuts and restores a connection path."""

import socket
import threading

import pytest

from fakes.tcp_proxy import TcpProxy


@pytest.fixture
def echo_port():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(1024):
                    conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    yield port
    server.close()


def roundtrip(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(b"ping")
        return sock.recv(16)


def test_forward_cut_restore(echo_port):
    proxy = TcpProxy(echo_port).start()
    try:
        assert roundtrip(proxy.port) == b"ping"
        proxy.cut()
        with pytest.raises(ConnectionRefusedError):
            roundtrip(proxy.port)
        proxy.restore()
        assert roundtrip(proxy.port) == b"ping"
    finally:
        proxy.close()


def test_cut_drops_open_connections(echo_port):
    proxy = TcpProxy(echo_port).start()
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
    sock.sendall(b"a")
    assert sock.recv(4) == b"a"
    proxy.cut()
    sock.settimeout(2)
    try:
        sock.sendall(b"b")
        received = sock.recv(4)
    except (ConnectionResetError, BrokenPipeError):
        received = b""  # a reset is as good as EOF; a timeout (still open) fails the test
    finally:
        sock.close()
    assert received == b""
