"""The pure pieces behind the backend quirks: tool-call assembly, reasoning and content parts, refused
fields read from 400 bodies, and the generate context encoding."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ollama_openai_proxy.translate import context
from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.translate.reasoning import ThinkSplitter, reasoning_of, split_parts
from ollama_openai_proxy.translate.rejections import JSON_OBJECT, OBJECT_SCHEMA, refused_field, reshape
from ollama_openai_proxy.translate.toolcalls import ToolCallAssembler

# --- tool calls ------------------------------------------------------------------------------------


def assemble(*fragments: dict[str, object]) -> list[tuple[str, str, str]]:
    calls = ToolCallAssembler()
    for f in fragments:
        calls.feed(f)
    return [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls.assembled()]


def test_new_id_under_the_same_index_is_a_new_call() -> None:
    assert assemble(
        {"index": 0, "id": "a", "function": {"name": "f", "arguments": "{"}},
        {"index": 0, "function": {"arguments": "}"}},
        {"index": 0, "id": "b", "function": {"name": "g", "arguments": "{}"}},
    ) == [("a", "f", "{}"), ("b", "g", "{}")]


def test_fragments_without_index_or_id_continue_the_last_call() -> None:
    assert assemble(
        {"id": "a", "function": {"name": "f"}},
        {"function": {"arguments": '{"x"'}},
        {"function": {"arguments": ": 1}"}},
    ) == [("a", "f", '{"x": 1}')]


def test_index_order_is_kept_when_every_call_has_its_own_index() -> None:
    assert [c[0] for c in assemble({"index": 1, "id": "b"}, {"index": 0, "id": "a"})] == ["a", "b"]


def test_malformed_fragments_are_skipped() -> None:
    assert assemble("junk", {"index": 0, "id": "a", "function": "not an object"}) == [("a", "", "")]  # type: ignore[arg-type]


# --- reasoning -------------------------------------------------------------------------------------


def test_parts_and_fields() -> None:
    notes: list[str] = []
    parts = [{"type": "thinking", "thinking": "t"}, {"type": "text", "text": "a"}, {"type": "audio"}, 3, "b"]
    assert split_parts(parts, notes) == ("ab", "t", True)
    assert notes == ["content part of type 'audio' ignored", "content part of type int ignored"]
    assert split_parts({"odd": 1}, notes)[0] == ""
    assert reasoning_of({"reasoning_details": [{"type": "reasoning.summary", "summary": "s"}]}, []) == "s"
    assert reasoning_of({"reasoning": [{"type": "text", "text": "r"}]}, []) == "r"
    assert reasoning_of({"reasoning_content": ""}, []) == ""


def split_all(pieces: list[str]) -> tuple[str, str]:
    splitter = ThinkSplitter()
    answer, thinking = "", ""
    for p in pieces:
        a, t = splitter.feed(p)
        answer, thinking = answer + a, thinking + t
    a, t = splitter.close()
    return answer + a, thinking + t


TEXTS = [
    "<think>why</think>\nanswer",
    "  \n<think>\nwhy</think>answer </think>",
    "plain answer <think>not reasoning</think>",
    "<thin",
    "<think>never closed",
    "",
    "<<think>",
]


@pytest.mark.parametrize("text", TEXTS)
@given(cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=8))
def test_think_markup_whatever_the_chunking(text: str, cuts: list[int]) -> None:
    points = sorted({min(c, len(text)) for c in cuts})
    pieces = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    assert split_all(pieces) == split_all([text])
    answer, thinking = split_all([text])
    if text.lstrip().startswith("<think>"):
        assert "<think>" not in answer
    else:
        assert (answer, thinking) == (text, "")


# --- refused fields -------------------------------------------------------------------------------

PAYLOAD = {"model": "m", "messages": [], "stream": True, "stream_options": {}, "top_k": 3, "max_tokens": 9}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"message": "Extra inputs are not permitted, field: \'stream_options\'"}', "stream_options"),
        (b'{"detail": [{"loc": ["body", "top_k"], "msg": "Extra inputs are not permitted"}]}', "top_k"),
        (b"unknown field `top_k`, expected one of `model`", "top_k"),
        (b'{"error": {"message": "Unrecognized request argument supplied: max_tokens"}}', "max_tokens"),
        (b'{"error": {"message": "Invalid.", "param": "top_k", "code": "unsupported_parameter"}}', "top_k"),
        (b'{"error": {"message": "top_k must be positive", "param": "top_k"}}', None),
        (b'{"error": {"message": "\'messages\' is not supported"}}', None),
        (b'{"error": {"message": "\'seed\' is not supported"}}', None),  # not in the payload
        (b"<html>502</html>", None),
    ],
)
def test_refused_field(body: bytes, field: str | None) -> None:
    assert refused_field(body, PAYLOAD) == field


def test_response_format_refusals() -> None:
    body = b"{\"error\": \"'response_format.type' must be 'json_schema' or 'text'\"}"
    assert refused_field(body, {**PAYLOAD, "response_format": {"type": "json_object"}}) == JSON_OBJECT
    assert refused_field(body, {**PAYLOAD, "response_format": {"type": "json_schema"}}) is None


def test_reshape() -> None:
    payload = {**PAYLOAD, "response_format": {"type": "json_object"}}
    out, changes = reshape(payload, {"stream_options", "max_tokens", JSON_OBJECT, "absent"})
    assert "stream_options" not in out and out["max_completion_tokens"] == 9 and "max_tokens" not in out
    assert out["response_format"] == OBJECT_SCHEMA
    assert len(changes) == 3
    assert payload["stream_options"] == {}  # the original is left alone
    assert reshape(PAYLOAD, set()) == (PAYLOAD, [])
    both, _ = reshape(PAYLOAD, {"max_tokens", "max_completion_tokens"})
    assert "max_tokens" not in both and "max_completion_tokens" not in both


# --- generate context ---------------------------------------------------------------------------------


@given(st.lists(st.tuples(st.sampled_from(["user", "assistant"]), st.text(max_size=200)), max_size=6))
def test_context_round_trip(turns: list[tuple[str, str]]) -> None:
    conversation = [{"role": r, "content": c} for r, c in turns]
    encoded = context.encode(conversation)
    assert all(type(v) is int and 0 <= v < 2**31 for v in encoded)
    assert context.decode(encoded) == conversation


def test_context_keeps_the_most_recent_text() -> None:
    old, new = "a" * context.MAX_TEXT, "b" * 10
    turns = context.decode(
        context.encode([{"role": "user", "content": old}, {"role": "assistant", "content": new}])
    )
    assert turns == [{"role": "assistant", "content": new}]
    turns = context.decode(context.encode([{"role": "assistant", "content": "c" * (context.MAX_TEXT + 5)}]))
    assert len(turns[0]["content"]) == context.MAX_TEXT


def test_context_rejects_what_it_did_not_make() -> None:
    good = context.encode([{"role": "user", "content": "hi"}])
    payload = orjson.dumps([{"role": "system", "content": "x"}])
    for bad in (
        [1, 2, 3],
        good[:-1],
        [*good, 0],
        [good[0], 2, *good[2:]],
        [*good[:4], *[v ^ 1 for v in good[4:]]],
    ):
        with pytest.raises(ProxyError) as info:
            context.decode(bad)
        assert info.value.status == 400
    assert context.decode([]) == []
    assert payload  # a well-formed list of other roles is refused too:
    import zlib
    from array import array

    data = zlib.compress(payload)
    packed = array("H")
    packed.frombytes(data + b"\0" * (len(data) % 2))
    forged = [context.MAGIC, context.VERSION, len(data), zlib.crc32(data) & 0x7FFFFFFF, *packed.tolist()]
    with pytest.raises(ProxyError):
        context.decode(forged)
