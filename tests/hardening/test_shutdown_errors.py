"""On SIGTERM, requests still waiting for their backend (no byte sent yet) end with a 503 in the
dialect's error shape (Ollama's ``{"error"}``, OpenAI's envelope on /v1), not a bare text 500."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.hardening.conftest import ProxyProcess, wait_until
from tests.support.fake_backend import FakeBackend, Reply

REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("/api/chat", {"model": "test-model", "messages": [{"role": "user", "content": "hi"}], "stream": False}),
    ("/api/chat", {"model": "test-model", "messages": [{"role": "user", "content": "hi"}]}),
    ("/api/generate", {"model": "test-model", "prompt": "hi", "stream": False}),
    ("/api/embed", {"model": "test-model", "input": "hi"}),
    ("/v1/chat/completions", {"model": "test-model", "messages": [{"role": "user", "content": "hi"}]}),
]


@pytest.fixture
def fake(new_backend: Callable[..., FakeBackend]) -> FakeBackend:
    backend = new_backend()
    backend.handler = lambda rec: None if rec.path.endswith("/models") else Reply(delay=60, json={})
    return backend


def test_requests_not_yet_answered_get_the_error_shape_on_sigterm(
    fake: FakeBackend, proxy_process: Callable[..., ProxyProcess]
) -> None:
    proc = proxy_process(
        {
            "OPENAI_BASE_URL": fake.url,
            "OLLAMA_PROXY_BACKEND_PROFILE": "generic",
            "OLLAMA_PROXY_SHUTDOWN_GRACE": "1",
        }
    )
    answers: dict[int, httpx.Response | Exception] = {}

    def send(i: int, path: str, body: dict[str, Any]) -> None:
        try:
            answers[i] = httpx.post(proc.url + path, json=body, timeout=30)
        except httpx.HTTPError as exc:
            answers[i] = exc

    threads = [threading.Thread(target=send, args=(i, *r)) for i, r in enumerate(REQUESTS)]
    for thread in threads:
        thread.start()
    assert wait_until(
        lambda: len([r for r in fake.requests if not r.path.endswith("/models")]) == len(REQUESTS), 10
    )
    sent = time.monotonic()
    proc.terminate()
    for thread in threads:
        thread.join(30)
    assert time.monotonic() - sent < 15
    for i, (path, _) in enumerate(REQUESTS):
        answer = answers[i]
        assert isinstance(answer, httpx.Response), (path, answer)
        assert answer.status_code == 503, (path, answer.status_code, answer.text)
        assert answer.headers["content-type"].startswith("application/json"), answer.headers
        error = answer.json()["error"]
        message = error["message"] if path.startswith("/v1/") else error
        assert "shutting down" in message
