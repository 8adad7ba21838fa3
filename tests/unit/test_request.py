"""translate.request beyond the golden vectors: images, tool-id matching and generate routing."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from ollama_openai_proxy.protocol.ollama import Message
from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.translate.request import image_data_uri, ollama_to_openai_messages
from tests.unit.helpers import translate


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    ("raw", "mime"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
        (b"\xff\xd8\xff\xdb\x00C", "image/jpeg"),
        (b"\xff\xd8\xff\xe1\x00\x10Exif", "image/jpeg"),
        (b"GIF87a\x01\x00", "image/gif"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"RIFF\x1a\x00\x00\x00WEBPVP8L", "image/webp"),
        (b"BM\x36\x00\x00\x00", "image/bmp"),
        (b"RIFF\x1a\x00\x00\x00WAVEfmt ", "image/jpeg"),  # RIFF but not WEBP: Ollama's fallback
        (b"\x89PNX", "image/jpeg"),
        (b"", "image/jpeg"),
        (b"plain text", "image/jpeg"),
    ],
)
def test_image_mime_sniffing(raw: bytes, mime: str) -> None:
    data = b64(raw)
    assert image_data_uri(data) == f"data:{mime};base64,{data}"


@pytest.mark.parametrize(
    "prefix",
    [
        "data:image/png;base64,",
        "data:image/jpeg;base64,",
        "data:;base64,",
        "data:application/octet-stream;base64,",
    ],
)
def test_data_uri_prefix_stripped_and_mime_resniffed(prefix: str) -> None:
    png = b64(b"\x89PNG\r\n\x1a\n1234")
    assert image_data_uri(prefix + png) == f"data:image/png;base64,{png}"


def test_surrounding_whitespace_trimmed() -> None:
    gif = b64(b"GIF89a....")
    assert image_data_uri(f"  {gif}\n") == f"data:image/gif;base64,{gif}"


@pytest.mark.parametrize(
    "bad",
    [
        "not base64!!",
        "abc",  # wrong padding
        "YWJj=ZGVm",  # data after padding
        "data:image/png;base64,@@@@",
        "iVBORw0KGgo",  # padding missing
        "aGVsbG8gd29ybGQ=\nxyz",
    ],
)
def test_invalid_base64_is_400(bad: str) -> None:
    with pytest.raises(ProxyError) as info:
        image_data_uri(bad)
    assert info.value.status == 400
    assert info.value.message.startswith("illegal base64 data in image: ")


def test_url_safe_base64_rejected() -> None:
    raw = b"\xff\xd8\xff\xfe\xfb\xff"  # encodes with + and /
    standard = b64(raw)
    assert "+" in standard or "/" in standard
    urlsafe = base64.urlsafe_b64encode(raw).decode()
    with pytest.raises(ProxyError):
        image_data_uri(urlsafe)


def _messages(*raw: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    ignored: list[str] = []
    out = ollama_to_openai_messages([Message.model_validate(m) for m in raw], ignored)
    return out, ignored


def test_tool_result_ids_follow_explicit_id_even_when_unknown() -> None:
    out, _ = _messages(
        {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": {}}}]},
        {"role": "tool", "content": "x", "tool_call_id": "elsewhere"},
        {"role": "tool", "content": "y"},
    )
    assert out[1]["tool_call_id"] == "elsewhere"
    assert out[2]["tool_call_id"] == "call_0_0"  # the pending call is still unanswered


def test_explicit_result_id_consumes_its_call() -> None:
    out, _ = _messages(
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "A", "function": {"name": "f", "arguments": {}}},
                {"id": "B", "function": {"name": "f", "arguments": {}}},
            ],
        },
        {"role": "tool", "content": "b", "tool_call_id": "B"},
        {"role": "tool", "content": "a", "tool_name": "f"},
    )
    assert [m["tool_call_id"] for m in out[1:]] == ["B", "A"]


def test_more_results_than_calls() -> None:
    out, _ = _messages(
        {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": {}}}]},
        {"role": "tool", "content": "1", "tool_name": "f"},
        {"role": "tool", "content": "2", "tool_name": "f"},
    )
    assert [m["tool_call_id"] for m in out[1:]] == ["call_0_0", "call_2_result"]


def test_new_assistant_turn_forgets_unanswered_calls() -> None:
    out, _ = _messages(
        {"role": "assistant", "tool_calls": [{"function": {"name": "old", "arguments": {}}}]},
        {"role": "assistant", "tool_calls": [{"function": {"name": "new", "arguments": {}}}]},
        {"role": "tool", "content": "r", "tool_name": "old"},
    )
    assert out[2]["tool_call_id"] == "call_1_0"


def test_tool_call_arguments_keep_key_order_and_unicode() -> None:
    out, _ = _messages(
        {
            "role": "assistant",
            "tool_calls": [
                {"function": {"name": "f", "arguments": {"z": 1, "a": "é", "m": [1, {"b": None}]}}}
            ],
        },
    )
    assert out[0]["tool_calls"][0]["function"]["arguments"] == '{"z":1,"a":"é","m":[1,{"b":null}]}'


def test_system_message_images_are_sent() -> None:
    png = b64(b"\x89PNG\r\n\x1a\n")
    out, ignored = _messages({"role": "system", "content": "s", "images": [png]})
    assert out[0]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert ignored == []


def test_thinking_reported_once_for_many_messages() -> None:
    _, ignored = _messages(
        {"role": "assistant", "content": "a", "thinking": "t1"},
        {"role": "assistant", "content": "b", "thinking": "t2"},
        {"role": "user", "content": "c", "thinking": "users do not think"},
    )
    assert ignored == ["messages[].thinking (OpenAI chat has no field for earlier reasoning)"]


def test_generate_invalid_image_is_400() -> None:
    with pytest.raises(ProxyError) as info:
        translate("generate", "openai", {"model": "m", "prompt": "p", "images": ["%%%"]})
    assert info.value.status == 400


def test_generate_raw_skips_image_decoding() -> None:
    breq = translate("generate", "generic", {"model": "m", "prompt": "p", "raw": True, "images": ["%%%"]})
    assert breq.endpoint == "completions"
    assert "images (raw and suffix completions take text only)" in breq.ignored


def test_generate_empty_system_is_not_sent() -> None:
    breq = translate("generate", "generic", {"model": "m", "prompt": "p", "system": ""})
    assert breq.payload["messages"] == [{"role": "user", "content": "p"}]


@pytest.mark.parametrize("profile", ["openai", "vllm", "llamacpp", "openrouter", "generic"])
def test_raw_generate_never_sends_chat_only_fields(profile: str) -> None:
    breq = translate(
        "generate",
        profile,
        {
            "model": "m",
            "prompt": "p",
            "raw": True,
            "think": "high",
            "logprobs": True,
            "top_logprobs": 2,
            "options": {"num_predict": 9},
        },
    )
    assert breq.endpoint == "completions"
    for key in (
        "messages",
        "max_completion_tokens",
        "top_logprobs",
        "reasoning_effort",
        "chat_template_kwargs",
        "reasoning",
    ):
        assert key not in breq.payload
    assert breq.payload["max_tokens"] == 9
    assert breq.payload["logprobs"] == 2


@pytest.mark.parametrize("profile", ["vllm", "llamacpp", "openrouter"])
def test_suffix_unsupported_profiles(profile: str) -> None:
    with pytest.raises(ProxyError) as info:
        translate("generate", profile, {"model": "qwen2.5-coder:7b", "prompt": "a", "suffix": "b"})
    assert (info.value.status, info.value.message) == (
        400,
        "registry.ollama.ai/library/qwen2.5-coder:7b does not support insert",
    )


@pytest.mark.parametrize("profile", ["vllm", "llamacpp", "openrouter"])
def test_raw_without_suffix_allowed_everywhere(profile: str) -> None:
    breq = translate("generate", profile, {"model": "m", "prompt": "a", "raw": True, "stream": False})
    assert breq.endpoint == "completions"
    if profile == "llamacpp":  # always streamed from the backend, so a client that leaves stops it
        assert breq.payload == {
            "model": "b",
            "stream": True,
            "stream_options": {"include_usage": True},
            "prompt": "a",
        }
    else:
        assert breq.payload == {"model": "b", "stream": False, "prompt": "a"}


def test_streaming_generate_asks_for_usage() -> None:
    breq = translate("generate", "llamacpp", {"model": "m", "prompt": "a", "raw": True})
    assert breq.payload["stream"] is True
    assert breq.payload["stream_options"] == {"include_usage": True}
