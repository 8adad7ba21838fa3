"""Capabilities the backend publishes are honoured: what a model cannot do is refused up front in
Ollama's words (and advertised truthfully in /api/show), never sent to fail at the backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import ollama
import pytest

from tests.conftest import ServedProxy
from tests.support.fake_backend import FakeBackend

USER = [{"role": "user", "content": "hi"}]
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}


@pytest.fixture(scope="module")
def router_backend() -> Iterator[FakeBackend]:
    # OpenRouter-style listing: supported_parameters and modalities are the backend's own truth
    fake = FakeBackend(
        models=[
            {
                "id": "plain/text-only",
                "context_length": 4096,
                "supported_parameters": ["temperature"],
                "architecture": {"input_modalities": ["text"]},
            },
            {
                "id": "smart/all-in",
                "context_length": 200000,
                "supported_parameters": ["tools", "reasoning", "temperature"],
                "architecture": {"input_modalities": ["text", "image"]},
            },
        ]
    ).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def caps_proxy(router_backend: FakeBackend, start_proxy: Callable[..., ServedProxy]) -> ServedProxy:
    return start_proxy(router_backend.url, backend_profile="openrouter")


@pytest.fixture(scope="module")
def caps_client(caps_proxy: ServedProxy) -> ollama.Client:
    return ollama.Client(host=caps_proxy.url)


def test_show_tells_the_truth(caps_client: ollama.Client) -> None:
    plain = caps_client.show("plain/text-only")
    assert plain.capabilities == ["completion"]
    smart = caps_client.show("smart/all-in")
    assert smart.capabilities == ["completion", "tools", "vision", "thinking"]
    assert smart.modelinfo is not None
    assert smart.modelinfo[f"{smart.modelinfo['general.architecture']}.context_length"] == 200000


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tools": [TOOL]}, "registry.ollama.ai/plain/text-only:latest does not support tools"),
        ({"think": True}, '"plain/text-only" does not support thinking'),
        ({"think": "high"}, '"plain/text-only" does not support thinking'),
    ],
)
def test_refused_in_ollamas_words(
    caps_client: ollama.Client, router_backend: FakeBackend, kwargs: dict[str, object], message: str
) -> None:
    before = len(router_backend.received("chat/completions"))
    with pytest.raises(ollama.ResponseError) as info:
        caps_client.chat(model="plain/text-only", messages=USER, **kwargs)  # type: ignore[arg-type]
    assert info.value.status_code == 400
    assert info.value.error == message
    assert len(router_backend.received("chat/completions")) == before  # never reached the backend


def test_images_refused_without_vision(caps_client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as info:
        caps_client.chat(
            model="plain/text-only", messages=[{"role": "user", "content": "?", "images": [PNG]}]
        )
    assert info.value.status_code == 400
    assert "does not support images" in info.value.error


def test_capable_model_gets_everything(caps_client: ollama.Client, router_backend: FakeBackend) -> None:
    reply = caps_client.chat(
        model="smart/all-in",
        messages=[{"role": "user", "content": "?", "images": [PNG]}],
        tools=[TOOL],
        think=True,
    )
    assert reply.message.content == "Hello from the fake backend."
    sent = router_backend.last("chat/completions").body
    assert sent["reasoning"] == {"effort": "medium"}
    assert sent["tools"] == [TOOL]
    assert sent["messages"][0]["content"][-1]["image_url"]["url"].startswith("data:image/png;base64,")
    # think: false is always fine, even on a model without reasoning
    caps_client.chat(model="plain/text-only", messages=USER, think=False)


def test_dialects_relax_or_refuse_thinking_as_ollama_does(
    caps_client: ollama.Client, router_backend: FakeBackend
) -> None:
    """/v1/messages drops a thinking request to a model that cannot think (Claude Code asks for it
    by default); /v1/responses refuses it in OpenAI's envelope, as /api/chat does in Ollama's."""
    base = str(caps_client._client.base_url).rstrip("/")
    body = {
        "model": "plain/text-only",
        "max_tokens": 16,
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high"},
        "messages": USER,
    }
    r = httpx.post(f"{base}/v1/messages", json=body, timeout=20)
    assert r.status_code == 200, r.text
    sent = router_backend.last("chat/completions").body
    assert "reasoning" not in sent and "reasoning_effort" not in sent
    # a model that thinks gets the level asked for
    httpx.post(f"{base}/v1/messages", json={**body, "model": "smart/all-in"}, timeout=20)
    assert router_backend.last("chat/completions").body["reasoning"] == {"effort": "high"}

    r = httpx.post(
        f"{base}/v1/responses",
        json={"model": "plain/text-only", "input": "hi", "reasoning": {"effort": "high"}},
    )
    assert r.status_code == 400
    assert r.json()["error"]["message"] == '"plain/text-only" does not support thinking'


IMAGE_PART = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"tools": [TOOL]}, "registry.ollama.ai/plain/text-only:latest does not support tools"),
        (
            {"messages": [{"role": "user", "content": [IMAGE_PART]}]},
            '"plain/text-only" does not support images',
        ),
        (
            {"messages": [*USER, {"role": "user", "content": [{"type": "text", "text": "?"}, IMAGE_PART]}]},
            '"plain/text-only" does not support images',
        ),
        ({"reasoning_effort": "high"}, '"plain/text-only" does not support thinking'),
        ({"reasoning_effort": "low"}, '"plain/text-only" does not support thinking'),
        ({"reasoning": {"effort": "medium"}}, '"plain/text-only" does not support thinking'),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_relayed_chat_completions_refused_in_ollamas_words(
    caps_proxy: ServedProxy, router_backend: FakeBackend, extra: dict[str, object], message: str, stream: bool
) -> None:
    """/v1/chat/completions checks the model's capabilities as /api/chat does, not leaving the
    backend to fail (llama-server answers an image on a text-only model with a 500)."""
    before = len(router_backend.received("chat/completions"))
    body = {"model": "plain/text-only", "messages": USER, "stream": stream, **extra}
    r = httpx.post(f"{caps_proxy.url}/v1/chat/completions", json=body)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(message)
    assert len(router_backend.received("chat/completions")) == before


def test_relayed_chat_completions_with_every_capability(
    caps_proxy: ServedProxy, router_backend: FakeBackend
) -> None:
    body = {"model": "smart/all-in", "messages": [{"role": "user", "content": [IMAGE_PART]}], "tools": [TOOL]}
    r = httpx.post(f"{caps_proxy.url}/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    assert router_backend.last("chat/completions").body["tools"] == [TOOL]


@pytest.mark.parametrize("extra", [{"reasoning_effort": "none"}, {"reasoning": {"effort": "none"}}, {}])
def test_relayed_chat_completions_without_thinking_pass(
    caps_proxy: ServedProxy, router_backend: FakeBackend, extra: dict[str, object]
) -> None:
    """``none`` turns thinking off (Ollama's think: false): a text-only model may be asked that."""
    body = {"model": "plain/text-only", "messages": USER, **extra}
    r = httpx.post(f"{caps_proxy.url}/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
