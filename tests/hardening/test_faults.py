"""Fault injection: every backend failure reaches the client as a clear Ollama error (or a successful
retry), nothing hangs (every wait is bounded) and nothing leaks (backend requests end, slots are freed)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServedProxy
from tests.hardening.conftest import (
    assert_no_leak,
    assert_ollama_error,
    backend_entry,
    lines,
    wait_until,
)
from tests.support.fake_backend import FakeBackend, Reply, chat_completion, chunk, free_port, text_stream

CHAT = "chat/completions"
TIMEOUT = httpx.Timeout(20.0, connect=5.0)


def chat(
    url: str, *, stream: bool = False, model: str = "test-model", timeout: Any = TIMEOUT
) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    return httpx.post(f"{url}/api/chat", json=body, timeout=timeout)


def hits(fake: FakeBackend) -> int:
    return len(fake.received(CHAT))


def gaps(fake: FakeBackend) -> list[float]:
    times = [r.at for r in fake.received(CHAT)]
    return [b - a for a, b in itertools.pairwise(times)]


@pytest.fixture
def fake(new_backend: Callable[..., FakeBackend]) -> FakeBackend:
    return new_backend()


@pytest.fixture
def served(fake: FakeBackend, new_proxy: Callable[..., ServedProxy]) -> ServedProxy:
    return new_proxy(fake.url, models_ttl=60.0)


def file_proxy(
    new_proxy: Callable[..., ServedProxy],
    config_file: Callable[[dict[str, Any]], Path],
    fake: FakeBackend,
    **backend: Any,
) -> ServedProxy:
    path = config_file({"backends": [backend_entry(fake, **backend)]})
    return new_proxy(fake.url, config=path, models_ttl=60.0)


# --- unreachable backends and broken connections -------------------------------------------------


def test_backend_down_from_the_start_is_502(new_proxy: Callable[..., ServedProxy]) -> None:
    served = new_proxy(f"http://127.0.0.1:{free_port()}/v1")
    start = time.monotonic()
    for stream in (False, True):
        message = assert_ollama_error(chat(served.url, stream=stream), 502)
        assert "could not be reached" in message or "unreachable" in message
    assert time.monotonic() - start < 10


def test_backend_refusing_connections_is_502_after_retries(
    new_backend: Callable[..., FakeBackend], new_proxy: Callable[..., ServedProxy]
) -> None:
    fake = new_backend()
    served = new_proxy(fake.url, models_ttl=60.0)
    assert chat(served.url).status_code == 200  # the listing is cached now
    fake.stop()  # the port now refuses connections
    for stream in (False, True):
        start = time.monotonic()
        message = assert_ollama_error(chat(served.url, stream=stream), 502)
        assert "unreachable" in message, message
        assert time.monotonic() - start < 8
    assert_no_leak(served)


def test_reset_before_headers_is_retried(fake: FakeBackend, served: ServedProxy) -> None:
    fake.enqueue(CHAT, Reply(reset=True))
    response = chat(served.url)
    assert response.status_code == 200, response.text
    assert response.json()["message"]["content"] == "Hello from the fake backend."
    assert hits(fake) == 2
    assert_no_leak(served, fake)


@pytest.mark.parametrize("stream", [False, True])
def test_reset_before_headers_every_time_is_502(fake: FakeBackend, served: ServedProxy, stream: bool) -> None:
    fake.handler = lambda rec: Reply(reset=True) if rec.path.endswith(CHAT) else None
    message = assert_ollama_error(chat(served.url, stream=stream), 502)
    assert "backend" in message
    assert hits(fake) == 3  # the first attempt and two retries
    assert_no_leak(served, fake)


def test_reset_mid_stream_ends_with_an_error_line(fake: FakeBackend, served: ServedProxy) -> None:
    fake.enqueue(CHAT, Reply(events=text_stream("one ", "two ", "three"), reset_after=2))
    response = chat(served.url, stream=True)
    assert response.status_code == 200
    objects = lines(response)
    assert objects[0]["message"]["content"] == "one "  # what was sent before the reset arrives
    assert set(objects[-1]) == {"error"}
    assert "backend" in objects[-1]["error"]
    assert not any(o.get("done") for o in objects)
    assert hits(fake) == 1  # after the first byte, never retried
    assert_no_leak(served, fake)


def test_close_mid_stream_ends_with_an_error_line(fake: FakeBackend, served: ServedProxy) -> None:
    fake.enqueue(CHAT, Reply(events=text_stream("one ", "two ", "three"), cut_after=2))
    objects = lines(chat(served.url, stream=True))
    assert set(objects[-1]) == {"error"}
    assert_no_leak(served, fake)


# --- 5xx and 429, retries, Retry-After and the retry budget --------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("stream", [False, True])
def test_5xx_then_success_is_retried(
    fake: FakeBackend, served: ServedProxy, status: int, stream: bool
) -> None:
    fake.enqueue(CHAT, Reply(status, json={"error": {"message": "overloaded"}}))
    response = chat(served.url, stream=stream)
    assert response.status_code == 200, response.text
    if stream:
        assert lines(response)[-1]["done"] is True
    assert hits(fake) == 2
    assert gaps(fake)[0] < 3.0  # a short backoff, no Retry-After
    assert_no_leak(served, fake)


@pytest.mark.parametrize(("status", "expected"), [(500, 502), (503, 503), (429, 429)])
def test_all_attempts_failing_is_a_clear_error(
    fake: FakeBackend, served: ServedProxy, status: int, expected: int
) -> None:
    fake.handler = lambda rec: (
        Reply(status, json={"error": {"message": "the backend is on fire"}})
        if rec.path.endswith(CHAT)
        else None
    )
    start = time.monotonic()
    message = assert_ollama_error(chat(served.url), expected)
    assert "the backend is on fire" in message
    assert hits(fake) == 3
    assert time.monotonic() - start < 10
    assert_no_leak(served, fake)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(fake: FakeBackend, served: ServedProxy, status: int) -> None:
    fake.enqueue(CHAT, Reply(status, json={"error": {"message": "slow down"}}, headers={"Retry-After": "1"}))
    response = chat(served.url)
    assert response.status_code == 200, response.text
    assert hits(fake) == 2
    assert 0.9 <= gaps(fake)[0] < 5.0, gaps(fake)


def test_retry_after_too_long_is_not_waited_for(fake: FakeBackend, served: ServedProxy) -> None:
    fake.enqueue(
        CHAT, Reply(429, json={"error": {"message": "come back tomorrow"}}, headers={"Retry-After": "3600"})
    )
    start = time.monotonic()
    message = assert_ollama_error(chat(served.url), 429)
    assert "come back tomorrow" in message
    assert hits(fake) == 1
    assert time.monotonic() - start < 3


def test_4xx_is_not_retried(fake: FakeBackend, served: ServedProxy) -> None:
    fake.enqueue(CHAT, Reply(400, json={"error": {"message": "bad temperature"}}))
    assert "bad temperature" in assert_ollama_error(chat(served.url), 400)
    assert hits(fake) == 1


def test_retry_budget_bounds_the_load_on_a_failing_backend(fake: FakeBackend, served: ServedProxy) -> None:
    fake.handler = lambda rec: (
        Reply(500, json={"error": {"message": "down"}}) if rec.path.endswith(CHAT) else None
    )
    n = 60
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda _: chat(served.url).status_code, range(n)))
    assert statuses == [502] * n
    # Unbounded retries would make 3n calls; the budget allows its reserve (10) plus 20% of the requests.
    assert n < hits(fake) <= n + 10 + n // 5 + 2, hits(fake)
    assert_no_leak(served, fake)


# --- stalls and timeouts ---------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_stall_before_headers_is_504(
    fake: FakeBackend,
    new_proxy: Callable[..., ServedProxy],
    config_file: Callable[[dict[str, Any]], Path],
    stream: bool,
) -> None:
    served = file_proxy(new_proxy, config_file, fake, timeouts={"first_byte": 0.5}, retries=0)
    fake.enqueue(CHAT, Reply(json=chat_completion("late"), delay=30))
    start = time.monotonic()
    message = assert_ollama_error(chat(served.url, stream=stream), 504)
    assert "did not answer within 0.5s" in message
    assert time.monotonic() - start < 5
    assert fake.abort_seen.wait(3), "the proxy kept the timed-out backend connection open"
    assert_no_leak(served, fake)


def test_stall_before_headers_is_retried(
    fake: FakeBackend, new_proxy: Callable[..., ServedProxy], config_file: Callable[[dict[str, Any]], Path]
) -> None:
    served = file_proxy(new_proxy, config_file, fake, timeouts={"first_byte": 0.5}, retries=1)
    fake.enqueue(CHAT, Reply(json=chat_completion("late"), delay=30))
    response = chat(served.url)
    assert response.status_code == 200, response.text
    assert hits(fake) == 2
    assert_no_leak(served, fake)


def test_stall_mid_stream_ends_with_a_timeout_line(
    fake: FakeBackend, new_proxy: Callable[..., ServedProxy], config_file: Callable[[dict[str, Any]], Path]
) -> None:
    served = file_proxy(new_proxy, config_file, fake, timeouts={"idle": 0.5})
    fake.enqueue(CHAT, Reply(events=text_stream("first ", "never"), chunk_delay=30))
    start = time.monotonic()
    response = chat(served.url, stream=True)
    assert response.status_code == 200
    objects = lines(response)
    assert set(objects[-1]) == {"error"}
    assert "sent nothing for 0.5s" in objects[-1]["error"]
    assert time.monotonic() - start < 5
    assert fake.abort_seen.wait(3)
    assert hits(fake) == 1
    assert_no_leak(served, fake)


def test_stall_in_a_non_streamed_body_is_504(
    fake: FakeBackend, new_proxy: Callable[..., ServedProxy], config_file: Callable[[dict[str, Any]], Path]
) -> None:
    """Headers arrive, then the body stalls: the idle timeout applies to non-streamed answers too."""
    served = file_proxy(new_proxy, config_file, fake, timeouts={"idle": 0.5}, retries=0)
    # A JSON content type with an SSE body that stalls: the proxy is reading a "JSON" body that never ends.
    fake.enqueue(
        CHAT,
        Reply(events=[chunk({"content": "x"})], chunk_delay=30, headers={"Content-Type": "application/json"}),
    )
    start = time.monotonic()
    assert_ollama_error(chat(served.url), 504)
    assert time.monotonic() - start < 5
    assert_no_leak(served, fake)


@pytest.mark.parametrize("stream", [False, True])
def test_total_timeout_bounds_a_call_stalled_before_headers(
    fake: FakeBackend,
    new_proxy: Callable[..., ServedProxy],
    config_file: Callable[[dict[str, Any]], Path],
    stream: bool,
) -> None:
    served = file_proxy(new_proxy, config_file, fake, timeouts={"first_byte": 20, "total": 1}, retries=0)
    fake.enqueue(CHAT, Reply(json=chat_completion("late"), delay=30))
    start = time.monotonic()
    message = assert_ollama_error(chat(served.url, stream=stream), 504)
    assert "total timeout" in message or "did not answer" in message
    assert time.monotonic() - start < 5
    assert_no_leak(served, fake)


def test_total_timeout_ends_a_slow_stream(
    fake: FakeBackend, new_proxy: Callable[..., ServedProxy], config_file: Callable[[dict[str, Any]], Path]
) -> None:
    served = file_proxy(new_proxy, config_file, fake, timeouts={"idle": 5, "total": 1})
    fake.enqueue(CHAT, Reply(events=text_stream(*[f"t{i} " for i in range(100)]), chunk_delay=0.1))
    start = time.monotonic()
    objects = lines(chat(served.url, stream=True))
    assert 2 < len(objects) < 60
    assert set(objects[-1]) == {"error"}
    assert "total timeout" in objects[-1]["error"]
    assert time.monotonic() - start < 5
    assert fake.abort_seen.wait(3)
    assert_no_leak(served, fake)


# --- malformed SSE ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply(events=[chunk({"role": "assistant", "content": "a"}), "this is not json"]), "malformed"),
        (Reply(events=[chunk({"role": "assistant", "content": "a"}), "[1, 2]"]), "malformed"),
        (
            Reply(
                events=[chunk({"role": "assistant", "content": "a"})],
                tail=b'data: {"choices": [{"index": 0, "delta": {"content": "tr',
                done=False,
            ),
            "malformed",
        ),
        (Reply(events=[chunk({"role": "assistant", "content": "a"})], done=False), "before it finished"),
        (Reply(events=[], done=False), "before it finished"),
        (Reply(events=[{"error": {"message": "model crashed"}}]), "model crashed"),
    ],
    ids=["non-json", "non-object", "truncated-final-event", "no-done-no-finish", "empty", "error-event"],
)
def test_malformed_stream_ends_with_an_error_line(
    fake: FakeBackend, served: ServedProxy, reply: Reply, expected: str
) -> None:
    fake.enqueue(CHAT, reply)
    response = chat(served.url, stream=True)
    assert response.status_code == 200
    objects = lines(response)
    assert set(objects[-1]) == {"error"}, objects
    assert expected in objects[-1]["error"]
    assert not any(o.get("done") for o in objects)
    assert_no_leak(served, fake)


def test_malformed_json_answer_is_502(fake: FakeBackend, served: ServedProxy) -> None:
    fake.enqueue(CHAT, Reply(raw=b'{"choices": [', content_type="application/json"))
    assert "invalid JSON" in assert_ollama_error(chat(served.url), 502)


# --- concurrency limit ------------------------------------------------------------------------------


def test_full_queue_is_503_while_the_slot_is_taken(
    fake: FakeBackend, new_proxy: Callable[..., ServedProxy], config_file: Callable[[dict[str, Any]], Path]
) -> None:
    served = file_proxy(new_proxy, config_file, fake, max_concurrency=1, max_queue=0)
    fake.enqueue(CHAT, Reply(json=chat_completion("slow"), delay=1.5))
    first: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: first.append(chat(served.url)))
    thread.start()
    assert wait_until(lambda: fake.active == 1, 5)
    start = time.monotonic()
    for stream in (False, True):
        message = assert_ollama_error(chat(served.url, stream=stream), 503)
        assert "busy" in message
    assert time.monotonic() - start < 1.0  # refused at once, not queued
    thread.join(10)
    assert first[0].status_code == 200
    assert chat(served.url).status_code == 200  # the slot was given back
    assert hits(fake) == 2
    assert_no_leak(served, fake)


def test_queued_request_waits_for_the_slot(
    fake: FakeBackend, new_proxy: Callable[..., ServedProxy], config_file: Callable[[dict[str, Any]], Path]
) -> None:
    served = file_proxy(new_proxy, config_file, fake, max_concurrency=1, max_queue=1)
    fake.enqueue(CHAT, Reply(json=chat_completion("slow"), delay=0.5))
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(chat, served.url)
        assert wait_until(lambda: fake.active == 1, 5)
        second = pool.submit(chat, served.url)
        time.sleep(0.1)
        third = chat(served.url)  # the queue (1) is full
        assert third.status_code == 503
        assert first.result(10).status_code == 200
        assert second.result(10).status_code == 200
    assert_no_leak(served, fake)


# --- fallback --------------------------------------------------------------------------------------


def fallback_proxy(
    new_proxy: Callable[..., ServedProxy],
    config_file: Callable[[dict[str, Any]], Path],
    first: FakeBackend,
    second: FakeBackend,
) -> ServedProxy:
    path = config_file(
        {
            "backends": [backend_entry(first, "first", retries=1), backend_entry(second, "second")],
            "aliases": {
                "smart": {
                    "model": "test-model",
                    "backend": "first",
                    "fallback": [{"backend": "second", "model": "test-model"}],
                }
            },
        }
    )
    return new_proxy(first.url, config=path, models_ttl=60.0)


@pytest.mark.parametrize("stream", [False, True])
def test_fallback_when_the_first_backend_500s(
    new_backend: Callable[..., FakeBackend],
    new_proxy: Callable[..., ServedProxy],
    config_file: Callable[[dict[str, Any]], Path],
    stream: bool,
) -> None:
    first, second = new_backend(), new_backend()
    served = fallback_proxy(new_proxy, config_file, first, second)
    first.handler = lambda rec: Reply(500, json={"error": "down"}) if rec.path.endswith(CHAT) else None
    response = chat(served.url, model="smart", stream=stream)
    assert response.status_code == 200, response.text
    if stream:
        assert lines(response)[-1]["done"] is True
    assert hits(first) == 2  # tried, retried once
    assert hits(second) == 1
    assert_no_leak(served, first, second)


def test_fallback_when_the_first_backend_refuses(
    new_backend: Callable[..., FakeBackend],
    new_proxy: Callable[..., ServedProxy],
    config_file: Callable[[dict[str, Any]], Path],
) -> None:
    first, second = new_backend(), new_backend()
    served = fallback_proxy(new_proxy, config_file, first, second)
    assert chat(served.url, model="smart").status_code == 200  # listings fetched
    assert hits(first) == 1
    first.stop()
    response = chat(served.url, model="smart")
    assert response.status_code == 200, response.text
    assert response.json()["message"]["content"] == "Hello from the fake backend."
    assert hits(second) == 1
    assert_no_leak(served, second)


def test_fallback_all_failing_is_a_clear_error(
    new_backend: Callable[..., FakeBackend],
    new_proxy: Callable[..., ServedProxy],
    config_file: Callable[[dict[str, Any]], Path],
) -> None:
    first, second = new_backend(), new_backend()
    served = fallback_proxy(new_proxy, config_file, first, second)
    for fake in (first, second):
        fake.handler = lambda rec: Reply(503, json={"error": "down"}) if rec.path.endswith(CHAT) else None
    message = assert_ollama_error(chat(served.url, model="smart"), 503)
    assert "down" in message
    assert_no_leak(served, first, second)


# --- clients that go away ---------------------------------------------------------------------------


def test_client_disconnect_mid_stream_closes_the_backend_stream(
    fake: FakeBackend, served: ServedProxy
) -> None:
    fake.enqueue(CHAT, Reply(events=text_stream(*[f"t{i} " for i in range(200)]), chunk_delay=0.05))
    body = {"model": "test-model", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with (
        httpx.Client(timeout=TIMEOUT) as client,
        client.stream("POST", f"{served.url}/api/chat", json=body) as response,
    ):
        first = next(response.iter_lines())
        assert "t0" in first
    left = time.monotonic()
    assert fake.abort_seen.wait(3), "the backend stream outlived its client"
    assert fake.aborted[0].at - left < 2.0
    assert fake.aborted[0].events_sent < 150
    assert_no_leak(served, fake)
    assert httpx.get(f"{served.url}/api/ps", timeout=5).status_code == 200
    assert chat(served.url).status_code == 200


@pytest.mark.parametrize("path", ["/api/chat", "/api/generate", "/api/embed"])
def test_client_disconnect_before_headers_cancels_the_backend_call(
    fake: FakeBackend, served: ServedProxy, path: str
) -> None:
    key = {"/api/chat": CHAT, "/api/generate": CHAT, "/api/embed": "embeddings"}[path]
    fake.enqueue(key, Reply(json={}, delay=30))
    body: dict[str, Any] = {"model": "test-model", "stream": False}
    body |= {"messages": [{"role": "user", "content": "hi"}], "prompt": "hi", "input": "hi"}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{served.url}{path}", json=body, timeout=httpx.Timeout(0.5, connect=5))
    assert fake.abort_seen.wait(3), "the backend call outlived its client"
    assert_no_leak(served, fake)
    assert httpx.get(f"{served.url}/api/ps", timeout=5).status_code == 200
    assert httpx.get(f"{served.url}/api/tags", timeout=5).status_code == 200
    assert chat(served.url).status_code == 200
