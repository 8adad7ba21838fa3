"""/v1/responses through the official ``openai`` Python SDK, two-sided: what the SDK got and what the
scripted backend received (the one chat path: virtual models, options, function-call round trips)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import ServedProxy
from tests.contract.conftest import (
    PARIS_AND_ROME_RESULTS_SENT,
    paris_and_rome_calls,
    pirate_proxy,
    weather_tool_sent,
)
from tests.support.agent_script import answer, answer_every_chat
from tests.support.fake_backend import FakeBackend, Reply

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather now",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
def sdk(proxy: ServedProxy) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="unused", max_retries=0, timeout=30)


def test_text_non_streamed(sdk: openai.OpenAI, fake: FakeBackend) -> None:
    answer_every_chat(fake, "Hello there.")
    response = sdk.responses.create(
        model="test-model", instructions="Be brief.", input="hi", max_output_tokens=64, temperature=0.25
    )
    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.model == "test-model"
    assert response.output_text == "Hello there."
    assert response.instructions == "Be brief."
    assert response.store is False
    assert response.usage is not None and (response.usage.input_tokens, response.usage.output_tokens) == (
        7,
        5,
    )
    assert response.usage.total_tokens == 12
    sent = fake.last("chat/completions").body
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert sent["max_tokens"] == 64
    assert sent["temperature"] == 0.25
    assert sent["top_p"] == 1.0  # Ollama's default for this dialect


def test_streamed_reasoning_then_text(sdk: openai.OpenAI, fake: FakeBackend) -> None:
    answer_every_chat(fake, "The answer.", reasoning="Let me think.")
    with sdk.responses.stream(model="test-model", input="why?", reasoning={"effort": "high"}) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "response.reasoning_summary_text.delta" in kinds and "response.output_text.delta" in kinds
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output_text == "The answer."
    reasoning = final.output[0]
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "Let me think."
    sent = fake.last("chat/completions").body
    assert sent["stream"] is True


def test_function_call_round_trip(sdk: openai.OpenAI, fake: FakeBackend) -> None:
    calls = paris_and_rome_calls()
    answer_every_chat(fake, None, calls)
    with sdk.responses.stream(
        model="test-model", input="Weather in Paris and Rome?", tools=[WEATHER]
    ) as stream:  # type: ignore[list-item]
        first = stream.get_final_response()
    fcs = [item for item in first.output if item.type == "function_call"]
    assert [(f.call_id, f.name, f.arguments) for f in fcs] == [
        ("call_p", "get_weather", '{"city":"Paris"}'),
        ("call_r", "get_weather", '{"city":"Rome"}'),
    ]
    sent = fake.last("chat/completions").body
    assert sent["tools"] == weather_tool_sent(WEATHER["parameters"])

    answer_every_chat(fake, "Paris 18C, Rome 21C.")
    second = sdk.responses.create(
        model="test-model",
        tools=[WEATHER],  # type: ignore[list-item]
        input=[
            {"role": "user", "content": "Weather in Paris and Rome?"},
            *[
                {"type": "function_call", "call_id": f.call_id, "name": f.name, "arguments": f.arguments}
                for f in fcs
            ],
            {"type": "function_call_output", "call_id": "call_p", "output": "18C"},
            {"type": "function_call_output", "call_id": "call_r", "output": "21C"},
        ],  # type: ignore[list-item]
    )
    assert second.output_text == "Paris 18C, Rome 21C."
    messages = fake.last("chat/completions").body["messages"]
    assert messages[1]["role"] == "assistant"
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["call_p", "call_r"]
    assert messages[2:] == PARIS_AND_ROME_RESULTS_SENT


def test_json_schema_format(sdk: openai.OpenAI, fake: FakeBackend) -> None:
    answer_every_chat(fake, '{"a": 1}')
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    response = sdk.responses.create(
        model="test-model",
        input="give a",
        text={"format": {"type": "json_schema", "name": "out", "schema": schema, "strict": True}},
    )
    assert response.output_text == '{"a": 1}'
    sent = fake.last("chat/completions").body
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"] == schema


def test_errors_in_openai_shape(sdk: openai.OpenAI, proxy: ServedProxy, fake: FakeBackend) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.responses.create(model="ghost", input="hi")
    assert missing.value.body["type"] == "not_found_error"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as stateful:
        sdk.responses.create(model="test-model", input="hi", previous_response_id="resp_1")
    assert "previous_response_id" in stateful.value.message
    r = httpx.post(f"{proxy.url}/v1/responses", json={"input": "hi"})
    assert r.status_code == 400
    assert r.json() == {
        "error": {
            "message": "model: Field required",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    assert not fake.received("chat/completions")


def test_error_after_the_stream_started(sdk: openai.OpenAI, fake: FakeBackend) -> None:
    events = answer({"stream": True}, "Hello there, friend.").events
    assert events is not None
    fake.enqueue("chat/completions", Reply(events=events, cut_after=3))
    with sdk.responses.stream(model="test-model", input="hi") as stream:
        kinds = [e.type for e in stream]
    assert kinds[-1] == "response.failed"
    assert "response.completed" not in kinds


def test_virtual_model_system_and_parameters(
    fake: FakeBackend, start_proxy: Callable[..., ServedProxy], tmp_path: Path
) -> None:
    served = pirate_proxy(start_proxy, fake.url, tmp_path, {"num_predict": 33})
    answer_every_chat(fake, "Arr.")
    sdk = openai.OpenAI(base_url=f"{served.url}/v1", api_key="unused", max_retries=0)
    response = sdk.responses.create(model="pirate", input="Who are you?")
    assert response.model == "pirate"
    sent = fake.last("chat/completions").body
    assert sent["messages"][0] == {"role": "system", "content": "You are a pirate."}
    assert sent["max_tokens"] == 33
    assert sent["model"] == "test-model"
