"""Cross-site request forgery: a request from a web page whose Origin is not allowed gets 403 and does
nothing (no backend call, no stored model) on every route and method; allowed origins, same-host
origins and requests without Origin (CLI, SDKs) are served as before."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from ollama_openai_proxy.middleware.origin import OriginPolicy, allowed_origins
from tests.conftest import ServedProxy, make_settings
from tests.hardening.conftest import assert_ollama_error
from tests.hardening.test_auth import ROUTES
from tests.support.fake_backend import FakeBackend

FOREIGN = [
    "http://evil.example",
    "https://evil.example",
    "null",
    "http://localhost.evil.example",
    "http://127.0.0.1.evil.example",
    "https://chat.example.com.evil.example",
    "HTTP://EVIL.EXAMPLE",
    "file:/etc",  # not file:// (a wildcard needs its whole prefix)
]
CREATE = {"model": "pwned", "from": "test-model", "system": "You are compromised."}
BODIES = {
    "/api/create": CREATE,
    "/api/chat": {"model": "test-model", "messages": [{"role": "user", "content": "hi"}]},
    "/api/generate": {"model": "test-model", "prompt": "hi"},
    "/api/copy": {"source": "test-model", "destination": "pwned2"},
    "/api/delete": {"model": "test-model"},
    "/v1/chat/completions": {"model": "test-model", "messages": [{"role": "user", "content": "hi"}]},
}


def _calls(fake: FakeBackend) -> list[str]:
    """What the backend was asked, besides the background listing refresh."""
    return [r.path for r in fake.requests if not r.path.endswith("/models")]


@pytest.fixture(scope="module")
def fake(module_backend: FakeBackend) -> FakeBackend:
    return module_backend


@pytest.fixture(scope="module")
def served(fake: FakeBackend) -> Iterator[ServedProxy]:
    proxy = ServedProxy(
        make_settings(fake.url, backend_profile="generic", OLLAMA_ORIGINS="https://*.trusted.dev")
    ).start()
    yield proxy
    proxy.stop()


def _send(served: ServedProxy, method: str, path: str, origin: str | None, **headers: str) -> httpx.Response:
    if origin is not None:
        headers["Origin"] = origin
    headers.setdefault("Content-Type", "text/plain")  # a "simple" request: no preflight in a browser
    body = BODIES.get(path, {"model": "test-model"})
    content = None if method in ("GET", "HEAD") else httpx.Request("POST", "/", json=body).content
    return httpx.request(method, served.url + path, content=content, headers=headers, timeout=10)


@pytest.mark.parametrize(("method", "path"), [*ROUTES, ("OPTIONS", "/api/chat"), ("PUT", "/api/nowhere")])
def test_a_foreign_origin_is_refused_everywhere_and_nothing_happens(
    served: ServedProxy, fake: FakeBackend, method: str, path: str
) -> None:
    before = _calls(fake)
    for origin in FOREIGN[:3]:
        response = _send(served, method, path, origin)
        assert response.status_code == 403, (method, path, origin, response.text)
        assert "access-control-allow-origin" not in response.headers
    assert _calls(fake) == before


@pytest.mark.parametrize("origin", FOREIGN)
def test_a_forged_create_stores_nothing(served: ServedProxy, fake: FakeBackend, origin: str) -> None:
    before = _calls(fake)
    response = _send(served, "POST", "/api/create", origin)
    assert_ollama_error(response, 403)
    assert _calls(fake) == before
    shown = httpx.post(f"{served.url}/api/show", json={"model": "pwned"}, timeout=10)
    assert shown.status_code == 404


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:3000",
        "http://127.0.0.1",
        "https://[::1]:8443",
        "app://obsidian.md",
        "vscode-webview://abc",
        "chrome-extension://abcdef",
        "https://ui.trusted.dev",
        "HTTP://LOCALHOST:5173",
    ],
)
def test_allowed_origins_still_work(served: ServedProxy, origin: str) -> None:
    response = _send(served, "POST", "/api/chat", origin, **{"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == origin


def test_requests_without_origin_and_same_host_requests_are_served(served: ServedProxy) -> None:
    assert _send(served, "GET", "/api/tags", None).status_code == 200
    host = served.url.removeprefix("http://")
    assert _send(served, "GET", "/api/tags", f"http://{host}").status_code == 200
    assert _send(served, "GET", "/api/tags", "").status_code == 200  # an empty Origin is no origin


def test_ollama_origins_star_allows_every_origin(
    fake: FakeBackend, new_proxy: Callable[..., ServedProxy]
) -> None:
    proxy = new_proxy(fake.url, OLLAMA_ORIGINS="*")
    assert _send(proxy, "GET", "/api/tags", "https://anything.example").status_code == 200


@pytest.mark.parametrize(
    ("pattern", "origin", "allowed"),
    [
        ("https://*.trusted.dev", "https://a.trusted.dev", True),
        ("https://*.trusted.dev", "https://trusted.dev", False),
        ("https://*.trusted.dev", "https://a.trusted.dev.evil", False),
        ("http://exact.example", "http://exact.example", True),
        ("http://exact.example", "http://exact.example:81", False),
        ("*-suffix.example", "https://x-suffix.example", True),
    ],
)
def test_wildcards_match_like_gin(pattern: str, origin: str, allowed: bool) -> None:
    assert OriginPolicy(allowed_origins(pattern)).allows(origin) is allowed
