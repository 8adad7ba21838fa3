"""Slow clients cannot hold the proxy: silent connections and trickled headers are closed after the
header timeout (408 when a request was started), trickled or missing bodies after the body
timeout or deadline (408), oversized headers get 431, and with many half-sent requests open a new
client is still served (the longest-waiting idle connection gives way at the connection cap)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from ollama_openai_proxy.app import create_app
from ollama_openai_proxy.connections import ConnectionLimits, guarded_h11, guarded_protocol
from tests.conftest import make_settings
from tests.hardening.conftest import wait_until
from tests.support.fake_backend import FakeBackend, free_port

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
BODY_DEADLINE = 3.0
MAX_CONNECTIONS = 60


class GuardedServer:
    def __init__(self, backend_url: str, protocol: type | None = None) -> None:
        settings = make_settings(
            backend_url, backend_profile="generic", body_timeout=BODY_TIMEOUT, body_deadline=BODY_DEADLINE
        )
        limits = ConnectionLimits(HEADER_TIMEOUT, MAX_CONNECTIONS)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            http=protocol or guarded_protocol(limits),
            timeout_keep_alive=30,  # longer than the header timeout: the guard is what closes
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBackend]:
    backend = FakeBackend().start()
    yield backend
    backend.stop()


@pytest.fixture(scope="module", params=["httptools", "h11"])
def served(request: pytest.FixtureRequest, fake: FakeBackend) -> Iterator[GuardedServer]:
    limits = ConnectionLimits(HEADER_TIMEOUT, MAX_CONNECTIONS)
    protocol = (
        guarded_protocol(limits)
        if request.param == "httptools"
        else type("H11WithLimits", (guarded_h11(),), {"limits": limits})
    )
    server = GuardedServer(fake.url, protocol)
    yield server
    server.stop()


def connect(served: GuardedServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", served.port), timeout=10)


def read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed."""
    start = time.monotonic()
    sock.settimeout(limit)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        raise AssertionError(f"still open after {limit}s: {data[:200]!r}") from None
    except ConnectionResetError:
        pass
    return data, time.monotonic() - start


def served_now(served: GuardedServer) -> None:
    response = httpx.get(f"{served.url}/api/version", timeout=5)
    assert response.status_code == 200


def test_a_silent_connection_is_closed_after_the_header_timeout(served: GuardedServer) -> None:
    socks = [connect(served) for _ in range(5)]
    for sock in socks:
        data, _ = read_until_closed(sock, HEADER_TIMEOUT + 5)
        assert data == b""  # nothing was asked: nothing to answer
        sock.close()


@pytest.mark.parametrize(
    "start",
    [b"GET /", b"POST /api/chat HTTP/1.1\r\n", b"GET /api/tags HTTP/1.1\r\nHost: x\r\nX-Slow: "],
)
def test_trickled_headers_are_cut_at_the_header_timeout(served: GuardedServer, start: bytes) -> None:
    sock = connect(served)
    sock.sendall(start)
    began = time.monotonic()
    got = b""
    sock.settimeout(0.2)
    while time.monotonic() - began < HEADER_TIMEOUT + 5:  # one byte every 0.2 s, forever
        try:
            sock.sendall(b"a")
            got += sock.recv(65536)
            if got and got.endswith(b"}"):
                break
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            break
    elapsed = time.monotonic() - began
    assert elapsed < HEADER_TIMEOUT + 3, elapsed
    assert got.startswith(b"HTTP/1.1 408"), got[:200]
    assert b'"error"' in got
    sock.close()
    served_now(served)


@pytest.mark.parametrize("sent", [0, 10])
def test_a_missing_body_is_cut_at_the_body_timeout(served: GuardedServer, sent: int) -> None:
    sock = connect(served)
    head = b"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    sock.sendall(head + b"{" * sent)
    data, elapsed = read_until_closed(sock, BODY_TIMEOUT + 5)
    assert data.startswith(b"HTTP/1.1 408"), data[:200]
    assert b"body" in data
    assert elapsed < BODY_TIMEOUT + 3
    sock.close()


def test_a_trickled_body_is_cut_at_the_body_deadline(served: GuardedServer) -> None:
    sock = connect(served)
    sock.sendall(b"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n")
    began = time.monotonic()
    sock.settimeout(0.3)
    got = b""
    while time.monotonic() - began < BODY_DEADLINE + 5:
        try:
            sock.sendall(b" ")  # well within the gap allowed, so only the deadline can end it
            got += sock.recv(65536)
            if got.endswith(b"}"):
                break
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            break
    assert got.startswith(b"HTTP/1.1 408"), got[:200]
    assert BODY_DEADLINE - 0.5 < time.monotonic() - began < BODY_DEADLINE + 3
    sock.close()


def test_oversized_headers_get_431(served: GuardedServer) -> None:
    sock = connect(served)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(b"GET /api/tags HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (200 * 1024) + b"\r\n\r\n")
    data, _ = read_until_closed(sock, 5)
    # h11 refuses a head beyond its own 16 KiB buffer first, with a 400; either way it is closed.
    assert data.startswith((b"HTTP/1.1 431", b"HTTP/1.1 400")), data[:100]
    sock.close()


def test_many_half_sent_requests_do_not_lock_out_a_new_client(served: GuardedServer) -> None:
    held: list[socket.socket] = []
    try:
        for i in range(MAX_CONNECTIONS * 2):  # twice the cap, each one a request left half-sent
            sock = connect(served)
            sock.sendall(b"POST /api/chat HTTP/1.1\r\nHost: x\r\nX-N: %d" % i)
            held.append(sock)
        connections = served.server.server_state.connections  # the evicted close on the next loop turn
        assert wait_until(lambda: len(connections) <= MAX_CONNECTIONS, 2), f"{len(connections)} held open"
        for _ in range(3):
            began = time.monotonic()
            served_now(served)
            assert time.monotonic() - began < HEADER_TIMEOUT, "a new client waited for the held ones"
        chat = {"model": "test-model", "messages": [{"role": "user", "content": "hi"}], "stream": False}
        assert httpx.post(f"{served.url}/api/chat", json=chat, timeout=10).status_code == 200
    finally:
        for sock in held:
            sock.close()


def test_keep_alive_clients_are_not_disturbed(served: GuardedServer) -> None:
    with httpx.Client(timeout=10) as client:  # one connection, reused across the header timeout
        for _ in range(3):
            assert client.get(f"{served.url}/api/version").status_code == 200
            time.sleep(HEADER_TIMEOUT / 3)
