"""/v1/messages through the official ``anthropic`` Python SDK, two-sided: what the SDK got and what
the scripted backend received (the one chat path: virtual models, options, tool round trips)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anthropic
import httpx
import orjson
import pytest

from tests.conftest import ServedProxy
from tests.contract.conftest import (
    PARIS_AND_ROME_RESULTS_SENT,
    paris_and_rome_calls,
    pirate_proxy,
    weather_tool_sent,
)
from tests.support.agent_script import answer, answer_every_chat
from tests.support.fake_backend import FakeBackend, Reply, chat_completion

WEATHER = {
    "name": "get_weather",
    "description": "Weather now",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
def sdk(proxy: ServedProxy) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=proxy.url, api_key="unused", max_retries=0, timeout=30)


def test_text_non_streamed(sdk: anthropic.Anthropic, fake: FakeBackend) -> None:
    answer_every_chat(fake, "Hello there.")
    message = sdk.messages.create(
        model="test-model",
        max_tokens=64,
        system="Be brief.",
        stop_sequences=["END"],
        extra_body={"temperature": 0.25, "top_k": 20},  # sampling fields this SDK no longer names
        messages=[{"role": "user", "content": "hi"}],
    )
    assert message.id.startswith("msg_")
    assert message.model == "test-model"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "Hello there."  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (7, 5)
    sent = fake.last("chat/completions").body
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert sent["max_tokens"] == 64
    assert sent["temperature"] == 0.25
    assert sent["top_k"] == 20
    assert sent["stop"] == ["END"]
    assert sent["model"] == "test-model"


def test_streamed_thinking_then_text(sdk: anthropic.Anthropic, fake: FakeBackend) -> None:
    answer_every_chat(fake, "The answer.", reasoning="Let me think.")
    with sdk.messages.stream(
        model="test-model",
        max_tokens=64,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "why?"}],
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_stop"
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == "Let me think."  # type: ignore[union-attr]
    assert final.content[1].text == "The answer."  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 5
    sent = fake.last("chat/completions").body
    assert sent["stream"] is True


def test_tool_use_round_trip(sdk: anthropic.Anthropic, fake: FakeBackend) -> None:
    calls = paris_and_rome_calls()
    answer_every_chat(fake, "Checking.", calls)
    with sdk.messages.stream(
        model="test-model",
        max_tokens=64,
        tools=[WEATHER],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "Weather in Paris and Rome?"}],
    ) as stream:
        first = stream.get_final_message()
    assert [b.type for b in first.content] == ["text", "tool_use", "tool_use"]
    uses = [b for b in first.content if b.type == "tool_use"]
    assert [(u.id, u.name, u.input) for u in uses] == [
        ("call_p", "get_weather", {"city": "Paris"}),
        ("call_r", "get_weather", {"city": "Rome"}),
    ]
    assert first.stop_reason == "tool_use"
    sent = fake.last("chat/completions").body
    assert sent["tools"] == weather_tool_sent(WEATHER["input_schema"])

    answer_every_chat(fake, "Paris 18C, Rome 21C.")
    second = sdk.messages.create(
        model="test-model",
        max_tokens=64,
        tools=[WEATHER],  # type: ignore[list-item]
        messages=[
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": first.content},  # type: ignore[typeddict-item]
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "call_p", "content": "18C"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "call_r",
                        "content": [{"type": "text", "text": "21C"}],
                    },
                ],
            },
        ],
    )
    assert second.content[0].text == "Paris 18C, Rome 21C."  # type: ignore[union-attr]
    messages = fake.last("chat/completions").body["messages"]
    assert messages[1]["role"] == "assistant"
    assert messages[1]["content"] == "Checking."
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["call_p", "call_r"]
    assert [c["function"]["arguments"] for c in messages[1]["tool_calls"]] == [
        '{"city":"Paris"}',
        '{"city":"Rome"}',
    ]
    assert messages[2:] == PARIS_AND_ROME_RESULTS_SENT


def test_image_block(sdk: anthropic.Anthropic, fake: FakeBackend) -> None:
    answer_every_chat(fake, "A dot.")
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    sdk.messages.create(
        model="test-model",
        max_tokens=16,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
                    {"type": "text", "text": "What is it?"},
                ],
            }
        ],
    )
    content = fake.last("chat/completions").body["messages"][0]["content"]
    assert {"type": "text", "text": "What is it?"} in content
    assert any(p.get("type") == "image_url" and png in p["image_url"]["url"] for p in content)


def test_errors_in_anthropic_shape(sdk: anthropic.Anthropic, proxy: ServedProxy, fake: FakeBackend) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        sdk.messages.create(model="ghost", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    assert "ghost" in missing.value.body["error"]["message"]  # type: ignore[index]

    r = httpx.post(f"{proxy.url}/v1/messages", json={"model": "test-model", "messages": []})
    assert r.status_code == 400
    body = r.json()
    assert body["type"] == "error"
    assert body["error"] == {"type": "invalid_request_error", "message": "max_tokens: Field required"}
    assert body["request_id"] == r.headers["x-request-id"]
    r = httpx.post(
        f"{proxy.url}/v1/messages", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    assert not fake.received("chat/completions")  # nothing reached the backend

    fake.enqueue("chat/completions", Reply(status=400, json={"error": {"message": "context too long"}}))
    with pytest.raises(anthropic.BadRequestError) as refused:
        sdk.messages.create(model="test-model", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    assert "context too long" in refused.value.body["error"]["message"]  # type: ignore[index]


def test_error_after_the_stream_started(sdk: anthropic.Anthropic, fake: FakeBackend) -> None:
    events = answer({"stream": True}, "Hello there, friend.").events
    assert events is not None
    fake.enqueue("chat/completions", Reply(events=events, cut_after=3))
    with (
        pytest.raises(anthropic.APIStatusError) as failed,
        sdk.messages.stream(
            model="test-model", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        ) as stream,
    ):
        for _ in stream:
            pass
    assert "backend" in str(failed.value)


def test_virtual_model_system_and_parameters(
    fake: FakeBackend, start_proxy: Callable[..., ServedProxy], tmp_path: Path
) -> None:
    served = pirate_proxy(start_proxy, fake.url, tmp_path, {"temperature": 0.3})
    answer_every_chat(fake, "Arr.")
    sdk = anthropic.Anthropic(base_url=served.url, api_key="unused", max_retries=0)
    message = sdk.messages.create(
        model="pirate", max_tokens=32, messages=[{"role": "user", "content": "Who are you?"}]
    )
    assert message.model == "pirate"
    sent = fake.last("chat/completions").body
    assert sent["messages"][0] == {"role": "system", "content": "You are a pirate."}
    assert sent["temperature"] == 0.3
    assert sent["model"] == "test-model"


def test_backend_that_ignores_stream_true(sdk: anthropic.Anthropic, fake: FakeBackend) -> None:
    """A backend answering a streamed call with one JSON object still gives a proper event stream."""
    fake.enqueue("chat/completions", Reply(json=chat_completion("Whole answer.", reasoning="Brief thought.")))
    with sdk.messages.stream(
        model="test-model", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[1].text == "Whole answer."  # type: ignore[union-attr]
    assert final.usage.output_tokens == 5


def test_stream_without_a_final_blank_line(sdk: anthropic.Anthropic, fake: FakeBackend) -> None:
    events = answer({"stream": True}, "Tail end.").events
    assert events is not None
    body = b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]"
    fake.enqueue("chat/completions", Reply(raw=body, content_type="text/event-stream"))
    with sdk.messages.stream(
        model="test-model", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == "Tail end."  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
