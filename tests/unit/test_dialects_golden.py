"""Golden vectors of the two dialect translations (tests/unit/golden/anthropic.json, responses.json):
requests into the native chat request, final answers and chunk streams back out, and error shapes."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from ollama_openai_proxy.protocol.anthropic import MessagesRequest
from ollama_openai_proxy.protocol.responses import ResponsesRequest
from ollama_openai_proxy.translate.anthropic.errors import anthropic_error
from ollama_openai_proxy.translate.anthropic.request import anthropic_to_ollama
from ollama_openai_proxy.translate.anthropic.response import ollama_to_anthropic
from ollama_openai_proxy.translate.anthropic.stream import MessagesStream
from ollama_openai_proxy.translate.errors import ProxyError, openai_error_body
from ollama_openai_proxy.translate.responses.request import responses_to_ollama
from ollama_openai_proxy.translate.responses.response import echoed_settings, ollama_to_responses
from ollama_openai_proxy.translate.responses.stream import ResponsesStream
from ollama_openai_proxy.translate.sse import SSEDecoder, encode_event
from tests.unit.helpers import golden

ANTHROPIC = golden("anthropic.json")
RESPONSES = golden("responses.json")
SETTINGS = echoed_settings(ResponsesRequest.model_validate(RESPONSES["settings_request"]))


def _names(cases: list[dict[str, Any]]) -> list[str]:
    return [c["name"] for c in cases]


def _json(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


def _check_request(case: dict[str, Any], model: type[MessagesRequest] | type[ResponsesRequest]) -> Any:
    if "invalid" in case:
        with pytest.raises(ValidationError) as info:
            model.model_validate(case["request"])
        assert [".".join(map(str, e["loc"])) for e in info.value.errors()][:1] == case["invalid"]
        return None
    req = model.model_validate(case["request"])
    translate = anthropic_to_ollama if isinstance(req, MessagesRequest) else responses_to_ollama
    if "error" in case:
        with pytest.raises(ProxyError) as err:
            translate(req)  # type: ignore[arg-type]
        assert (err.value.status, err.value.message) == (case["error"]["status"], case["error"]["message"])
        return None
    return translate(req)  # type: ignore[arg-type]


@pytest.mark.parametrize("case", ANTHROPIC["request"], ids=_names(ANTHROPIC["request"]))
def test_anthropic_request(case: dict[str, Any]) -> None:
    chat = _check_request(case, MessagesRequest)
    if chat is not None:
        assert _json(chat.model_dump(exclude_none=True)) == case["expected"]


@pytest.mark.parametrize("case", RESPONSES["request"], ids=_names(RESPONSES["request"]))
def test_responses_request(case: dict[str, Any]) -> None:
    translated = _check_request(case, ResponsesRequest)
    if translated is not None:
        # The native request as Ollama builds it: OpenAI's defaults fill what the request left out
        # (the proxy applies them below a virtual model's PARAMETERs, which Ollama cannot do).
        options = {**translated.defaults, **(translated.chat.options or {})}
        native = translated.chat.model_copy(update={"options": options or None})
        assert _json(native.model_dump(exclude_none=True)) == case["expected"]
        assert translated.ignored == case["ignored"]


@pytest.mark.parametrize("case", ANTHROPIC["response"], ids=_names(ANTHROPIC["response"]))
def test_anthropic_response(case: dict[str, Any]) -> None:
    assert _json(ollama_to_anthropic(case["ollama"], case["message_id"])) == case["expected"]


@pytest.mark.parametrize("case", RESPONSES["response"], ids=_names(RESPONSES["response"]))
def test_responses_response(case: dict[str, Any]) -> None:
    assert _json(ollama_to_responses(case["ollama"], "resp_0123", 1700000000, SETTINGS)) == case["expected"]


def _anthropic_events(case: dict[str, Any]) -> list[Any]:
    machine = MessagesStream("msg_0123", "m")
    events = [e for chunk in case["chunks"] for e in machine.feed(chunk)]
    if case["error"]:
        events += machine.error(*case["error"])
    return events


def _responses_events(case: dict[str, Any]) -> list[Any]:
    machine = ResponsesStream("resp_0123", 1700000000, "m", SETTINGS)
    events = [e for chunk in case["chunks"] for e in machine.feed(chunk)]
    if case["error"]:
        events += machine.error(*case["error"])
    return events


@pytest.mark.parametrize("case", ANTHROPIC["stream"], ids=_names(ANTHROPIC["stream"]))
def test_anthropic_stream(case: dict[str, Any]) -> None:
    events = _anthropic_events(case)
    assert _json(events) == case["expected"]
    for event in events:
        assert event["data"]["type"] == event["event"]
    # never two blocks open at once; every opened block is closed unless the stream failed
    open_blocks: list[int] = []
    for event in events:
        if event["event"] == "content_block_start":
            assert not open_blocks
            open_blocks.append(event["data"]["index"])
        elif event["event"] == "content_block_stop":
            assert open_blocks.pop() == event["data"]["index"]
    assert bool(open_blocks) == bool(case["error"] and case["chunks"])


@pytest.mark.parametrize("case", RESPONSES["stream"], ids=_names(RESPONSES["stream"]))
def test_responses_stream(case: dict[str, Any]) -> None:
    events = _responses_events(case)
    assert _json(events) == case["expected"]
    assert [e["data"]["sequence_number"] for e in events] == list(range(len(events)))
    last = events[-1]["data"]
    assert last["type"] == ("response.failed" if case["error"] else "response.completed")
    if not case["error"]:
        done = [e["data"]["item"] for e in events if e["event"] == "response.output_item.done"]
        assert last["response"]["output"] == done


@pytest.mark.parametrize(
    "case", ANTHROPIC["stream"] + RESPONSES["stream"], ids=_names(ANTHROPIC["stream"]) * 2
)
def test_stream_events_framed_as_sse(case: dict[str, Any]) -> None:
    """Each event's bytes decode back to its data, with the event name on its own line."""
    for event in case["expected"]:
        raw = encode_event(event["event"], event["data"])
        assert raw.startswith(b"event: " + event["event"].encode() + b"\ndata: ")
        assert raw.endswith(b"\n\n")
        assert [orjson.loads(d) for d in SSEDecoder().feed(raw)] == [event["data"]]


@pytest.mark.parametrize("case", ANTHROPIC["errors"], ids=[str(c["status"]) for c in ANTHROPIC["errors"]])
def test_anthropic_error_shape(case: dict[str, Any]) -> None:
    assert anthropic_error(case["status"], case["message"], "req_1") == case["expected"]


@pytest.mark.parametrize("case", RESPONSES["errors"], ids=[str(c["status"]) for c in RESPONSES["errors"]])
def test_openai_error_shape(case: dict[str, Any]) -> None:
    assert openai_error_body(case["status"], case["message"]) == case["expected"]


def test_anthropic_error_types_follow_the_reference() -> None:
    types = {c["status"]: c["expected"]["error"]["type"] for c in ANTHROPIC["errors"]}
    assert types == {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        413: "api_error",
        429: "rate_limit_error",
        500: "api_error",
        502: "api_error",
        503: "overloaded_error",
        504: "api_error",
        529: "overloaded_error",
    }


@pytest.mark.parametrize(
    ("tool", "message"),
    [
        ({"description": 5}, "tools.1.description: must be a string"),
        ({"description": ["a"]}, "tools.1.description: must be a string"),
        ({"parameters": "object"}, "tools.1.parameters: must be a JSON Schema object"),
        ({"parameters": [{"type": "object"}]}, "tools.1.parameters: must be a JSON Schema object"),
    ],
)
def test_responses_function_tool_fields_of_the_wrong_type_are_refused(
    tool: dict[str, Any], message: str
) -> None:
    """Never passed on to the backend as they came: a clear 400 naming the field, as Ollama gives."""
    good = {"type": "function", "name": "a", "description": "ok", "parameters": {"type": "object"}}
    req = ResponsesRequest.model_validate(
        {"model": "m", "input": "hi", "tools": [good, {"type": "function", "name": "b", **tool}]}
    )
    with pytest.raises(ProxyError) as err:
        responses_to_ollama(req)
    assert (err.value.status, err.value.message) == (400, message)


def test_responses_function_tool_without_description_or_parameters() -> None:
    req = ResponsesRequest.model_validate(
        {"model": "m", "input": "hi", "tools": [{"type": "function", "name": "b", "description": None}]}
    )
    tools = responses_to_ollama(req).chat.tools
    assert tools == [
        {"type": "function", "function": {"name": "b", "parameters": {"type": "object", "properties": {}}}}
    ]


@pytest.mark.parametrize(
    ("chunks", "expected_types"),
    [
        ([{"message": {"role": "assistant", "thinking": "hmm"}, "done": False}], [("reasoning", None)]),
        ([{"message": {"role": "assistant", "content": "Hel"}, "done": False}], [("message", "incomplete")]),
        (
            [
                {"message": {"role": "assistant", "thinking": "plan"}, "done": False},
                {"message": {"role": "assistant", "content": "par"}, "done": False},
            ],
            [("reasoning", None), ("message", "incomplete")],
        ),
        ([], []),
    ],
)
def test_a_failed_response_keeps_what_was_streamed(
    chunks: list[dict[str, Any]], expected_types: list[tuple[str, str | None]]
) -> None:
    """``response.failed`` lists the items done and the one cut off (``incomplete``), with their text."""
    machine = ResponsesStream("resp_0123", 1700000000, "m", SETTINGS)
    streamed = "".join(c["message"].get("content", "") for c in chunks)
    events = [e for chunk in chunks for e in machine.feed(chunk)]
    failed = machine.error(502, "backend closed the stream early")[-1]["data"]
    assert failed["type"] == "response.failed"
    output = failed["response"]["output"]
    assert [(item["type"], item.get("status")) for item in output] == expected_types
    texts = [part["text"] for item in output if item["type"] == "message" for part in item["content"]]
    assert "".join(texts) == streamed
    assert events or not chunks
