"""keep_alive is read as Ollama reads it, at parse time: numbers are seconds (huge ones clamp to
forever), strings are Go durations (too large ones are a 400, as in Go), anything else is a 400.
Whatever a request sends, /api/ps keeps answering 200."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import ServedProxy
from tests.hardening.conftest import assert_ollama_error
from tests.support.fake_backend import FakeBackend, Reply

CLAMPED = [1e300, 1.7976931348623157e308, 9.3e9, 2**63, 10**30, -1e300, -1, "-999999h"]
VALID = [0, 1, 1.5, 300, "5m", "1h30m", "-1m", "0s", "2562047h", ".5s", "+5m", 9.2e9]
REFUSED = [
    "999999999h",
    "2562048h",
    "9223372036854775808ns",
    "99999999999999999999999s",
    "1" * 5000 + "s",
    "1e300",
    "300",
    "abc",
    "5 m",
    "",
    True,
    False,
    [1],
    {"h": 1},
]


def _post(module_proxy: ServedProxy, path: str, keep_alive: Any) -> httpx.Response:
    body: dict[str, Any] = {"model": "test-model", "keep_alive": keep_alive, "stream": False}
    if path == "/api/chat":
        body["messages"] = [{"role": "user", "content": "hi"}]
    elif path == "/api/generate":
        body["prompt"] = "hi"
    else:
        body["input"] = "hi"
    return httpx.post(module_proxy.url + path, json=body, timeout=10)


def _ps(module_proxy: ServedProxy) -> list[dict[str, Any]]:
    response = httpx.get(f"{module_proxy.url}/api/ps", timeout=10)
    assert response.status_code == 200, response.text
    models: list[dict[str, Any]] = response.json()["models"]
    return models


@pytest.mark.parametrize("path", ["/api/chat", "/api/generate", "/api/embed"])
@pytest.mark.parametrize("value", CLAMPED + VALID)
def test_every_duration_is_accepted_and_ps_keeps_working(
    module_proxy: ServedProxy, module_backend: FakeBackend, path: str, value: Any
) -> None:
    module_backend.enqueue("embeddings", Reply(json={"data": [{"embedding": [1.0], "index": 0}]}))
    response = _post(module_proxy, path, value)
    assert response.status_code == 200, (value, response.text)
    for entry in _ps(module_proxy):
        assert entry["expires_at"][:4].isdigit()


@pytest.mark.parametrize("value", CLAMPED)
def test_huge_or_negative_numbers_mean_forever(module_proxy: ServedProxy, value: Any) -> None:
    assert _post(module_proxy, "/api/chat", value).status_code == 200
    (entry,) = [m for m in _ps(module_proxy) if m["name"] == "test-model:latest"]
    assert entry["expires_at"] >= "2300"


@pytest.mark.parametrize("path", ["/api/chat", "/api/generate", "/api/embed", "/api/embeddings"])
@pytest.mark.parametrize("value", REFUSED)
def test_what_cannot_be_a_duration_is_a_400(module_proxy: ServedProxy, path: str, value: Any) -> None:
    message = assert_ollama_error(_post(module_proxy, path, value), 400)
    assert "duration" in message or "keep_alive" in message
    _ps(module_proxy)
