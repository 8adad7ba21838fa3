"""One error path: an unexpected exception gets the same handling on every route — a 500 in the
route's error shape with X-Request-ID, a logged traceback, and metrics and the access log recording
the real status."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ollama_openai_proxy.backends.catalog import Catalog
from ollama_openai_proxy.observability import access_log
from tests.conftest import ServedProxy, make_settings
from tests.hardening.test_observability import samples
from tests.support.fake_backend import FakeBackend

CHAT = {"model": "test-model", "messages": [{"role": "user", "content": "hi"}], "stream": False}
ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/tags", None),
    ("POST", "/api/chat", CHAT),
    ("POST", "/api/chat", {**CHAT, "stream": True}),
    ("POST", "/api/generate", {"model": "test-model", "prompt": "hi"}),
    ("POST", "/api/embed", {"model": "test-model", "input": "hi"}),
    ("POST", "/api/show", {"model": "test-model"}),
    ("GET", "/v1/models", None),
    ("POST", "/v1/chat/completions", CHAT),
]


class InjectedError(RuntimeError):
    """The fault the test injects: no code path expects it."""


@pytest.fixture(scope="module")
def served() -> Iterator[ServedProxy]:
    fake = FakeBackend(models=[{"id": "test-model", "object": "model", "owned_by": "test"}]).start()
    proxy = ServedProxy(make_settings(fake.url, backend_profile="generic", models_ttl=60.0)).start()
    yield proxy
    proxy.stop()
    fake.stop()


@pytest.fixture
def broken_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fail(*args: Any, **kwargs: Any) -> Any:
        raise InjectedError("something no code path expects")

    monkeypatch.setattr(Catalog, "resolve", fail)
    monkeypatch.setattr(Catalog, "models", fail)


@pytest.fixture
def access_lines(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    monkeypatch.setattr(access_log, "info", lambda event, **fields: lines.append(fields))
    return lines


INTERNAL = "internal proxy error; the proxy's log has the details (request id inject-1)"


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
@pytest.mark.usefixtures("broken_catalog")
def test_an_unexpected_exception_is_handled_alike_everywhere(
    served: ServedProxy,
    access_lines: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    before = samples(served.url, "ollama_proxy_requests_total", route=path, status="500")
    access_lines.clear()
    with caplog.at_level(logging.ERROR, logger="ollama_openai_proxy"):
        response = httpx.request(
            method, served.url + path, json=body, headers={"X-Request-ID": "inject-1"}, timeout=10
        )
    assert response.status_code == 500, response.text
    assert response.headers["x-request-id"] == "inject-1"
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    message = error["message"] if path.startswith("/v1/") else error
    assert message == INTERNAL
    assert "InjectedError" not in response.text  # the class name is the log's, not the client's
    assert "Traceback" not in response.text and "no code path expects" not in response.text
    logged = [r for r in caplog.records if r.exc_info and r.exc_info[0] is InjectedError]
    assert len(logged) == 1, caplog.records
    assert f"{method} {path}" in logged[0].getMessage()
    line = next(f for f in access_lines if f["request_id"] == "inject-1")
    assert line["status"] == 500
    assert line["route"] == path
    assert line["error"] == INTERNAL
    assert samples(served.url, "ollama_proxy_requests_total", route=path, status="500") == before + 1
