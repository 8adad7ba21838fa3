"""The /v1 relay made to answer as Ollama: virtual models applied to OpenAI bodies, the model renamed."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from ollama_openai_proxy.serving.openai import apply_virtual
from ollama_openai_proxy.translate.openai_compat import StreamRenamer, renamed
from ollama_openai_proxy.translate.profiles import PROFILES
from ollama_openai_proxy.virtual.spec import from_create_request

PIRATE = from_create_request(
    {
        "model": "pirate",
        "from": "base",
        "system": "You are a pirate.",
        "parameters": {"temperature": 0.3, "num_predict": 40, "top_k": 7, "num_ctx": 4096},
        "messages": [{"role": "user", "content": "Ahoy?"}, {"role": "assistant", "content": "Ahoy!"}],
    }
)
USER = [{"role": "user", "content": "hi"}]


def test_chat_gets_system_messages_and_parameters_under_the_request() -> None:
    payload: dict[str, Any] = {"model": "pirate", "messages": list(USER), "temperature": 0.9}
    ignored = apply_virtual(payload, [PIRATE], PROFILES["vllm"], "chat/completions")
    assert payload["messages"] == [
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "Ahoy?"},
        {"role": "assistant", "content": "Ahoy!"},
        *USER,
    ]
    assert payload["temperature"] == 0.9  # the request wins
    assert payload["max_tokens"] == 40
    assert payload["top_k"] == 7
    assert ignored == ["options.num_ctx (load-time)"]


@pytest.mark.parametrize("role", ["system", "developer"])
def test_a_request_system_message_replaces_the_model_system(role: str) -> None:
    own = [{"role": role, "content": "Be a robot."}, *USER]
    payload: dict[str, Any] = {"messages": list(own)}
    apply_virtual(payload, [PIRATE], PROFILES["generic"], "chat/completions")
    assert payload["messages"][0] == own[0]
    assert payload["messages"][1:3] == [
        {"role": "user", "content": "Ahoy?"},
        {"role": "assistant", "content": "Ahoy!"},
    ]


def test_openai_profile_names_its_own_parameters() -> None:
    payload: dict[str, Any] = {"messages": list(USER)}
    ignored = apply_virtual(payload, [PIRATE], PROFILES["openai"], "chat/completions")
    assert payload["max_completion_tokens"] == 40
    assert "top_k" not in payload and any("top_k" in i for i in ignored)


def test_completions_take_parameters_only_and_embeddings_nothing() -> None:
    payload: dict[str, Any] = {"prompt": "Once"}
    apply_virtual(payload, [PIRATE], PROFILES["vllm"], "completions")
    assert payload == {"prompt": "Once", "temperature": 0.3, "max_tokens": 40, "top_k": 7}
    embed: dict[str, Any] = {"input": "x"}
    assert apply_virtual(embed, [PIRATE], PROFILES["vllm"], "embeddings") == []
    assert embed == {"input": "x"}


@pytest.mark.parametrize(
    ("body", "want"),
    [
        (b'{"id":"c","model":"backend-id","choices":[]}', {"id": "c", "model": "pirate", "choices": []}),
        (b'{"id": "c", "model": "pirate"}', None),  # already right: the very same bytes
        (b'{"error": {"message": "x"}}', None),  # no model: untouched
        (b"not json", None),
        (b"[1, 2]", None),
    ],
)
def test_renamed(body: bytes, want: dict[str, Any] | None) -> None:
    out = renamed(body, "pirate")
    if want is None:
        assert out is body
    else:
        assert orjson.loads(out) == want


def test_stream_renamer_decides_on_the_first_event() -> None:
    same = StreamRenamer("m")
    assert same.event('{"model":"m","choices":[]}') == b'data: {"model":"m","choices":[]}\n\n'
    assert same.same is True
    other = StreamRenamer("pirate")
    assert orjson.loads(other.event('{"model":"b","x":1}').removeprefix(b"data: ")) == {
        "model": "pirate",
        "x": 1,
    }
    assert other.same is False
    assert other.event("[DONE]") == b"data: [DONE]\n\n"
