"""Response helpers: done_reason, tool-call conversion, logprobs, metrics and load replies."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from ollama_openai_proxy.serving.chat import now_rfc3339
from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.translate.response import (
    Clock,
    done_reason,
    error_line,
    line,
    load_reply,
    metrics,
    openai_to_ollama_completion,
    openai_to_ollama_logprobs,
    openai_to_ollama_tool_calls,
    parse_arguments,
)
from tests.unit.helpers import MS, RFC3339


@pytest.mark.parametrize(
    ("finish", "reason"),
    [
        (None, "stop"),
        ("", "stop"),
        ("stop", "stop"),
        ("length", "length"),
        ("tool_calls", "stop"),
        ("function_call", "stop"),
        ("content_filter", "content_filter"),
        ("eos", "eos"),
    ],
)
def test_done_reason(finish: str | None, reason: str) -> None:
    assert done_reason(finish) == reason


@pytest.mark.parametrize(("text", "value"), [("", {}), ("  ", {}), ('{"a": [1]}', {"a": [1]}), ("{}", {})])
def test_parse_arguments(text: str, value: dict[str, Any]) -> None:
    assert parse_arguments("f", text) == value


@pytest.mark.parametrize(
    ("text", "kind"),
    [("{", "invalid JSON"), ("[1]", "non-object"), ('"s"', "non-object"), ("null", "non-object")],
)
def test_parse_arguments_errors(text: str, kind: str) -> None:
    with pytest.raises(ProxyError) as info:
        parse_arguments("f", text)
    assert info.value.status == 502
    assert info.value.message.startswith(f"backend returned {kind} arguments for tool call 'f': ")


def test_ollama_tool_calls() -> None:
    calls = [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}},
        {"type": "function", "function": {"name": "g", "arguments": {"y": 2}}},
        {"id": "", "function": {"name": "h"}},
        {},
    ]
    assert openai_to_ollama_tool_calls(calls) == [
        {"id": "a", "function": {"index": 0, "name": "f", "arguments": {"x": 1}}},
        {"function": {"index": 1, "name": "g", "arguments": {"y": 2}}},
        {"function": {"index": 2, "name": "h", "arguments": {}}},
        {"function": {"index": 3, "name": "", "arguments": {}}},
    ]


def test_convert_logprobs_shapes() -> None:
    assert openai_to_ollama_logprobs(None) == []
    assert openai_to_ollama_logprobs([]) == []
    assert openai_to_ollama_logprobs({"content": None, "refusal": None}) == []
    assert openai_to_ollama_logprobs(
        {"content": [{"token": "a", "logprob": -1.0, "bytes": None, "top_logprobs": []}]}
    ) == [{"token": "a", "logprob": -1.0}]
    legacy = {"tokens": ["a", "b"], "token_logprobs": [-0.5], "top_logprobs": [{"a": -0.5}, None]}
    assert openai_to_ollama_logprobs(legacy) == [
        {"token": "a", "logprob": -0.5, "top_logprobs": [{"token": "a", "logprob": -0.5}]},
        {"token": "b", "logprob": 0.0},
    ]


def test_now_rfc3339() -> None:
    assert RFC3339.match(now_rfc3339())


def test_line_and_error_line() -> None:
    assert line({"a": "é"}) == '{"a":"é"}\n'.encode()
    assert error_line('quote " and \n newline') == b'{"error":"quote \\" and \\n newline"}\n'
    assert orjson.loads(error_line("x")) == {"error": "x"}


@pytest.mark.parametrize("kind", ["chat", "generate"])
@pytest.mark.parametrize("reason", ["load", "unload"])
def test_load_reply(kind: str, reason: str) -> None:
    out = load_reply(kind, "llama3.2", reason)  # type: ignore[arg-type]
    assert RFC3339.match(out.pop("created_at"))
    body = {"message": {"role": "assistant", "content": ""}} if kind == "chat" else {"response": ""}
    assert out == {"model": "llama3.2", **body, "done": True, "done_reason": reason}


def test_metrics_non_streamed() -> None:
    clock = Clock(start=0, sent=3 * MS)
    assert metrics(clock, 100 * MS, {"prompt_tokens": 10, "completion_tokens": 20}, None) == {
        "total_duration": 100 * MS,
        "load_duration": 3 * MS,
        "prompt_eval_count": 10,
        "eval_count": 20,
        "eval_duration": 97 * MS,
    }


def test_metrics_non_streamed_with_timings() -> None:
    clock = Clock(start=0, sent=3 * MS)
    timings = {"cache_n": 0, "prompt_n": 37, "prompt_ms": 175.944, "predicted_n": 14, "predicted_ms": 149.009}
    assert metrics(clock, 400 * MS, None, timings) == {
        "total_duration": 400 * MS,
        "load_duration": 3 * MS,
        "prompt_eval_count": 37,
        "prompt_eval_duration": 175_944_000,
        "eval_count": 14,
        "eval_duration": 149_009_000,
    }


def test_metrics_zero_usage_omitted() -> None:
    out = metrics(Clock(start=0, sent=MS), 5 * MS, {"prompt_tokens": 0, "completion_tokens": 0}, None)
    assert "prompt_eval_count" not in out
    assert "eval_count" not in out


def test_completion_refusal_does_not_override_content() -> None:
    data = {
        "choices": [
            {"message": {"role": "assistant", "content": "text", "refusal": "no"}, "finish_reason": "stop"}
        ]
    }
    out = openai_to_ollama_completion("chat", "m", data, Clock(start=0, sent=MS), 2 * MS)
    assert out["message"]["content"] == "text"


def test_completion_uses_first_choice_only() -> None:
    data = {
        "choices": [{"index": 0, "message": {"content": "one"}}, {"index": 1, "message": {"content": "two"}}]
    }
    out = openai_to_ollama_completion("generate", "m", data, Clock(start=0, sent=MS), 2 * MS)
    assert out["response"] == "one"


def test_completion_invalid_tool_arguments() -> None:
    data = {"choices": [{"message": {"tool_calls": [{"function": {"name": "f", "arguments": "{oops"}}]}}]}
    with pytest.raises(ProxyError) as info:
        openai_to_ollama_completion("chat", "m", data, Clock(start=0), MS)
    assert info.value.status == 502
