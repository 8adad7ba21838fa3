"""Key scopes: writes (create, copy, delete, push, blobs) need the write scope, which only a key
allowed every model may hold; a restricted key cannot reach a forbidden model through a virtual
model another key made, every spelling of a name gets the same answer, and /api/ps and /metrics
show a restricted key its own models only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ollama_openai_proxy.config import ConfigError, load_settings
from tests.conftest import ServedProxy, make_settings
from tests.hardening.conftest import assert_ollama_error, backend_entry, backend_serving
from tests.support.fake_backend import FakeBackend

ADMIN, READER, LIMITED = "admin-key-0123456789", "reader-key-0123456789", "limited-key-0123456789"
MODELS = [
    {"id": "llama3.2", "object": "model", "owned_by": "t"},
    {"id": "secret-model", "object": "model", "owned_by": "t"},
]
CHAT = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBackend]:
    yield from backend_serving(MODELS)


@pytest.fixture(scope="module")
def served(fake: FakeBackend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedProxy]:
    import yaml

    path = tmp_path_factory.mktemp("scopes") / "config.yaml"
    keys = [
        {"name": "admin", "key_env": "SCOPES_ADMIN"},
        {"name": "reader", "key_env": "SCOPES_READER", "scopes": ["read"]},
        {"name": "limited", "key_env": "SCOPES_LIMITED", "models": ["llama3.2*", "pirate*"]},
    ]
    path.write_text(yaml.safe_dump({"backends": [backend_entry(fake)], "auth": {"keys": keys}}))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SCOPES_ADMIN", ADMIN)
        env.setenv("SCOPES_READER", READER)
        env.setenv("SCOPES_LIMITED", LIMITED)
        proxy = ServedProxy(make_settings(fake.url, config=path)).start()
    yield proxy
    proxy.stop()


def call(served: ServedProxy, key: str, method: str, path: str, body: Any = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.request(method, served.url + path, json=body, headers=headers, timeout=10)


def create(served: ServedProxy, key: str, name: str, base: str, system: str = "Arr.") -> httpx.Response:
    body = {"model": name, "from": base, "system": system, "stream": False}
    return call(served, key, "POST", "/api/create", body)


WRITES = [
    ("POST", "/api/create", {"model": "llama3.2-evil", "from": "llama3.2", "system": "x"}),
    ("POST", "/api/copy", {"source": "llama3.2", "destination": "llama3.2-copy"}),
    ("DELETE", "/api/delete", {"model": "llama3.2-shared"}),
    ("POST", "/api/push", {"model": "llama3.2"}),
    ("POST", "/api/blobs/sha256:" + "0" * 64, None),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
@pytest.mark.parametrize("key", [READER, LIMITED])
def test_writes_need_the_write_scope(
    served: ServedProxy, key: str, method: str, path: str, body: Any
) -> None:
    assert create(served, ADMIN, "llama3.2-shared", "llama3.2", "Be kind.").status_code == 200
    message = assert_ollama_error(call(served, key, method, path, body), 403)
    assert "write scope" in message
    shown = call(served, ADMIN, "POST", "/api/show", {"model": "llama3.2-shared"}).json()
    assert shown["system"] == "Be kind."  # unchanged, still there
    for name in ("llama3.2-evil", "llama3.2-copy"):
        assert call(served, ADMIN, "POST", "/api/show", {"model": name}).status_code == 404


def test_reads_still_work_for_read_only_keys(served: ServedProxy) -> None:
    for key in (READER, LIMITED):
        response = call(
            served, key, "POST", "/api/chat", {"model": "llama3.2", "messages": CHAT, "stream": False}
        )
        assert response.status_code == 200, response.text
        assert call(served, key, "POST", "/api/show", {"model": "llama3.2"}).status_code == 200


@pytest.mark.parametrize("models", [["llama3.2*"], ["a", "b"], ["*", "x"]])
def test_a_restricted_key_cannot_be_given_the_write_scope(
    config_file: Callable[[dict[str, Any]], Path],
    fake: FakeBackend,
    monkeypatch: pytest.MonkeyPatch,
    models: list[str],
) -> None:
    key = {"name": "k", "key_env": "SCOPES_K", "models": models, "scopes": ["read", "write"]}
    path = config_file({"backends": [backend_entry(fake)], "auth": {"keys": [key]}})
    monkeypatch.setenv("SCOPES_K", "k-0123456789")
    monkeypatch.setenv("OLLAMA_PROXY_CONFIG", str(path))
    with pytest.raises(ConfigError, match="write scope"):
        load_settings()


@pytest.mark.parametrize(
    "base", ["secret-model", "SECRET-MODEL:latest", "registry.ollama.ai/library/secret-model"]
)
def test_a_forbidden_model_is_not_reachable_through_a_virtual_model(served: ServedProxy, base: str) -> None:
    assert create(served, ADMIN, "pirate", base).status_code == 200
    assert create(served, ADMIN, "pirate-chain", "pirate").status_code == 200
    for name in ("pirate", "pirate-chain", "Pirate:latest"):
        body = {"model": name, "messages": CHAT, "stream": False}
        message = assert_ollama_error(call(served, LIMITED, "POST", "/api/chat", body), 403)
        assert "secret-model" in message.lower()
        for path, extra in (("/api/generate", {"prompt": "hi"}), ("/api/embed", {"input": "hi"})):
            assert_ollama_error(call(served, LIMITED, "POST", path, {"model": name, **extra}), 403)
    assert create(served, ADMIN, "pirate", "llama3.2").status_code == 200
    body = {"model": "pirate-chain", "messages": CHAT, "stream": False}
    assert call(served, LIMITED, "POST", "/api/chat", body).status_code == 200


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("llama3.2", True),
        ("LLAMA3.2", True),
        ("llama3.2:latest", True),
        ("registry.ollama.ai/library/llama3.2:latest", True),
        ("library/llama3.2", True),
        ("secret-model", False),
        ("Secret-Model:latest", False),
        ("registry.ollama.ai/library/secret-model", False),
        ("library/secret-model:latest", False),
    ],
)
def test_name_forms_are_normalised_before_the_key_check(
    served: ServedProxy, name: str, allowed: bool
) -> None:
    body = {"model": name, "messages": CHAT, "stream": False}
    response = call(served, LIMITED, "POST", "/api/chat", body)
    assert response.status_code == (200 if allowed else 403), response.text
    relay = call(served, LIMITED, "POST", "/v1/chat/completions", {"model": name, "messages": CHAT})
    assert relay.status_code == (200 if allowed else 403), relay.text


def test_ps_and_metrics_show_a_restricted_key_its_models_only(served: ServedProxy) -> None:
    for model in ("secret-model", "llama3.2"):
        body = {"model": model, "messages": CHAT, "stream": False}
        assert call(served, ADMIN, "POST", "/api/chat", body).status_code == 200
    admin_ps = {m["name"] for m in call(served, ADMIN, "GET", "/api/ps").json()["models"]}
    limited_ps = {m["name"] for m in call(served, LIMITED, "GET", "/api/ps").json()["models"]}
    assert {"secret-model:latest", "llama3.2:latest"} <= admin_ps
    assert "llama3.2:latest" in limited_ps
    assert not any("secret" in m for m in limited_ps)
    assert "secret-model" in call(served, ADMIN, "GET", "/metrics").text
    limited_metrics = call(served, LIMITED, "GET", "/metrics").text
    assert "secret-model" not in limited_metrics
    assert "llama3.2" in limited_metrics
    assert "ollama_proxy_in_flight_requests" in limited_metrics
