"""Golden vectors: tests/unit/golden/*.json, including the worked examples of reference §10.1 and §10.2."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.translate.response import Clock, openai_to_ollama_completion
from ollama_openai_proxy.translate.sse import SSEDecoder
from tests.unit.helpers import MS, golden, run_stream, strip_volatile, translate

REQUEST_CASES = golden("request.json")["cases"]
STREAM_CASES = golden("stream.json")["cases"]
RESPONSE_CASES = golden("response.json")["cases"]


def _json_roundtrip(value: Any) -> Any:
    """What the backend receives: the payload serialised the way the client sends it."""
    return orjson.loads(orjson.dumps(value))


def test_reference_10_1_tool_round_trip() -> None:
    case = golden("ref_10_1_tool_round_trip.json")
    breq = translate(case["kind"], case["profile"], case["request"], case["backend_model"])
    assert breq.endpoint == case["expected"]["endpoint"]
    assert _json_roundtrip(breq.payload) == case["expected"]["payload"]
    assert breq.ignored == case["expected"]["ignored"]
    # arguments are compact JSON text, byte for byte
    calls = breq.payload["messages"][1]["tool_calls"]
    assert [c["function"]["arguments"] for c in calls] == ['{"city":"Paris"}', '{"city":"Rome"}']


def test_reference_10_2_stream_tool_call() -> None:
    case = golden("ref_10_2_stream_tool_call.json")
    events = SSEDecoder().feed(case["sse"].encode())
    assert events[-1] == "[DONE]"
    assert len(events) == 7
    translator, lines = run_stream(case["kind"], case["model"], events)
    assert translator.complete is case["complete"]
    assert [strip_volatile(line) for line in lines[:-1]] == case["expected"][:-1]
    assert strip_volatile(lines[-1], case["durations"]) == case["expected"][-1]


@pytest.mark.parametrize("case", REQUEST_CASES, ids=[c["name"] for c in REQUEST_CASES])
def test_request_golden(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(ProxyError) as info:
            translate(case["kind"], case["profile"], case["request"], case["backend_model"])
        assert info.value.status == case["error"]["status"]
        if "message" in case["error"]:
            assert info.value.message == case["error"]["message"]
        else:
            assert info.value.message.startswith(case["error"]["message_prefix"])
        return
    breq = translate(case["kind"], case["profile"], case["request"], case["backend_model"])
    assert breq.endpoint == case["expected"]["endpoint"]
    assert _json_roundtrip(breq.payload) == case["expected"]["payload"]
    assert breq.ignored == case["expected"]["ignored"]


@pytest.mark.parametrize("case", STREAM_CASES, ids=[c["name"] for c in STREAM_CASES])
def test_stream_golden(case: dict[str, Any]) -> None:
    translator, lines = run_stream(case["kind"], case["model"], case["events"])
    assert translator.complete is case["complete"]
    assert len(lines) == len(case["expected"])
    for got, want in zip(lines[:-1], case["expected"][:-1], strict=True):
        assert strip_volatile(got, []) == want
    durations = case["durations"] if case["complete"] else []
    assert strip_volatile(lines[-1], durations) == case["expected"][-1]
    if case["complete"]:
        assert lines[-1]["done"] is True
        assert all(line["done"] is False for line in lines[:-1])
    else:
        assert all(line["done"] is False for line in lines)


@pytest.mark.parametrize("case", STREAM_CASES, ids=[c["name"] for c in STREAM_CASES])
def test_stream_golden_through_sse_bytes(case: dict[str, Any]) -> None:
    """The same events framed as SSE (CRLF, a comment, byte-by-byte) decode to the same payloads."""
    framed = b": keep-alive\r\n\r\n" + b"".join(
        b"event: message\r\ndata: " + e.encode() + b"\r\nid: 1\r\n\r\n" for e in case["events"]
    )
    decoder = SSEDecoder()
    decoded = [e for i in range(len(framed)) for e in decoder.feed(framed[i : i + 1])]
    assert decoded + decoder.close() == case["events"]


@pytest.mark.parametrize("case", RESPONSE_CASES, ids=[c["name"] for c in RESPONSE_CASES])
def test_response_golden(case: dict[str, Any]) -> None:
    clock = Clock(start=0, sent=2 * MS)
    out = openai_to_ollama_completion(case["kind"], "m", case["response"], clock, 50 * MS)
    assert strip_volatile(out) == case["expected"]
    assert out["total_duration"] == 50 * MS
    assert out["load_duration"] == 2 * MS
