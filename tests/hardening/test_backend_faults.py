"""What a backend cannot do to the proxy: learn a key meant for another backend, be written off for
keeping no model listing, be asked for N listings by N lookups, or drive memory and CPU without
bound (endless or huge bodies, one huge SSE line, a gzip bomb), or answer 200 with the wrong shape
and leave the client with an opaque 500 or a stream that stops without an error line."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServedProxy, make_settings
from tests.hardening.conftest import assert_ollama_error, backend_entry, lines, wait_until
from tests.support.fake_backend import FakeBackend, Recorded, Reply, chunk, free_port

CLIENT_KEY = "client-key-for-backend-a"
CHAT = [{"role": "user", "content": "hi"}]
MiB = 1024 * 1024


def served_with(config: Path) -> ServedProxy:
    return ServedProxy(make_settings("http://127.0.0.1:9/v1", config=config))


@pytest.fixture
def proxies() -> Any:
    started: list[ServedProxy] = []

    def start(config: Path) -> ServedProxy:
        proxy = served_with(config).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def failing_chat(rec: Recorded) -> Reply | None:
    return None if rec.path.endswith("/models") else Reply(status=503, json={"error": "overloaded"})


@pytest.mark.parametrize("forward", [True, False])
@pytest.mark.parametrize("path", ["/api/chat", "/api/embed", "/api/generate"])
def test_a_forwarded_key_never_follows_a_fallback(
    new_backend: Callable[..., FakeBackend],
    config_file: Callable[[dict[str, Any]], Path],
    proxies: Callable[[Path], ServedProxy],
    forward: bool,
    path: str,
) -> None:
    a, b = new_backend(), new_backend()
    a.handler = failing_chat
    config = config_file(
        {
            "backends": [backend_entry(a, "a", retries=0), backend_entry(b, "b", retries=0)],
            "aliases": {
                "smart": {
                    "model": "test-model",
                    "backend": "a",
                    "fallback": [{"model": "test-model", "backend": "b"}],
                }
            },
            "auth": {"forward_client_key": forward},
        }
    )
    proxy = proxies(config)
    body: dict[str, Any] = {
        "model": "smart",
        "stream": False,
        "messages": CHAT,
        "prompt": "hi",
        "input": "hi",
    }
    response = httpx.post(
        proxy.url + path, json=body, headers={"Authorization": f"Bearer {CLIENT_KEY}"}, timeout=20
    )
    seen_by_b = [r for r in b.requests if not r.path.endswith("/models")]
    if forward:
        assert_ollama_error(response)
        assert seen_by_b == []
        assert all(CLIENT_KEY not in str(r.headers) for r in b.requests)
        assert any(CLIENT_KEY in r.headers.get("Authorization", "") for r in a.requests)
    else:  # without forwarding, the fallback is still used
        assert response.status_code == 200, response.text
        assert seen_by_b


@pytest.mark.parametrize("status", [404, 405, 501])
def test_a_backend_without_a_listing_serves_its_configured_models(
    new_backend: Callable[..., FakeBackend],
    config_file: Callable[[dict[str, Any]], Path],
    proxies: Callable[[Path], ServedProxy],
    status: int,
) -> None:
    fake = new_backend()
    fake.models_status = status
    config = config_file({"backends": [backend_entry(fake, models=["first-model", "org/second:free"])]})
    proxy = proxies(config)
    assert wait_until(lambda: httpx.get(f"{proxy.url}/ready", timeout=5).status_code == 200, 10)
    names = {m["name"] for m in httpx.get(f"{proxy.url}/api/tags", timeout=10).json()["models"]}
    assert {"first-model:latest", "org/second:free"} <= names
    for model in ("first-model", "org/second:free"):
        body = {"model": model, "messages": CHAT, "stream": False}
        response = httpx.post(f"{proxy.url}/api/chat", json=body, timeout=10)
        assert response.status_code == 200, response.text
        assert fake.last("chat/completions").body["model"] == model
    assert_ollama_error(
        httpx.post(f"{proxy.url}/api/chat", json={"model": "not-configured", "messages": CHAT}, timeout=10),
        404,
    )


def test_readiness_follows_whether_a_backend_answers(
    config_file: Callable[[dict[str, Any]], Path], proxies: Callable[[Path], ServedProxy]
) -> None:
    down = {"name": "down", "base_url": f"http://127.0.0.1:{free_port()}/v1", "models": ["m"], "retries": 0}
    proxy = proxies(config_file({"backends": [down]}))
    assert wait_until(
        lambda: httpx.get(f"{proxy.url}/ready", timeout=5).json()["backends"]["down"] != "not checked yet"
    )
    assert httpx.get(f"{proxy.url}/ready", timeout=5).status_code == 503


def test_unknown_model_lookups_are_coalesced(
    new_backend: Callable[..., FakeBackend], new_proxy: Callable[..., ServedProxy]
) -> None:
    fake = new_backend()
    proxy = new_proxy(fake.url, models_ttl=60.0)
    assert wait_until(lambda: httpx.get(f"{proxy.url}/ready", timeout=5).status_code == 200, 10)
    fake.enqueue("models", Reply(json={"object": "list", "data": []}, delay=0.5))
    before = len(fake.received("/models"))

    async def lookups() -> list[int]:
        async with httpx.AsyncClient(timeout=20) as client:
            answers = await asyncio.gather(
                *(client.post(f"{proxy.url}/api/show", json={"model": f"unknown-{i}"}) for i in range(25))
            )
        return [a.status_code for a in answers]

    statuses = asyncio.run(lookups())
    assert set(statuses) == {404}
    assert len(fake.received("/models")) - before <= 2, len(fake.received("/models")) - before


def small_limit(fake: FakeBackend, config_file: Callable[[dict[str, Any]], Path]) -> Path:
    return config_file({"backends": [backend_entry(fake, retries=0, max_response_bytes=MiB)]})


FAULTS: dict[str, Callable[[], Reply]] = {
    "huge JSON": lambda: Reply(raw=b'{"choices": [], "pad": "' + b"x" * (3 * MiB) + b'"}'),
    "gzip bomb": lambda: Reply(
        raw=gzip.compress(b'{"pad": "' + b"0" * (200 * MiB) + b'"}', 9), headers={"Content-Encoding": "gzip"}
    ),
    "huge error body": lambda: Reply(status=400, raw=b"e" * (3 * MiB), content_type="text/plain"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_oversized_answers_are_a_clear_502(
    new_backend: Callable[..., FakeBackend],
    config_file: Callable[[dict[str, Any]], Path],
    proxies: Callable[[Path], ServedProxy],
    fault: str,
) -> None:
    fake = new_backend()
    proxy = proxies(small_limit(fake, config_file))
    for path, body in (
        ("/api/chat", {"model": "test-model", "messages": CHAT, "stream": False}),
        ("/api/embed", {"model": "test-model", "input": "x"}),
        ("/v1/chat/completions", {"model": "test-model", "messages": CHAT}),
    ):
        fake.handler = lambda rec: None if rec.path.endswith("/models") else FAULTS[fault]()
        response = httpx.post(proxy.url + path, json=body, timeout=30)
        assert response.status_code == 502, (path, response.status_code, response.text[:300])
        assert "larger than" in response.text


def test_one_huge_sse_line_ends_the_stream_with_an_error_line(
    new_backend: Callable[..., FakeBackend], new_proxy: Callable[..., ServedProxy]
) -> None:
    fake = new_backend()
    proxy = new_proxy(fake.url)
    fake.enqueue("chat/completions", Reply(events=[chunk({"content": "ok"}), "x" * (20 * MiB)]))
    response = httpx.post(f"{proxy.url}/api/chat", json={"model": "test-model", "messages": CHAT}, timeout=30)
    objects = lines(response)
    assert "error" in objects[-1] and "larger than" in objects[-1]["error"]


SHAPES: list[Any] = [
    {"choices": "x"},
    {"choices": [5]},
    {"choices": [{"message": "text"}]},
    {"choices": [{"message": {"content": 5}}]},
    {"choices": [{"message": {"tool_calls": "x"}}]},
    {"choices": [{"message": {"tool_calls": [{"function": 1}]}}]},
    {"choices": [{"message": {"content": "x"}}], "usage": "lots"},
    [],
    "text",
    None,
]


@pytest.mark.parametrize("shape", SHAPES)
def test_a_wrongly_shaped_answer_is_a_clear_502(
    new_backend: Callable[..., FakeBackend], new_proxy: Callable[..., ServedProxy], shape: Any
) -> None:
    fake = new_backend()
    proxy = new_proxy(fake.url)
    fake.enqueue("chat/completions", Reply(json=shape))
    response = httpx.post(
        f"{proxy.url}/api/chat", json={"model": "test-model", "messages": CHAT, "stream": False}, timeout=10
    )
    message = assert_ollama_error(response, 502)
    assert "backend" in message
    fake.enqueue("embeddings", Reply(json=shape))
    assert_ollama_error(
        httpx.post(f"{proxy.url}/api/embed", json={"model": "test-model", "input": "x"}, timeout=10), 502
    )


@pytest.mark.parametrize(
    "event", [*SHAPES[:7], {"choices": [{"delta": "x"}]}, {"choices": [{"delta": {"tool_calls": [5]}}]}]
)
def test_a_wrongly_shaped_stream_always_ends_with_an_error_line(
    new_backend: Callable[..., FakeBackend], new_proxy: Callable[..., ServedProxy], event: Any
) -> None:
    fake = new_backend()
    proxy = new_proxy(fake.url)
    fake.enqueue("chat/completions", Reply(events=[chunk({"content": "ok"}), event, chunk({}, "stop")]))
    response = httpx.post(f"{proxy.url}/api/chat", json={"model": "test-model", "messages": CHAT}, timeout=10)
    objects = lines(response)
    assert objects[-1].get("done") is True or "backend" in objects[-1].get("error", ""), objects[-1]
