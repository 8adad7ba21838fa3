"""protocol.ollama request models: what is accepted, what is rejected and with which message."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from ollama_openai_proxy.protocol.ollama import (
    ChatRequest,
    CopyRequest,
    EmbeddingsRequest,
    EmbedRequest,
    GenerateRequest,
    Message,
    NamedRequest,
)


def error_of(model: type[BaseModel], data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return str(info.value.errors()[0]["msg"]).removeprefix("Value error, ")


@pytest.mark.parametrize("value", [True, False, "low", "medium", "high", "max", None])
@pytest.mark.parametrize("model", [ChatRequest, GenerateRequest])
def test_think_valid(model: type[ChatRequest | GenerateRequest], value: Any) -> None:
    assert model.model_validate({"model": "m", "think": value}).think == value


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("extreme", '"extreme"'),
        ("HIGH", '"HIGH"'),
        ("true", '"true"'),
        ("", '""'),
        (1, "1"),
        (0, "0"),
        ([], "[]"),
        ({"level": "high"}, '{"level":"high"}'),
    ],
)
@pytest.mark.parametrize("model", [ChatRequest, GenerateRequest])
def test_think_invalid(model: type[ChatRequest | GenerateRequest], value: Any, shown: str) -> None:
    assert error_of(model, {"model": "m", "think": value}) == (
        f'invalid think value: {shown} (must be "high", "medium", "low", "max", true, or false)'
    )


def test_think_bool_stays_bool() -> None:
    assert ChatRequest.model_validate({"think": True}).think is True
    assert ChatRequest.model_validate({"think": False}).think is False


@pytest.mark.parametrize("value", [0, 1, 20])
def test_top_logprobs_in_range(value: int) -> None:
    assert GenerateRequest.model_validate({"top_logprobs": value}).top_logprobs == value


@pytest.mark.parametrize("value", [-1, 21, 100])
@pytest.mark.parametrize("model", [ChatRequest, GenerateRequest])
def test_top_logprobs_out_of_range(model: type[ChatRequest | GenerateRequest], value: int) -> None:
    assert error_of(model, {"top_logprobs": value}) == "top_logprobs must be between 0 and 20"


@pytest.mark.parametrize(
    ("extra"),
    [{"system": "s"}, {"template": "{{ .Prompt }}"}, {"context": [1, 2]}],
)
def test_raw_with_template_system_or_context(extra: dict[str, Any]) -> None:
    assert error_of(GenerateRequest, {"model": "m", "prompt": "p", "raw": True, **extra}) == (
        "raw mode does not support template, system, or context"
    )


@pytest.mark.parametrize("extra", [{"system": ""}, {"template": ""}, {"context": []}, {"system": None}])
def test_raw_with_empty_template_system_context_is_fine(extra: dict[str, Any]) -> None:
    assert GenerateRequest.model_validate({"prompt": "p", "raw": True, **extra}).raw is True


def test_system_without_raw_is_fine() -> None:
    assert GenerateRequest.model_validate({"prompt": "p", "raw": False, "system": "s"}).system == "s"


@pytest.mark.parametrize(
    ("value", "want"),
    [("json", "json"), ("", None), (None, None), ({"type": "object"}, {"type": "object"}), ({}, None)],
)
def test_format_accepted(value: Any, want: Any) -> None:
    assert ChatRequest.model_validate({"format": value}).format == want


@pytest.mark.parametrize(
    ("value", "shown"),
    [("xml", '"xml"'), ("JSON", '"JSON"'), (1, "1"), ([1], "[1]"), (True, "true"), (1.5, "1.5")],
)
@pytest.mark.parametrize("model", [ChatRequest, GenerateRequest])
def test_format_rejected(model: type[ChatRequest | GenerateRequest], value: Any, shown: str) -> None:
    assert error_of(model, {"format": value}) == (
        f'invalid format: {shown}; expected "json" or a valid JSON Schema object'
    )


@pytest.mark.parametrize(
    ("value", "want"), [("hello", "hello"), (["a", "b"], ["a", "b"]), ([], []), (None, None), ("", "")]
)
def test_embed_input_valid(value: Any, want: Any) -> None:
    assert EmbedRequest.model_validate({"model": "m", "input": value}).input == want


@pytest.mark.parametrize("value", [1, 1.5, True, {"a": "b"}, ["a", 1], [["a"]], [None]])
def test_embed_input_invalid(value: Any) -> None:
    assert error_of(EmbedRequest, {"model": "m", "input": value}) == "invalid input type"


@pytest.mark.parametrize("value", [0, -3])
def test_embed_dimensions_must_be_positive(value: int) -> None:
    with pytest.raises(ValidationError) as info:
        EmbedRequest.model_validate({"dimensions": value})
    assert info.value.errors()[0]["loc"] == ("dimensions",)
    assert info.value.errors()[0]["type"] == "greater_than"


def test_stream_default_and_explicit() -> None:
    assert ChatRequest.model_validate({}).streaming is True
    assert ChatRequest.model_validate({"stream": None}).streaming is True
    assert ChatRequest.model_validate({"stream": True}).streaming is True
    assert ChatRequest.model_validate({"stream": False}).streaming is False
    assert GenerateRequest.model_validate({"stream": False}).streaming is False


def test_unknown_fields_sorted_and_known_excluded() -> None:
    req = ChatRequest.model_validate(
        {"model": "m", "messages": [], "zz": 1, "_debug_render_only": True, "aa": None, "keep_alive": 0}
    )
    assert req.unknown_fields() == ["_debug_render_only", "aa", "zz"]
    assert GenerateRequest.model_validate({"width": 1, "height": 2, "steps": 3}).unknown_fields() == [
        "height",
        "steps",
        "width",
    ]
    assert EmbedRequest.model_validate({"model": "m"}).unknown_fields() == []
    assert EmbeddingsRequest.model_validate({"model": "m", "x": 1}).unknown_fields() == ["x"]


def test_python_client_shapes_accepted() -> None:
    # ollama-python: tools [], options null, content omitted on assistant tool-call messages
    req = ChatRequest.model_validate(
        {
            "model": "m",
            "stream": False,
            "tools": [],
            "options": None,
            "format": None,
            "keep_alive": None,
            "messages": [
                {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]}
            ],
        }
    )
    assert req.tools == []
    assert req.messages is not None
    assert req.messages[0].content == ""
    assert req.messages[0].tool_calls is not None
    assert req.messages[0].tool_calls[0].function.arguments == {"a": 1}
    assert req.messages[0].tool_calls[0].id is None


def test_message_role_lowercased_and_required() -> None:
    assert Message.model_validate({"role": "ASSISTANT"}).role == "assistant"
    with pytest.raises(ValidationError):
        Message.model_validate({"content": "x"})


def test_message_content_parts_array_rejected() -> None:
    with pytest.raises(ValidationError):
        Message.model_validate({"role": "user", "content": [{"type": "text", "text": "hi"}]})


def test_tool_call_arguments_string_and_default() -> None:
    msg = Message.model_validate(
        {
            "role": "assistant",
            "tool_calls": [{"function": {"name": "f", "arguments": '{"a":1}'}}, {"function": {"name": "g"}}],
        }
    )
    assert msg.tool_calls is not None
    assert msg.tool_calls[0].function.arguments == '{"a":1}'
    assert msg.tool_calls[1].function.arguments == {}


@pytest.mark.parametrize(
    ("value", "want"),
    [(300, 300.0), (1.5, 1.5), (-1, -1.0), ("5m", 300.0), ("0", 0.0), ("-1m", -60.0), (1e300, -1.0)],
)
def test_keep_alive_is_read_as_seconds(value: Any, want: float) -> None:
    assert ChatRequest.model_validate({"keep_alive": value}).keep_alive == want


def test_named_request_target() -> None:
    assert NamedRequest.model_validate({"name": "a"}).target == "a"
    assert NamedRequest.model_validate({"model": "b", "name": "a"}).target == "b"
    assert NamedRequest.model_validate({}).target == ""
    assert CopyRequest.model_validate({"source": "a", "destination": "b"}).destination == "b"


def test_generate_fields() -> None:
    req = GenerateRequest.model_validate({"model": "m", "prompt": None, "suffix": None, "images": None})
    assert (req.prompt, req.suffix, req.images) == (None, None, None)
    with pytest.raises(ValidationError):
        GenerateRequest.model_validate({"context": ["a"]})
