"""StreamTranslator beyond the golden vectors: errors, malformed input, state and exact metrics."""

from __future__ import annotations

import json

import pytest

from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.translate.response import Clock, StreamTranslator
from tests.unit.helpers import MS, run_stream, stream_clock


def chunk(**delta: object) -> str:
    return json.dumps({"choices": [{"index": 0, "delta": delta}]})


def finish_chunk(reason: str = "stop") -> str:
    return json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]})


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            {"error": {"message": "an error was encountered", "type": "server_error", "code": 500}},
            "backend error: an error was encountered",
        ),
        ({"error": "plain text failure"}, "backend error: plain text failure"),
        ({"error": {"code": 500}}, "backend error: "),
    ],
)
def test_mid_stream_error_event_raises(event: dict[str, object], message: str) -> None:
    translator = StreamTranslator("chat", "m", stream_clock())
    assert len(translator.feed(chunk(content="can"), 10 * MS)) == 1
    with pytest.raises(ProxyError) as info:
        translator.feed(json.dumps(event), 20 * MS)
    assert info.value.status == 502
    assert info.value.message.startswith(message)
    assert len(info.value.message) > len("backend error: ")
    assert translator.complete is False


def test_error_key_null_is_not_an_error() -> None:
    translator = StreamTranslator("chat", "m", stream_clock())
    lines = translator.feed(json.dumps({"error": None, "choices": [{"delta": {"content": "x"}}]}), MS)
    assert lines[0]["message"]["content"] == "x"


@pytest.mark.parametrize(
    "data",
    [
        "{not json",
        "",
        "[1, 2]",
        '"just a string"',
        '{"choices": [null]}',
        '{"choices": ["x"]}',
        '{"choices": {"0": {"delta": {}}}}',
        '{"choices": [{"delta": "text"}]}',
    ],
)
def test_malformed_data_is_a_502(data: str) -> None:
    translator = StreamTranslator("chat", "m", stream_clock())
    with pytest.raises(ProxyError) as info:
        translator.feed(data, MS)
    assert info.value.status == 502
    assert info.value.message.startswith("backend sent malformed stream data")


def test_malformed_message_truncates_long_data() -> None:
    translator = StreamTranslator("chat", "m", stream_clock())
    with pytest.raises(ProxyError) as info:
        translator.feed("x" * 1000, MS)
    assert len(info.value.message) < 260


def test_invalid_tool_arguments_fail_at_finish() -> None:
    translator = StreamTranslator("chat", "m", stream_clock())
    frag = {"index": 0, "id": "c", "function": {"name": "f", "arguments": '{"a": '}}
    assert translator.feed(chunk(tool_calls=[frag]), MS) == []
    translator.feed(finish_chunk("tool_calls"), 2 * MS)
    with pytest.raises(ProxyError) as info:
        translator.finish(3 * MS)
    assert info.value.status == 502
    assert "invalid JSON arguments for tool call 'f'" in info.value.message


def test_non_object_tool_arguments_fail_at_finish() -> None:
    translator = StreamTranslator("chat", "m", stream_clock())
    translator.feed(chunk(tool_calls=[{"index": 0, "function": {"name": "f", "arguments": "[1]"}}]), MS)
    with pytest.raises(ProxyError, match="non-object arguments for tool call 'f'"):
        translator.finish(2 * MS)


def test_done_marks_finished_and_complete() -> None:
    translator = StreamTranslator("chat", "m", stream_clock())
    assert translator.feed("[DONE]", MS) == []
    assert translator.finished is True
    assert translator.complete is True
    assert translator.finish_reason is None


def test_finish_reason_without_done_is_complete_but_not_finished() -> None:
    translator = StreamTranslator("chat", "m", stream_clock())
    translator.feed(finish_chunk("length"), MS)
    assert translator.complete is True
    assert translator.finished is False
    assert translator.finish_reason == "length"


def test_fresh_translator_is_not_complete() -> None:
    translator = StreamTranslator("generate", "m", stream_clock())
    assert translator.complete is False
    translator.feed(chunk(content="partial"), MS)
    assert translator.complete is False


def test_usage_chunk_after_finish_is_used() -> None:
    translator, lines = run_stream(
        "chat",
        "m",
        [
            chunk(content="a"),
            finish_chunk(),
            json.dumps({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 9}}),
            "[DONE]",
        ],
    )
    assert lines[-1]["prompt_eval_count"] == 3
    assert lines[-1]["eval_count"] == 9
    assert translator.usage == {"prompt_tokens": 3, "completion_tokens": 9}


def test_model_is_echoed_not_backend_id() -> None:
    _, lines = run_stream(
        "chat",
        "llama3.2",
        [json.dumps({"model": "Qwen/Qwen3-8B", "choices": [{"delta": {"content": "x"}}]}), "[DONE]"],
    )
    assert {line["model"] for line in lines} == {"llama3.2"}


def test_every_chat_line_has_role_and_no_error_key() -> None:
    events = [
        chunk(reasoning_content="r"),
        chunk(content="c"),
        chunk(tool_calls=[{"index": 0, "id": "i", "function": {"name": "f", "arguments": "{}"}}]),
        finish_chunk("tool_calls"),
        "[DONE]",
    ]
    _, lines = run_stream("chat", "m", events)
    assert all(line["message"]["role"] == "assistant" for line in lines)
    assert all(isinstance(line["message"]["content"], str) for line in lines)
    assert not any("error" in line for line in lines)
    # tool calls come in one done:false line right before the final line
    assert "tool_calls" in lines[-2]["message"]
    assert "tool_calls" not in lines[-1]["message"]


def test_tool_call_without_index_gets_next_slot() -> None:
    events = [
        chunk(tool_calls=[{"id": "a", "function": {"name": "f", "arguments": "{}"}}]),
        chunk(tool_calls=[{"id": "b", "function": {"name": "g", "arguments": "{}"}}]),
        finish_chunk("tool_calls"),
    ]
    _, lines = run_stream("chat", "m", events)
    calls = lines[0]["message"]["tool_calls"]
    assert [(c["id"], c["function"]["name"], c["function"]["index"]) for c in calls] == [
        ("a", "f", 0),
        ("b", "g", 1),
    ]


def test_later_fragment_id_replaces_empty() -> None:
    events = [
        chunk(tool_calls=[{"index": 0, "function": {"name": "f", "arguments": "{"}}]),
        chunk(tool_calls=[{"index": 0, "id": "late", "function": {"arguments": "}"}}]),
        finish_chunk("tool_calls"),
    ]
    _, lines = run_stream("chat", "m", events)
    assert lines[0]["message"]["tool_calls"] == [
        {"id": "late", "function": {"index": 0, "name": "f", "arguments": {}}}
    ]


# ---- metrics, with exact clock values ------------------------------------------------------------


def test_metrics_measured_by_clock() -> None:
    clock = Clock(start=0, sent=1 * MS, headers=5 * MS)
    translator = StreamTranslator("chat", "m", clock)
    translator.feed(chunk(content="a"), 20 * MS)
    translator.feed(chunk(content="b"), 30 * MS)
    translator.feed(chunk(content="c"), 70 * MS)
    translator.feed(finish_chunk(), 71 * MS)
    translator.feed(
        json.dumps({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3}}), 72 * MS
    )
    final = translator.finish(80 * MS)[-1]
    assert final["total_duration"] == 80 * MS
    assert final["load_duration"] == 5 * MS
    assert final["prompt_eval_duration"] == 15 * MS
    assert final["eval_duration"] == 50 * MS
    assert final["prompt_eval_count"] == 12
    assert final["eval_count"] == 3
    assert clock.first_token == 20 * MS
    assert clock.last_token == 70 * MS


def test_metrics_from_llamacpp_timings() -> None:
    clock = Clock(start=0, sent=1 * MS, headers=5 * MS)
    translator = StreamTranslator("chat", "m", clock)
    translator.feed(chunk(content="a"), 20 * MS)
    translator.feed(chunk(content="b"), 30 * MS)
    timings = {"cache_n": 36, "prompt_n": 1, "prompt_ms": 11.609, "predicted_n": 8, "predicted_ms": 79.123}
    translator.feed(
        json.dumps({"choices": [{"delta": {}, "finish_reason": "stop"}], "timings": timings}), 31 * MS
    )
    final = translator.finish(40 * MS)[-1]
    assert final["prompt_eval_duration"] == 11_609_000
    assert final["eval_duration"] == 79_123_000
    assert final["prompt_eval_count"] == 37
    assert final["eval_count"] == 8
    assert final["load_duration"] == 5 * MS
    assert final["total_duration"] == 40 * MS


def test_tool_call_fragments_count_as_generated_tokens() -> None:
    # §10.2: one thinking delta then only tool-call fragments; eval_duration must not be lost
    clock = Clock(start=0, sent=1 * MS, headers=2 * MS)
    translator = StreamTranslator("chat", "m", clock)
    translator.feed(chunk(reasoning_content="Need weather."), 10 * MS)
    translator.feed(
        chunk(tool_calls=[{"index": 0, "id": "c", "function": {"name": "f", "arguments": "{"}}]), 20 * MS
    )
    translator.feed(chunk(tool_calls=[{"index": 0, "function": {"arguments": "}"}}]), 60 * MS)
    translator.feed(finish_chunk("tool_calls"), 61 * MS)
    translator.feed(
        json.dumps({"choices": [], "usage": {"prompt_tokens": 120, "completion_tokens": 22}}), 62 * MS
    )
    final = translator.finish(63 * MS)[-1]
    assert final["eval_count"] == 22
    assert final["eval_duration"] == 50 * MS
    assert final["prompt_eval_duration"] == 8 * MS


def test_single_chunk_answer_still_has_positive_eval_duration() -> None:
    clock = Clock(start=0, sent=1 * MS, headers=2 * MS)
    translator = StreamTranslator("chat", "m", clock)
    translator.feed(chunk(content="whole answer"), 10 * MS)
    translator.feed(finish_chunk(), 10 * MS)
    translator.feed(
        json.dumps({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 40}}), 25 * MS
    )
    final = translator.finish(30 * MS)[-1]
    assert final["eval_count"] == 40
    assert final["eval_duration"] == 20 * MS


def test_metrics_without_any_token() -> None:
    clock = Clock(start=0, sent=1 * MS, headers=2 * MS)
    translator = StreamTranslator("chat", "m", clock)
    translator.feed(finish_chunk(), 5 * MS)
    final = translator.finish(9 * MS)[-1]
    assert final["total_duration"] == 9 * MS
    assert final["load_duration"] == 1 * MS
    assert "prompt_eval_duration" not in final
    assert final["eval_duration"] == 8 * MS
    assert "eval_count" not in final
    assert "prompt_eval_count" not in final


def test_total_duration_is_at_least_one() -> None:
    translator = StreamTranslator("chat", "m", Clock(start=100))
    translator.feed("[DONE]", 100)
    final = translator.finish(100)[-1]
    assert final["total_duration"] == 1
    assert all(type(final[k]) is int for k in final if k.endswith("_duration"))
