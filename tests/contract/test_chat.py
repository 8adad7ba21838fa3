"""/api/chat through ollama-python (sync and async) and raw HTTP: both what the client gets and what the backend got."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import httpx
import ollama
import orjson
import pytest

from tests.conftest import ServedProxy
from tests.contract.conftest import assert_final_metrics, ndjson
from tests.support.fake_backend import FakeBackend, Reply, chat_completion, chunk, text_stream, usage

USER = [{"role": "user", "content": "Say hello"}]


def _png() -> bytes:
    """A real 1x1 PNG."""

    def part(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + part(b"IHDR", ihdr) + part(b"IDAT", idat) + part(b"IEND", b"")


def _stream(*pieces: str, prompt: int = 11, completion: int = 3) -> Reply:
    events = text_stream(*pieces)
    events[-1]["usage"] = usage(prompt, completion)
    return Reply(events=events)


def test_non_streamed_chat(client: ollama.Client, fake: FakeBackend) -> None:
    data = chat_completion("Hi there")
    data["usage"] = usage(13, 2)
    fake.enqueue("chat/completions", Reply(json=data))
    reply = client.chat(model="test-model", messages=USER)
    assert reply.message.role == "assistant"
    assert reply.message.content == "Hi there"
    assert reply.model == "test-model"
    assert reply.done is True
    assert reply.done_reason == "stop"
    assert reply.prompt_eval_count == 13
    assert reply.eval_count == 2
    assert isinstance(reply.total_duration, int)
    assert reply.total_duration > 0
    sent = fake.last("chat/completions").body
    assert sent["model"] == "test-model"
    # the llama.cpp profile streams from the backend even for stream:false clients: llama-server
    # only stops generating for a client that went away when it streams
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["messages"] == USER
    assert "tools" not in sent  # ollama-python sends tools: [] which must not reach the backend


def test_non_streamed_chat_collects_a_backend_stream(client: ollama.Client, fake: FakeBackend) -> None:
    fake.enqueue("chat/completions", _stream("Hel", "lo", prompt=9, completion=2))
    reply = client.chat(model="test-model", messages=USER)
    assert reply.message.content == "Hello"
    assert reply.done_reason == "stop"
    assert (reply.prompt_eval_count, reply.eval_count) == (9, 2)
    assert isinstance(reply.eval_duration, int)


def test_non_streamed_chat_generic_profile_asks_for_json(
    generic_proxy: ServedProxy, fake: FakeBackend
) -> None:
    reply = ollama.Client(host=generic_proxy.url).chat(model="test-model", messages=USER)
    assert reply.message.content == "Hello from the fake backend."
    sent = fake.last("chat/completions").body
    assert sent["stream"] is False
    assert "stream_options" not in sent


def test_non_streamed_raw_framing(http: httpx.Client, fake: FakeBackend) -> None:
    r = http.post("/api/chat", json={"model": "test-model", "messages": USER, "stream": False})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["message"] == {"role": "assistant", "content": "Hello from the fake backend."}
    assert body["done"] is True
    assert_final_metrics(body, 7, 5)


def test_streamed_chat_with_python_client(client: ollama.Client, fake: FakeBackend) -> None:
    fake.enqueue("chat/completions", _stream("Hel", "lo", "!"))
    parts = list(client.chat(model="test-model", messages=USER, stream=True))
    assert "".join(p.message.content or "" for p in parts) == "Hello!"
    assert all(p.message.role == "assistant" for p in parts)
    assert [p.done for p in parts] == [False] * (len(parts) - 1) + [True]
    final = parts[-1]
    assert final.done_reason == "stop"
    assert final.prompt_eval_count == 11
    assert final.eval_count == 3
    sent = fake.last("chat/completions").body
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}


async def test_streamed_chat_with_async_client(aclient: ollama.AsyncClient, fake: FakeBackend) -> None:
    fake.enqueue("chat/completions", _stream("a", "b", "c", prompt=4, completion=9))
    parts = [p async for p in await aclient.chat(model="test-model", messages=USER, stream=True)]
    assert "".join(p.message.content or "" for p in parts) == "abc"
    assert parts[-1].done is True
    assert parts[-1].eval_count == 9
    assert parts[-1].prompt_eval_count == 4


async def test_non_streamed_chat_with_async_client(aclient: ollama.AsyncClient, fake: FakeBackend) -> None:
    reply = await aclient.chat(model="org/Model-Name:free", messages=USER)
    assert reply.message.content == "Hello from the fake backend."
    assert reply.model == "org/Model-Name:free"
    assert fake.last("chat/completions").body["model"] == "org/Model-Name:free"


def test_stream_absent_means_ndjson_stream(http: httpx.Client, fake: FakeBackend) -> None:
    fake.enqueue("chat/completions", _stream("one ", "two", prompt=21, completion=2))
    r = http.post("/api/chat", json={"model": "test-model", "messages": USER})
    assert r.status_code == 200
    lines = ndjson(r)
    assert len(lines) >= 3
    for obj in lines:
        assert obj["model"] == "test-model"
        assert obj["message"]["role"] == "assistant"
        assert isinstance(obj["created_at"], str)
        assert obj["created_at"].endswith("Z")
        assert "error" not in obj
    assert [o["done"] for o in lines] == [False] * (len(lines) - 1) + [True]
    assert "".join(o["message"]["content"] for o in lines) == "one two"
    final = lines[-1]
    assert final["done_reason"] == "stop"
    assert_final_metrics(final, 21, 2)
    sent = fake.last("chat/completions").body
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}


def test_single_token_stream_still_has_positive_eval_duration(http: httpx.Client, fake: FakeBackend) -> None:
    """Clients compute tokens/s as eval_count / eval_duration: a count needs a non-zero duration."""
    fake.enqueue("chat/completions", _stream("x", prompt=5, completion=1))
    final = ndjson(http.post("/api/chat", json={"model": "test-model", "messages": USER}))[-1]
    assert final["eval_count"] == 1
    assert final.get("eval_duration", 0) > 0


def test_length_finish_maps_to_done_reason_length(client: ollama.Client, fake: FakeBackend) -> None:
    fake.enqueue("chat/completions", Reply(json=chat_completion("cut", finish="length")))
    assert client.chat(model="test-model", messages=USER).done_reason == "length"
    fake.enqueue("chat/completions", Reply(events=text_stream("cu", "t", finish="length")))
    parts = list(client.chat(model="test-model", messages=USER, stream=True))
    assert parts[-1].done_reason == "length"


# --- tools ------------------------------------------------------------------------------------------

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def test_tool_round_trip_as_ollama_python_sends_it(client: ollama.Client, fake: FakeBackend) -> None:
    """§10.1: no call ids, tool results with tool_name only → the backend gets matching tool_call_ids."""
    history: list[Any] = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        ollama.Message(
            role="assistant",
            tool_calls=[
                ollama.Message.ToolCall(
                    function=ollama.Message.ToolCall.Function(name="get_weather", arguments={"city": "Paris"})
                ),
                ollama.Message.ToolCall(
                    function=ollama.Message.ToolCall.Function(name="get_weather", arguments={"city": "Rome"})
                ),
            ],
        ),
        {"role": "tool", "content": "18C", "tool_name": "get_weather"},
        {"role": "tool", "content": "24C", "tool_name": "get_weather"},
    ]
    fake.enqueue("chat/completions", Reply(json=chat_completion("Paris 18C, Rome 24C.")))
    reply = client.chat(
        model="test-model",
        messages=history,
        tools=[WEATHER_TOOL],
        options={"temperature": 0.2, "num_ctx": 8192},
    )
    assert reply.message.content == "Paris 18C, Rome 24C."
    sent = fake.last("chat/completions").body
    assert sent["temperature"] == 0.2
    assert "num_ctx" not in sent
    assert sent["tools"] == [WEATHER_TOOL]
    user, assistant, tool_a, tool_b = sent["messages"]
    assert user == {"role": "user", "content": "Weather in Paris and Rome?"}
    calls = assistant["tool_calls"]
    assert assistant["role"] == "assistant"
    assert assistant["content"] in ("", None)
    assert [c["type"] for c in calls] == ["function", "function"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_weather"]
    assert [orjson.loads(c["function"]["arguments"]) for c in calls] == [{"city": "Paris"}, {"city": "Rome"}]
    ids = [c["id"] for c in calls]
    assert all(isinstance(i, str) and i for i in ids)
    assert len(set(ids)) == 2
    assert tool_a["role"] == tool_b["role"] == "tool"
    assert (tool_a["tool_call_id"], tool_a["content"]) == (ids[0], "18C")
    assert (tool_b["tool_call_id"], tool_b["content"]) == (ids[1], "24C")


def test_tool_results_matched_by_name_across_different_tools(
    client: ollama.Client, fake: FakeBackend
) -> None:
    history = [
        {"role": "user", "content": "time and weather"},
        {
            "role": "assistant",
            "tool_calls": [
                {"function": {"name": "get_time", "arguments": {}}},
                {"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}},
            ],
        },
        {"role": "tool", "content": "rainy", "tool_name": "get_weather"},
        {"role": "tool", "content": "noon", "tool_name": "get_time"},
    ]
    client.chat(model="test-model", messages=history)
    msgs = fake.last("chat/completions").body["messages"]
    ids = {c["function"]["name"]: c["id"] for c in msgs[1]["tool_calls"]}
    assert msgs[2]["tool_call_id"] == ids["get_weather"]
    assert msgs[3]["tool_call_id"] == ids["get_time"]


def test_explicit_tool_call_ids_are_kept(http: httpx.Client, fake: FakeBackend) -> None:
    history = [
        {"role": "user", "content": "w"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_abc",
                    "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Oslo"}},
                }
            ],
        },
        {"role": "tool", "content": "5C", "tool_call_id": "call_abc"},
    ]
    r = http.post("/api/chat", json={"model": "test-model", "messages": history, "stream": False})
    assert r.status_code == 200
    msgs = fake.last("chat/completions").body["messages"]
    assert msgs[1]["tool_calls"][0]["id"] == "call_abc"
    assert msgs[2]["tool_call_id"] == "call_abc"


def test_non_streamed_tool_call_response(client: ollama.Client, fake: FakeBackend) -> None:
    call = {
        "id": "call_x1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
    }
    fake.enqueue(
        "chat/completions", Reply(json=chat_completion(None, tool_calls=[call], finish="tool_calls"))
    )
    reply = client.chat(model="test-model", messages=USER, tools=[WEATHER_TOOL])
    assert reply.done_reason == "stop"  # Ollama has no tool_calls reason
    assert reply.message.content == ""
    assert reply.message.tool_calls is not None
    (tc,) = reply.message.tool_calls
    assert tc.function.name == "get_weather"
    assert tc.function.arguments == {"city": "Oslo"}


def test_streamed_tool_call_fragments_are_assembled(
    client: ollama.Client, http: httpx.Client, fake: FakeBackend
) -> None:
    """§10.2: fragments per index → one done:false line with complete calls (arguments objects)."""
    events: list[Any] = [
        chunk({"role": "assistant", "reasoning_content": "Need weather."}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_ab",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "call_cd",
                        "type": "function",
                        "function": {"name": "get_", "arguments": '{"city"'},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}),
        chunk({"tool_calls": [{"index": 1, "function": {"name": "weather", "arguments": ':"Rome"}'}}]}),
        chunk({}, "tool_calls"),
        {"id": "c", "object": "chat.completion.chunk", "choices": [], "usage": usage(120, 22)},
    ]
    fake.enqueue("chat/completions", Reply(events=events))
    parts = list(client.chat(model="test-model", messages=USER, tools=[WEATHER_TOOL], stream=True))
    calls = [tc for p in parts for tc in (p.message.tool_calls or [])]
    assert [(c.function.name, c.function.arguments) for c in calls] == [
        ("get_weather", {"city": "Oslo"}),
        ("get_weather", {"city": "Rome"}),
    ]
    assert "".join(p.message.thinking or "" for p in parts) == "Need weather."
    assert parts[-1].done is True
    assert parts[-1].done_reason == "stop"
    assert parts[-1].eval_count == 22

    fake.enqueue("chat/completions", Reply(events=events))
    lines = ndjson(
        http.post("/api/chat", json={"model": "test-model", "messages": USER, "tools": [WEATHER_TOOL]})
    )
    with_calls = [o for o in lines if o["message"].get("tool_calls")]
    assert len(with_calls) == 1
    assert with_calls[0]["done"] is False
    raw_calls = with_calls[0]["message"]["tool_calls"]
    assert raw_calls[0] == {
        "id": "call_ab",
        "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Oslo"}},
    }
    assert raw_calls[1]["id"] == "call_cd"
    assert raw_calls[1]["function"]["index"] == 1


# --- images, format, think ---------------------------------------------------------------------------


def test_image_bytes_become_png_data_uri(client: ollama.Client, fake: FakeBackend) -> None:
    png = _png()
    client.chat(model="test-model", messages=[{"role": "user", "content": "What is this?", "images": [png]}])
    (msg,) = fake.last("chat/completions").body["messages"]
    assert msg["role"] == "user"
    text = [p for p in msg["content"] if p["type"] == "text"]
    images = [p for p in msg["content"] if p["type"] == "image_url"]
    assert text == [{"type": "text", "text": "What is this?"}]
    (img,) = images
    url = img["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == png


def test_invalid_base64_image_is_400(http: httpx.Client, fake: FakeBackend) -> None:
    r = http.post(
        "/api/chat",
        json={
            "model": "test-model",
            "stream": False,
            "messages": [{"role": "user", "content": "x", "images": ["not base64!!"]}],
        },
    )
    assert r.status_code == 400
    assert "base64" in r.json()["error"]
    assert fake.received("chat/completions") == []


def test_format_json_on_llamacpp_is_a_json_schema(client: ollama.Client, fake: FakeBackend) -> None:
    fake.enqueue("chat/completions", Reply(json=chat_completion('{"a": 1}')))
    reply = client.chat(model="test-model", messages=USER, format="json")
    assert orjson.loads(reply.message.content or "") == {"a": 1}
    rf = fake.last("chat/completions").body["response_format"]
    assert rf["type"] == "json_schema"
    assert rf["json_schema"]["schema"] == {"type": "object"}


def test_format_json_on_generic_is_json_object(generic_proxy: Any, fake: FakeBackend) -> None:
    ollama.Client(host=generic_proxy.url).chat(model="test-model", messages=USER, format="json")
    assert fake.last("chat/completions").body["response_format"] == {"type": "json_object"}


def test_format_schema(client: ollama.Client, fake: FakeBackend) -> None:
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}
    client.chat(model="test-model", messages=USER, format=schema)
    rf = fake.last("chat/completions").body["response_format"]
    assert rf["type"] == "json_schema"
    assert rf["json_schema"]["schema"] == schema
    assert isinstance(rf["json_schema"]["name"], str)
    assert rf["json_schema"]["name"]


def test_invalid_format_is_400(http: httpx.Client, fake: FakeBackend) -> None:
    r = http.post(
        "/api/chat", json={"model": "test-model", "messages": USER, "format": "yaml", "stream": False}
    )
    assert r.status_code == 400
    assert "invalid format" in r.json()["error"]
    assert fake.received("chat/completions") == []


@pytest.mark.parametrize(
    ("think", "kwargs"),
    [
        (True, {"enable_thinking": True}),
        (False, {"enable_thinking": False}),
        ("low", {"enable_thinking": True, "reasoning_effort": "low"}),
        ("high", {"enable_thinking": True, "reasoning_effort": "high"}),
    ],
)
def test_think_maps_to_chat_template_kwargs(
    client: ollama.Client, fake: FakeBackend, think: Any, kwargs: dict[str, Any]
) -> None:
    client.chat(model="test-model", messages=USER, think=think)
    assert fake.last("chat/completions").body["chat_template_kwargs"] == kwargs


def test_think_absent_sends_nothing(client: ollama.Client, fake: FakeBackend) -> None:
    client.chat(model="test-model", messages=USER)
    sent = fake.last("chat/completions").body
    assert "chat_template_kwargs" not in sent
    assert "reasoning_effort" not in sent


def test_invalid_think_value_is_400(http: httpx.Client, fake: FakeBackend) -> None:
    r = http.post(
        "/api/chat", json={"model": "test-model", "messages": USER, "think": "extreme", "stream": False}
    )
    assert r.status_code == 400
    assert r.json()["error"].startswith('invalid think value: "extreme"')
    assert fake.received("chat/completions") == []


def test_thinking_from_reasoning_content(client: ollama.Client, fake: FakeBackend) -> None:
    fake.enqueue("chat/completions", Reply(json=chat_completion("42", reasoning="6 times 7")))
    reply = client.chat(model="test-model", messages=USER, think=True)
    assert reply.message.thinking == "6 times 7"
    assert reply.message.content == "42"
    events = [
        chunk({"role": "assistant", "reasoning_content": "6 times"}),
        chunk({"reasoning_content": " 7"}),
        chunk({"content": "42"}),
        chunk({}, "stop"),
    ]
    fake.enqueue("chat/completions", Reply(events=events))
    parts = list(client.chat(model="test-model", messages=USER, think=True, stream=True))
    assert "".join(p.message.thinking or "" for p in parts) == "6 times 7"
    assert "".join(p.message.content or "" for p in parts) == "42"
    first_content = next(i for i, p in enumerate(parts) if p.message.content)
    assert all(not p.message.thinking for p in parts[first_content:])


# --- options, keep_alive, load/unload ----------------------------------------------------------------


def test_options_mapped_and_ignored_header(http: httpx.Client, fake: FakeBackend) -> None:
    options = {
        "temperature": 0.3,
        "top_p": 0.8,
        "top_k": 20,
        "min_p": 0.05,
        "num_predict": 64,
        "seed": 42,
        "stop": ["END"],
        "repeat_penalty": 1.1,
        "presence_penalty": 0.5,
        "frequency_penalty": 0.25,
        "num_ctx": 8192,
        "num_gpu": 1,
        "num_thread": 4,
    }
    r = http.post(
        "/api/chat", json={"model": "test-model", "messages": USER, "stream": False, "options": options}
    )
    assert r.status_code == 200
    sent = fake.last("chat/completions").body
    assert {
        k: sent[k]
        for k in (
            "temperature",
            "top_p",
            "top_k",
            "min_p",
            "seed",
            "stop",
            "repeat_penalty",
            "presence_penalty",
            "frequency_penalty",
        )
    } == {
        "temperature": 0.3,
        "top_p": 0.8,
        "top_k": 20,
        "min_p": 0.05,
        "seed": 42,
        "stop": ["END"],
        "repeat_penalty": 1.1,
        "presence_penalty": 0.5,
        "frequency_penalty": 0.25,
    }
    assert sent["max_tokens"] == 64
    for key in ("num_ctx", "num_gpu", "num_thread", "num_predict"):
        assert key not in sent
    ignored = r.headers["x-ollama-proxy-ignored"]
    for key in ("num_ctx", "num_gpu", "num_thread"):
        assert f"options.{key}" in ignored
    assert "temperature" not in ignored


def test_ignored_header_on_streamed_response(http: httpx.Client, fake: FakeBackend) -> None:
    fake.enqueue("chat/completions", _stream("ok"))
    r = http.post("/api/chat", json={"model": "test-model", "messages": USER, "options": {"num_ctx": 4096}})
    assert r.status_code == 200
    assert "options.num_ctx" in r.headers["x-ollama-proxy-ignored"]
    assert ndjson(r)[-1]["done"] is True


def test_no_ignored_header_when_everything_maps(http: httpx.Client, fake: FakeBackend) -> None:
    r = http.post(
        "/api/chat",
        json={"model": "test-model", "messages": USER, "stream": False, "options": {"temperature": 0.1}},
    )
    assert r.status_code == 200
    assert "x-ollama-proxy-ignored" not in r.headers


def test_options_none_and_seed_minus_one(http: httpx.Client, fake: FakeBackend) -> None:
    r = http.post(
        "/api/chat",
        json={
            "model": "test-model",
            "messages": USER,
            "stream": False,
            "options": {"seed": -1, "num_predict": -1, "temperature": None},
        },
    )
    assert r.status_code == 200
    sent = fake.last("chat/completions").body
    assert "seed" not in sent
    assert "max_tokens" not in sent
    assert "temperature" not in sent
    r = http.post(
        "/api/chat", json={"model": "test-model", "messages": USER, "stream": False, "options": None}
    )
    assert r.status_code == 200


def test_bad_option_type_is_an_error(http: httpx.Client, fake: FakeBackend) -> None:
    r = http.post(
        "/api/chat",
        json={"model": "test-model", "messages": USER, "stream": False, "options": {"temperature": "hot"}},
    )
    assert r.status_code in (400, 500)
    assert r.json() == {"error": 'option "temperature" must be of type float'}
    assert fake.received("chat/completions") == []


@pytest.mark.parametrize("keep_alive", ["5m", "1h30m", "300ms", 300, 1.5, -1, "-1m"])
def test_keep_alive_accepted(client: ollama.Client, fake: FakeBackend, keep_alive: Any) -> None:
    reply = client.chat(model="test-model", messages=USER, keep_alive=keep_alive)
    assert reply.done is True
    assert "keep_alive" not in fake.last("chat/completions").body


@pytest.mark.parametrize("keep_alive", ["300", "5 minutes", "m"])
def test_keep_alive_bad_duration_is_400(client: ollama.Client, fake: FakeBackend, keep_alive: str) -> None:
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="test-model", messages=USER, keep_alive=keep_alive)
    assert info.value.status_code == 400
    assert info.value.error.startswith("time: ")
    assert keep_alive in info.value.error
    assert fake.received("chat/completions") == []


def test_keep_alive_300_message_matches_go(http: httpx.Client) -> None:
    r = http.post("/api/chat", json={"model": "test-model", "messages": USER, "keep_alive": "300"})
    assert r.status_code == 400
    assert r.json() == {"error": 'time: missing unit in duration "300"'}


def test_load_request_answered_locally(client: ollama.Client, http: httpx.Client, fake: FakeBackend) -> None:
    reply = client.chat(model="test-model")  # ollama-python sends messages: [] and tools: []
    assert reply.done is True
    assert reply.done_reason == "load"
    assert reply.message.role == "assistant"
    assert reply.message.content == ""
    r = http.post("/api/chat", json={"model": "test-model"})  # stream absent: still one JSON object
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["done_reason"] == "load"
    assert fake.received("chat/completions") == []


@pytest.mark.parametrize("keep_alive", [0, "0", "0s"])
def test_unload_request_answered_locally(http: httpx.Client, fake: FakeBackend, keep_alive: Any) -> None:
    r = http.post("/api/chat", json={"model": "test-model", "messages": [], "keep_alive": keep_alive})
    assert r.status_code == 200
    body = r.json()
    assert body["done"] is True
    assert body["done_reason"] == "unload"
    assert body["model"] == "test-model"
    assert fake.received("chat/completions") == []


def test_load_request_for_unknown_model_is_404(client: ollama.Client, fake: FakeBackend) -> None:
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="missing-model")
    assert info.value.status_code == 404
    assert info.value.error == "model 'missing-model' not found"


def test_system_message_forwarded(client: ollama.Client, fake: FakeBackend) -> None:
    msgs = [{"role": "system", "content": "Be terse."}, {"role": "USER", "content": "hi"}]
    client.chat(model="test-model", messages=msgs)
    assert fake.last("chat/completions").body["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "hi"},
    ]


def test_logprobs_chat(client: ollama.Client, fake: FakeBackend) -> None:
    lp = {
        "content": [
            {
                "token": "Hi",
                "logprob": -0.25,
                "bytes": [72, 105],
                "top_logprobs": [{"token": "Hi", "logprob": -0.25}, {"token": "Hey", "logprob": -1.5}],
            }
        ]
    }
    fake.enqueue("chat/completions", Reply(json=chat_completion("Hi", logprobs=lp)))
    reply = client.chat(model="test-model", messages=USER, logprobs=True, top_logprobs=2)
    sent = fake.last("chat/completions").body
    assert sent["logprobs"] is True
    assert sent["top_logprobs"] == 2
    assert reply.logprobs is not None
    (first,) = reply.logprobs
    assert first.token == "Hi"
    assert first.logprob == -0.25
    assert [t.token for t in first.top_logprobs or []] == ["Hi", "Hey"]


def test_top_logprobs_out_of_range_is_400(http: httpx.Client, fake: FakeBackend) -> None:
    r = http.post(
        "/api/chat", json={"model": "test-model", "messages": USER, "top_logprobs": 21, "stream": False}
    )
    assert r.status_code == 400
    assert r.json() == {"error": "top_logprobs must be between 0 and 20"}
