"""Secrets hidden by value, whatever their shape: the configured backend keys (gsk_…, hex, anything),
credentials in a backend URL, the inbound keys and a client's forwarded key never appear in
answers, stream error lines, /ready, /metrics or the logs, even when a backend echoes them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hardening.conftest import ProxyProcess, backend_entry, wait_until
from tests.support.fake_backend import FakeBackend, Recorded, Reply, free_port

KEYS = [
    "gsk_abcDEF1234567890groqkey",
    "0123456789abcdef0123456789abcdef",  # an Azure-style hex key
    "plain-secret-value-42",
    "key with spaces and ünïcode",
]
FORWARDED = "client-own-key-ABCDEF123"
INBOUND = "inbound-proxy-key-XYZ987"
CHAT = "chat/completions"


def echoing(status: int) -> Callable[[Recorded], Reply | None]:
    """A backend that repeats the credentials it received in its error message."""

    def handler(rec: Recorded) -> Reply | None:
        if rec.path.endswith("/models"):
            return None
        auth = rec.headers.get("Authorization", "")
        message = f"invalid credentials {auth} / key={auth.removeprefix('Bearer ')}"
        return Reply(status=status, json={"error": {"message": message, "type": "auth"}})

    return handler


def leaked(text: str, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s in text]


@pytest.fixture
def fake(new_backend: Callable[..., FakeBackend]) -> FakeBackend:
    return new_backend()


def start(proxy_process: Callable[..., ProxyProcess], config: Path, **env: str) -> ProxyProcess:
    return proxy_process({"OLLAMA_PROXY_CONFIG": str(config), **env})


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("status", [400, 422, 500])
def test_configured_keys_of_any_shape_never_come_back(
    fake: FakeBackend,
    proxy_process: Callable[..., ProxyProcess],
    config_file: Callable[[dict[str, Any]], Path],
    key: str,
    status: int,
) -> None:
    config = config_file({"backends": [backend_entry(fake, api_key_env="RED_KEY", retries=0)]})
    proc = start(proxy_process, config, RED_KEY=key)
    fake.handler = echoing(status)
    chat = {"model": "test-model", "messages": [{"role": "user", "content": "hi"}]}
    answers = [
        httpx.post(f"{proc.url}/api/chat", json={**chat, "stream": False}, timeout=10),
        httpx.post(f"{proc.url}/api/chat", json=chat, timeout=10),
        httpx.post(f"{proc.url}/v1/chat/completions", json=chat, timeout=10),
        httpx.post(f"{proc.url}/api/embed", json={"model": "test-model", "input": "x"}, timeout=10),
    ]
    for answer in answers:
        assert answer.status_code >= 400 or b"error" in answer.content
        assert not leaked(answer.text, [key]), answer.text
    assert any("***" in a.text for a in answers)
    assert wait_until(lambda: "invalid credentials" in proc.log() or "request" in proc.log())
    assert not leaked(proc.log(), [key])
    assert not leaked(httpx.get(f"{proc.url}/metrics", timeout=10).text, [key])


@pytest.mark.parametrize(
    ("userinfo", "secrets"),
    [
        ("user:pa55word-secret", ["pa55word-secret"]),
        ("admin:p%40ss%3Aw0rd!!", ["p%40ss%3Aw0rd!!", "p@ss:w0rd!!"]),
        ("tokenonly-1234567890", ["tokenonly-1234567890"]),
    ],
)
def test_url_credentials_never_show_in_errors_or_ready(
    proxy_process: Callable[..., ProxyProcess],
    config_file: Callable[[dict[str, Any]], Path],
    userinfo: str,
    secrets: list[str],
) -> None:
    down = f"http://{userinfo}@127.0.0.1:{free_port()}/v1"
    config = config_file({"backends": [{"name": "down", "base_url": down, "models": ["m1"], "retries": 0}]})
    proc = start(proxy_process, config)
    assert wait_until(
        lambda: httpx.get(f"{proc.url}/ready", timeout=5).json()["backends"]["down"] != "not checked yet"
    )
    ready = httpx.get(f"{proc.url}/ready", timeout=5)
    assert ready.status_code == 503
    answers = [
        ready,
        httpx.post(f"{proc.url}/api/chat", json={"model": "m1", "messages": [], "stream": False}, timeout=10),
        httpx.post(
            f"{proc.url}/api/chat",
            json={"model": "m1", "messages": [{"role": "user", "content": "x"}], "stream": False},
            timeout=10,
        ),
        httpx.post(f"{proc.url}/v1/chat/completions", json={"model": "m1", "messages": []}, timeout=10),
    ]
    for answer in answers:
        assert not leaked(answer.text, secrets), answer.text
    assert not leaked(proc.log(), secrets)


def test_forwarded_and_inbound_keys_never_come_back(
    fake: FakeBackend,
    proxy_process: Callable[..., ProxyProcess],
    config_file: Callable[[dict[str, Any]], Path],
) -> None:
    config = config_file({"backends": [backend_entry(fake, retries=0)], "auth": {"forward_client_key": True}})
    proc = start(proxy_process, config)
    fake.handler = echoing(400)
    headers = {"Authorization": f"Bearer {FORWARDED}"}
    chat = {"model": "test-model", "messages": [{"role": "user", "content": "hi"}], "stream": False}
    answer = httpx.post(f"{proc.url}/api/chat", json=chat, headers=headers, timeout=10)
    assert answer.status_code == 400
    assert FORWARDED not in answer.text
    relay = httpx.post(f"{proc.url}/v1/chat/completions", json=chat, headers=headers, timeout=10)
    assert FORWARDED not in relay.text
    assert FORWARDED not in proc.log()

    keyed = start(
        proxy_process,
        config_file({"backends": [backend_entry(fake, retries=0)]}),
        OLLAMA_PROXY_API_KEYS=INBOUND,
    )
    fake.handler = lambda rec: (
        None if rec.path.endswith("/models") else Reply(status=400, json={"error": f"bad {INBOUND}"})
    )
    answer = httpx.post(
        f"{keyed.url}/api/chat", json=chat, headers={"Authorization": f"Bearer {INBOUND}"}, timeout=10
    )
    assert answer.status_code == 400
    assert INBOUND not in answer.text
    assert INBOUND not in keyed.log()
