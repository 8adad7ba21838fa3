"""SIGTERM with streams open: they get OLLAMA_PROXY_SHUTDOWN_GRACE seconds, then a final error line,
and the process exits in bounded time (the proxy runs as a real subprocess, as in production)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from tests.hardening.conftest import ProxyProcess
from tests.support.fake_backend import FakeBackend, Reply, text_stream

CHAT = "chat/completions"
BODY = {"model": "test-model", "messages": [{"role": "user", "content": "hi"}], "stream": True}


@pytest.fixture
def fake(new_backend: Callable[..., FakeBackend]) -> FakeBackend:
    return new_backend()


@pytest.fixture
def proc(fake: FakeBackend, proxy_process: Callable[..., ProxyProcess]) -> ProxyProcess:
    env = {
        "OPENAI_BASE_URL": fake.url,
        "OLLAMA_PROXY_BACKEND_PROFILE": "generic",
        "OLLAMA_PROXY_SHUTDOWN_GRACE": "1",
    }
    return proxy_process(env)


def stream_after_sigterm(proc: ProxyProcess, lines_before: int) -> tuple[list[dict[str, Any]], float]:
    """Read ``lines_before`` lines, send SIGTERM, read the rest; the lines and when SIGTERM was sent."""
    objects: list[dict[str, Any]] = []
    sent_at = 0.0
    with (
        httpx.Client(timeout=httpx.Timeout(20.0, connect=5.0)) as client,
        client.stream("POST", f"{proc.url}/api/chat", json=BODY) as response,
    ):
        assert response.status_code == 200
        for raw in response.iter_lines():
            objects.append(orjson.loads(raw))
            if len(objects) == lines_before:
                sent_at = time.monotonic()
                proc.terminate()
    return objects, sent_at


def test_sigterm_ends_a_long_stream_with_an_error_line(fake: FakeBackend, proc: ProxyProcess) -> None:
    fake.enqueue(CHAT, Reply(events=text_stream(*[f"t{i} " for i in range(100)]), chunk_delay=0.1))
    objects, sent_at = stream_after_sigterm(proc, 2)
    ended = time.monotonic()
    # The lines sent so far, then more during the grace period, then the final error line.
    contents = [o["message"]["content"] for o in objects[:-1]]
    assert contents[:2] == ["t0 ", "t1 "]
    assert contents == [f"t{i} " for i in range(len(contents))], "lines lost or reordered"
    assert len(contents) > 3, "the stream was cut before the grace period"
    assert set(objects[-1]) == {"error"}
    assert "shutting down" in objects[-1]["error"]
    assert 0.8 <= ended - sent_at < 5.0, ended - sent_at  # the grace period is 1 s
    proc.proc.wait(10)
    assert proc.proc.returncode is not None
    assert time.monotonic() - sent_at < 10
    assert fake.abort_seen.wait(3), "the backend stream outlived the proxy"


def test_short_stream_finishes_within_the_grace_period(fake: FakeBackend, proc: ProxyProcess) -> None:
    fake.enqueue(CHAT, Reply(events=text_stream(*[f"t{i} " for i in range(6)]), chunk_delay=0.08))
    objects, sent_at = stream_after_sigterm(proc, 1)
    assert objects[-1]["done"] is True
    assert not any("error" in o for o in objects)
    assert "".join(o["message"]["content"] for o in objects) == "".join(f"t{i} " for i in range(6))
    proc.proc.wait(10)
    assert time.monotonic() - sent_at < 10
    assert not fake.aborted


def test_idle_proxy_exits_promptly_on_sigterm(proc: ProxyProcess) -> None:
    assert httpx.get(f"{proc.url}/api/version", timeout=5).status_code == 200
    start = time.monotonic()
    proc.terminate()
    proc.proc.wait(10)
    assert time.monotonic() - start < 5
    # Uvicorn re-raises the signal it caught once shut down cleanly: "killed by SIGTERM" is the normal end.
    assert proc.proc.returncode in (0, -signal.SIGTERM), proc.log()
    assert "Application shutdown complete" in proc.log()


def test_new_connections_are_refused_once_the_delay_is_over(fake: FakeBackend, proc: ProxyProcess) -> None:
    # No OLLAMA_PROXY_DRAIN_DELAY: the listener closes at the signal, the open stream runs on.
    fake.enqueue(CHAT, Reply(events=text_stream(*[f"t{i} " for i in range(100)]), chunk_delay=0.1))
    result: list[tuple[list[dict[str, Any]], float]] = []
    reader = threading.Thread(target=lambda: result.append(stream_after_sigterm(proc, 1)))
    reader.start()
    deadline = time.monotonic() + 5
    refused = False
    while not result and proc.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
        try:
            httpx.get(f"{proc.url}/api/version", timeout=2)
        except httpx.ConnectError:
            refused = True
            break
    reader.join(15)
    assert refused
    assert result and set(result[0][0][-1]) == {"error"}


@pytest.fixture
def delayed(fake: FakeBackend, proxy_process: Callable[..., ProxyProcess]) -> ProxyProcess:
    env = {
        "OPENAI_BASE_URL": fake.url,
        "OLLAMA_PROXY_BACKEND_PROFILE": "generic",
        "OLLAMA_PROXY_SHUTDOWN_GRACE": "3",
        "OLLAMA_PROXY_DRAIN_DELAY": "1",
    }
    return proxy_process(env)


def test_drain_delay_keeps_serving_while_ready_says_503(fake: FakeBackend, delayed: ProxyProcess) -> None:
    with httpx.Client(base_url=delayed.url, timeout=5) as client:
        assert client.get("/ready").status_code in (200, 503)  # a connection opened before the signal
        sent = time.monotonic()
        delayed.terminate()
        statuses: list[int] = []
        while time.monotonic() - sent < 0.5:  # well inside the 1 s delay
            ready = client.get("/ready")
            statuses.append(ready.status_code)
            assert ready.headers["connection"] == "close"
            time.sleep(0.05)
        assert set(statuses) == {503}
        assert client.get("/api/version").status_code == 200  # traffic still served
        fake.enqueue(CHAT, Reply(events=text_stream("a", "b"), chunk_delay=0.05))
        answer = client.post("/api/chat", json=BODY)
        assert answer.status_code == 200
        assert answer.headers["connection"] == "close"
        assert orjson.loads(answer.content.splitlines()[-1])["done"] is True
    delayed.proc.wait(15)
    assert delayed.proc.returncode in (0, -signal.SIGTERM), delayed.log()


def test_keep_alive_reuse_after_a_stream_ended_in_the_drain(fake: FakeBackend, delayed: ProxyProcess) -> None:
    """A stream that started before SIGTERM and ends after the delay: its connection was keep-alive
    when the headers went out, so the client reuses it at once; that request must still be answered."""
    fake.enqueue(CHAT, Reply(events=text_stream(*[f"t{i} " for i in range(15)]), chunk_delay=0.1))
    with httpx.Client(base_url=delayed.url, timeout=10, limits=httpx.Limits(max_connections=1)) as client:
        with client.stream("POST", "/api/chat", json=BODY) as response:
            objects = []
            for raw in response.iter_lines():
                objects.append(orjson.loads(raw))
                if len(objects) == 2:
                    delayed.terminate()
        assert objects[-1]["done"] is True, objects[-1]  # 1.5 s of stream: inside delay + grace
        reused = client.get("/api/version")  # the same connection, right after the stream
        assert reused.status_code == 200
        assert reused.headers["connection"] == "close"
    delayed.proc.wait(15)
    assert delayed.proc.returncode in (0, -signal.SIGTERM), delayed.log()
