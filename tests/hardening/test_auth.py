"""Inbound API keys on every route (enumerated from the app, so a new route is covered at once),
per-model keys, forwarding the client's key, the DNS-rebinding guard, CORS and the body limit."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest

from ollama_openai_proxy.app import create_app
from ollama_openai_proxy.middleware.auth import PUBLIC_PATHS
from tests.conftest import ServedProxy, make_settings
from tests.hardening.conftest import assert_ollama_error, backend_entry, backend_serving
from tests.support.fake_backend import FakeBackend

KEY = "proxy-key-0123456789"
OTHER_KEY = "second-key-abcdef"
MODELS = [
    {"id": "test-model", "object": "model", "owned_by": "test"},
    {"id": "other-model", "object": "model", "owned_by": "test"},
    {"id": "text-embedding-small", "object": "model", "owned_by": "test"},
]
SAMPLE_PARAMS = {"digest": "sha256:" + "0" * 64, "model": "test-model"}


def _flatten(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    """(path, methods) of every route, included routers (FastAPI's lazy ``_IncludedRouter``) opened."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from _flatten(included.routes, prefix + getattr(context, "prefix", ""))
        elif getattr(route, "path", None) is not None and getattr(route, "methods", None):
            yield prefix + route.path, set(route.methods)
        elif getattr(route, "routes", None):  # a Mount
            yield from _flatten(route.routes, prefix + getattr(route, "path", ""))


def app_routes() -> list[tuple[str, str]]:
    """(method, path) for every route of the app, path parameters filled with sample values."""
    app = create_app(make_settings("http://127.0.0.1:9/v1"))
    found: list[tuple[str, str]] = []
    for path, methods in _flatten(list(app.routes)):
        concrete = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: SAMPLE_PARAMS.get(m.group(1), "x"), path)
        found += [(method, concrete) for method in sorted(methods)]
    # Cross-check: the OpenAPI schema lists no path the walk above missed.
    schema_paths = {
        re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PARAMS.get(m.group(1), "x"), p) for p in app.openapi()["paths"]
    }
    assert schema_paths <= {p for _, p in found}, schema_paths - {p for _, p in found}
    return found


ROUTES = app_routes()
PROTECTED = [(m, p) for m, p in ROUTES if p not in PUBLIC_PATHS]


def test_routes_are_enumerated() -> None:
    paths = {p for _, p in ROUTES}
    # A sanity check on the enumeration itself, not a list to keep up to date.
    assert {"/api/chat", "/api/tags", "/v1/chat/completions", "/metrics", "/ready"} <= paths
    assert len(PROTECTED) >= 25


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBackend]:
    yield from backend_serving(MODELS)


@pytest.fixture(scope="module")
def keyed(fake: FakeBackend) -> Iterator[ServedProxy]:
    served = ServedProxy(make_settings(fake.url, api_keys=f"{KEY}, {OTHER_KEY}", backend_profile="generic"))
    served.start()
    yield served
    served.stop()


def call(served: ServedProxy, method: str, path: str, key: str | None = None, **kw: Any) -> httpx.Response:
    headers = {"Authorization": key if key is None or " " in key else f"Bearer {key}"} if key else {}
    body = None if method in ("GET", "HEAD") else {"model": "test-model", "name": "test-model", "input": "hi"}
    return httpx.request(method, served.url + path, json=body, headers=headers, timeout=20, **kw)


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
@pytest.mark.parametrize(
    "key", [None, "wrong-key", f"Basic {KEY}", f"Bearer {KEY}x", "Bearer", f"Bearer{KEY}"]
)
def test_every_route_needs_a_key(keyed: ServedProxy, method: str, path: str, key: str | None) -> None:
    response = call(keyed, method, path, key)
    assert response.status_code == 401, (response.status_code, response.text)
    if method != "HEAD":
        assert "unauthorized" in dialect_error(response, path, 401)


def dialect_error(response: httpx.Response, path: str, status: int) -> str:
    """The error in the shape of the path's dialect (Anthropic's, OpenAI's or Ollama's); its message."""
    if path.startswith("/v1/messages"):
        assert response.status_code == status, response.text
        body = response.json()
        assert body["type"] == "error" and set(body["error"]) == {"type", "message"}, body
        return str(body["error"]["message"])
    if path.startswith("/v1/"):
        assert response.status_code == status, response.text
        body = response.json()
        assert set(body) == {"error"} and {"message", "type", "param", "code"} == set(body["error"]), body
        return str(body["error"]["message"])
    return assert_ollama_error(response, status)


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_every_route_accepts_x_api_key(keyed: ServedProxy, method: str, path: str) -> None:
    """The Anthropic SDKs send the key as ``x-api-key``: it counts wherever a bearer key does."""
    body = None if method in ("GET", "HEAD") else {"model": "test-model", "name": "test-model", "input": "hi"}
    response = httpx.request(method, keyed.url + path, json=body, headers={"x-api-key": KEY}, timeout=20)
    assert response.status_code not in (401, 403), (response.status_code, response.text)
    wrong = httpx.request(method, keyed.url + path, json=body, headers={"x-api-key": "nope"}, timeout=20)
    assert wrong.status_code == 401


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
@pytest.mark.parametrize("key", [KEY, OTHER_KEY])
def test_every_route_accepts_the_right_key(keyed: ServedProxy, method: str, path: str, key: str) -> None:
    response = call(keyed, method, path, key)
    assert response.status_code not in (401, 403), (response.status_code, response.text)
    assert response.status_code < 500 or response.status_code == 501, response.text  # push, blobs: 501


@pytest.mark.parametrize("path", sorted(PUBLIC_PATHS))
def test_liveness_needs_no_key(keyed: ServedProxy, path: str) -> None:
    assert httpx.get(keyed.url + path, timeout=10).status_code == 200


def test_ollama_python_sends_ollama_api_key(keyed: ServedProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    with pytest.raises(ollama.ResponseError) as info:
        ollama.Client(host=keyed.url).list()
    assert info.value.status_code == 401
    monkeypatch.setenv("OLLAMA_API_KEY", KEY)
    client = ollama.Client(host=keyed.url, timeout=20)
    assert "test-model:latest" in [m.model for m in client.list().models]
    answer = client.chat(model="test-model", messages=[{"role": "user", "content": "hi"}])
    assert answer.message.content
    streamed = "".join(
        part.message.content or ""
        for part in client.chat(model="test-model", messages=[{"role": "user", "content": "hi"}], stream=True)
    )
    assert streamed


# --- per-model keys ------------------------------------------------------------------------------


@pytest.fixture
def per_model(
    new_proxy: Callable[..., ServedProxy],
    config_file: Callable[[dict[str, Any]], Path],
    fake: FakeBackend,
    monkeypatch: pytest.MonkeyPatch,
) -> ServedProxy:
    monkeypatch.setenv("ALICE_KEY", "alice-secret-key")
    monkeypatch.setenv("BOB_KEY", "bob-secret-key")
    path = config_file(
        {
            "backends": [backend_entry(fake)],
            "auth": {
                "keys": [
                    {"name": "alice", "key_env": "ALICE_KEY", "models": ["test-model*", "text-embedding-*"]},
                    {"name": "bob", "key_env": "BOB_KEY"},
                ]
            },
        }
    )
    return new_proxy(fake.url, config=path)


def test_per_model_key_allows_its_models(per_model: ServedProxy) -> None:
    alice = {"Authorization": "Bearer alice-secret-key"}
    chat = {"model": "test-model", "messages": [{"role": "user", "content": "hi"}], "stream": False}
    assert httpx.post(f"{per_model.url}/api/chat", json=chat, headers=alice, timeout=20).status_code == 200
    embed = {"model": "text-embedding-small", "input": "hi"}
    assert httpx.post(f"{per_model.url}/api/embed", json=embed, headers=alice, timeout=20).status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/api/chat",
            {"model": "other-model", "messages": [{"role": "user", "content": "hi"}], "stream": False},
        ),
        ("/api/chat", {"model": "other-model", "messages": [{"role": "user", "content": "hi"}]}),
        ("/api/generate", {"model": "other-model", "prompt": "hi", "stream": False}),
        ("/api/embed", {"model": "other-model", "input": "hi"}),
        ("/api/embeddings", {"model": "other-model", "prompt": "hi"}),
        ("/api/show", {"model": "other-model"}),
        ("/api/pull", {"model": "other-model", "stream": False}),
    ],
)
def test_per_model_key_is_refused_other_models(
    per_model: ServedProxy, path: str, body: dict[str, Any]
) -> None:
    alice = {"Authorization": "Bearer alice-secret-key"}
    response = httpx.post(per_model.url + path, json=body, headers=alice, timeout=20)
    assert "other-model" in assert_ollama_error(response, 403)
    bob = {"Authorization": "Bearer bob-secret-key"}
    assert httpx.post(per_model.url + path, json=body, headers=bob, timeout=20).status_code < 400


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/v1/messages",
            {"model": "other-model", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
        ),
        ("/v1/responses", {"model": "other-model", "input": "hi"}),
    ],
)
@pytest.mark.parametrize("header", ["Authorization", "x-api-key"])
def test_per_model_key_on_the_dialects(
    per_model: ServedProxy, path: str, body: dict[str, Any], header: str
) -> None:
    def key(secret: str) -> dict[str, str]:
        return {header: f"Bearer {secret}" if header == "Authorization" else secret}

    refused = httpx.post(per_model.url + path, json=body, headers=key("alice-secret-key"), timeout=20)
    assert "other-model" in dialect_error(refused, path, 403)
    allowed = {**body, "model": "test-model"}
    assert (
        httpx.post(
            per_model.url + path, json=allowed, headers=key("alice-secret-key"), timeout=20
        ).status_code
        == 200
    )
    assert (
        httpx.post(per_model.url + path, json=body, headers=key("bob-secret-key"), timeout=20).status_code
        < 400
    )


def test_per_model_key_refused_on_openai_routes(per_model: ServedProxy) -> None:
    alice = {"Authorization": "Bearer alice-secret-key"}
    body = {"model": "other-model", "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(f"{per_model.url}/v1/chat/completions", json=body, headers=alice, timeout=20)
    assert response.status_code == 403
    listed = httpx.get(f"{per_model.url}/v1/models", headers=alice, timeout=20).json()
    assert "other-model" not in str(listed)


def test_per_model_key_filters_tags(per_model: ServedProxy) -> None:
    def names(key: str) -> set[str]:
        response = httpx.get(
            f"{per_model.url}/api/tags", headers={"Authorization": f"Bearer {key}"}, timeout=20
        )
        assert response.status_code == 200
        return {m["name"] for m in response.json()["models"]}

    assert names("alice-secret-key") == {"test-model:latest", "text-embedding-small:latest"}
    assert names("bob-secret-key") == {
        "test-model:latest",
        "other-model:latest",
        "text-embedding-small:latest",
    }
    assert httpx.get(f"{per_model.url}/api/tags", timeout=20).status_code == 401


# --- forward_client_key ---------------------------------------------------------------------------


def test_forward_client_key_sends_the_clients_key(
    new_backend: Callable[..., FakeBackend], new_proxy: Callable[..., ServedProxy]
) -> None:
    fake = new_backend(MODELS)
    served = new_proxy(fake.url, forward_client_key=True, OPENAI_API_KEY="sk-configured-0123456789")
    assert httpx.get(f"{served.url}/api/tags", timeout=20).status_code == 401
    headers = {"Authorization": "Bearer sk-client-own-key-42"}
    chat = {"model": "test-model", "messages": [{"role": "user", "content": "hi"}], "stream": False}
    assert httpx.post(f"{served.url}/api/chat", json=chat, headers=headers, timeout=20).status_code == 200
    assert fake.last("chat/completions").headers["Authorization"] == "Bearer sk-client-own-key-42"
    streamed = {**chat, "stream": True}
    assert httpx.post(f"{served.url}/api/chat", json=streamed, headers=headers, timeout=20).status_code == 200
    assert fake.last("chat/completions").headers["Authorization"] == "Bearer sk-client-own-key-42"
    embed = {"model": "text-embedding-small", "input": "hi"}
    assert httpx.post(f"{served.url}/api/embed", json=embed, headers=headers, timeout=20).status_code == 200
    assert fake.last("embeddings").headers["Authorization"] == "Bearer sk-client-own-key-42"
    body = {"model": "test-model", "messages": [{"role": "user", "content": "hi"}]}
    assert (
        httpx.post(f"{served.url}/v1/chat/completions", json=body, headers=headers, timeout=20).status_code
        == 200
    )
    assert fake.last("chat/completions").headers["Authorization"] == "Bearer sk-client-own-key-42"
    assert all(
        "sk-configured" not in r.headers.get("Authorization", "") for r in fake.received("completions")
    )


# --- DNS-rebinding guard ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def open_proxy(fake: FakeBackend) -> Iterator[ServedProxy]:
    served = ServedProxy(make_settings(fake.url, backend_profile="generic")).start()
    yield served
    served.stop()


ALLOWED_HOSTS = [
    "localhost:11434",
    "localhost",
    "127.0.0.1",
    "127.0.0.1:11434",
    "[::1]:11434",
    "192.168.1.5",
    "10.0.0.7:11434",
    "foo.local",
    "printer.internal:8080",
    "app.localhost",
    "0.0.0.0:11434",
    socket.gethostname(),
]
REFUSED_HOSTS = [
    "evil.example",
    "evil.example:11434",
    "8.8.8.8",
    "localhost.evil.example",
    "127.0.0.1.nip.io",
]


@pytest.mark.parametrize("host", ALLOWED_HOSTS)
def test_local_hosts_are_allowed(open_proxy: ServedProxy, host: str) -> None:
    response = httpx.get(f"{open_proxy.url}/api/version", headers={"Host": host}, timeout=10)
    assert response.status_code == 200, host


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_foreign_hosts_are_refused(open_proxy: ServedProxy, host: str) -> None:
    for path in ("/api/version", "/api/tags", "/"):
        response = httpx.get(open_proxy.url + path, headers={"Host": host}, timeout=10)
        assert response.status_code == 403, (host, path)
    chat = {"model": "test-model", "messages": [{"role": "user", "content": "hi"}]}
    assert (
        httpx.post(f"{open_proxy.url}/api/chat", json=chat, headers={"Host": host}, timeout=10).status_code
        == 403
    )


def test_guard_off_when_allowed_or_not_on_loopback(
    fake: FakeBackend, new_proxy: Callable[..., ServedProxy]
) -> None:
    for overrides in ({"allow_any_host": True}, {"OLLAMA_HOST": "0.0.0.0:11434"}):
        served = new_proxy(fake.url, **overrides)
        response = httpx.get(f"{served.url}/api/version", headers={"Host": "evil.example"}, timeout=10)
        assert response.status_code == 200, overrides


# --- CORS ------------------------------------------------------------------------------------------


def preflight(served: ServedProxy, origin: str, path: str = "/api/chat") -> httpx.Response:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,authorization",
    }
    return httpx.options(served.url + path, headers=headers, timeout=10)


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:3000",
        "http://127.0.0.1:8080",
        "http://localhost",
        "app://obsidian.md",
        "tauri://localhost",
    ],
)
def test_cors_allows_local_origins(open_proxy: ServedProxy, origin: str) -> None:
    response = preflight(open_proxy, origin)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
    simple = httpx.get(f"{open_proxy.url}/api/version", headers={"Origin": origin}, timeout=10)
    assert simple.headers["access-control-allow-origin"] == origin


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost.evil.example", "null"])
def test_cors_refuses_foreign_origins(open_proxy: ServedProxy, origin: str) -> None:
    response = preflight(open_proxy, origin)
    assert response.status_code >= 400
    assert "access-control-allow-origin" not in response.headers
    simple = httpx.get(f"{open_proxy.url}/api/version", headers={"Origin": origin}, timeout=10)
    assert "access-control-allow-origin" not in simple.headers


def test_ollama_origins_adds_origins(fake: FakeBackend, new_proxy: Callable[..., ServedProxy]) -> None:
    served = new_proxy(fake.url, OLLAMA_ORIGINS="https://chat.example.com, https://*.trusted.dev")
    for origin in ("https://chat.example.com", "https://ui.trusted.dev", "http://localhost:3000"):
        assert preflight(served, origin).headers.get("access-control-allow-origin") == origin
    for origin in ("https://evil.example", "https://chat.example.com.evil.example"):
        assert "access-control-allow-origin" not in preflight(served, origin).headers


def test_preflight_needs_no_key(keyed: ServedProxy) -> None:
    response = preflight(keyed, "http://localhost:3000")
    assert response.status_code == 200


# --- body limit --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_body(fake: FakeBackend) -> Iterator[ServedProxy]:
    served = ServedProxy(make_settings(fake.url, max_body_bytes=1000, backend_profile="generic")).start()
    yield served
    served.stop()


def big_chat(size: int) -> bytes:
    text = "x" * size
    return (
        b'{"model": "test-model", "stream": false, "messages": [{"role": "user", "content": "'
        + text.encode()
        + b'"}]}'
    )


@pytest.mark.parametrize(
    "path",
    [
        "/api/chat",
        "/api/generate",
        "/api/embed",
        "/api/show",
        "/v1/chat/completions",
        "/v1/messages",
        "/v1/responses",
    ],
)
def test_content_length_over_the_limit_is_413(small_body: ServedProxy, fake: FakeBackend, path: str) -> None:
    before = len(fake.requests)
    response = httpx.post(small_body.url + path, content=big_chat(5000), timeout=10)
    assert "too large" in dialect_error(response, path, 413)
    assert len([r for r in fake.requests[before:] if not r.path.endswith("models")]) == 0


@pytest.mark.parametrize(
    "path", ["/api/chat", "/api/generate", "/api/embed", "/api/show", "/v1/messages", "/v1/responses"]
)
def test_chunked_body_over_the_limit_is_413(small_body: ServedProxy, path: str) -> None:
    def chunks() -> Iterator[bytes]:
        body = big_chat(5000)
        for i in range(0, len(body), 300):
            yield body[i : i + 300]

    response = httpx.post(small_body.url + path, content=chunks(), timeout=10)
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert "too large" in dialect_error(response, path, 413)


def test_body_under_the_limit_is_fine(small_body: ServedProxy) -> None:
    response = httpx.post(f"{small_body.url}/api/chat", content=big_chat(100), timeout=10)
    assert response.status_code == 200, response.text
