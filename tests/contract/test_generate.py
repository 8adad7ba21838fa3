"""/api/generate through ollama-python and raw HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import ollama
import pytest

from tests.contract.conftest import assert_final_metrics, ndjson
from tests.contract.test_chat import _png
from tests.support.fake_backend import FakeBackend, Reply, chat_completion, chunk, text_stream, usage


def test_non_streamed_generate(client: ollama.Client, fake: FakeBackend) -> None:
    data = chat_completion("Paris.")
    data["usage"] = usage(17, 2)
    fake.enqueue("chat/completions", Reply(json=data))
    reply = client.generate(model="test-model", prompt="Capital of France?")
    assert reply.response == "Paris."
    assert reply.done is True
    assert reply.done_reason == "stop"
    assert reply.prompt_eval_count == 17
    assert reply.eval_count == 2
    assert isinstance(reply.context, list) and all(type(t) is int for t in reply.context)
    sent = fake.last("chat/completions").body
    assert sent["messages"] == [{"role": "user", "content": "Capital of France?"}]
    assert sent["stream"] is True  # llama.cpp profile: always streamed, see test_non_streamed_chat


def test_streamed_generate(client: ollama.Client, fake: FakeBackend) -> None:
    events = text_stream("The", " end")
    events[-1]["usage"] = usage(8, 2)
    fake.enqueue("chat/completions", Reply(events=events))
    parts = list(client.generate(model="test-model", prompt="Finish: the", stream=True))
    assert "".join(p.response for p in parts) == "The end"
    assert parts[-1].done is True
    assert parts[-1].eval_count == 2
    assert all(p.done is False for p in parts[:-1])


async def test_streamed_generate_async(aclient: ollama.AsyncClient, fake: FakeBackend) -> None:
    fake.enqueue("chat/completions", Reply(events=text_stream("x", "y")))
    parts = [p async for p in await aclient.generate(model="test-model", prompt="?", stream=True)]
    assert "".join(p.response for p in parts) == "xy"
    assert parts[-1].done is True


def test_stream_absent_generate_framing(http: httpx.Client, fake: FakeBackend) -> None:
    events = text_stream("a", "b", "c")
    events[-1]["usage"] = usage(30, 3)
    fake.enqueue("chat/completions", Reply(events=events))
    r = http.post("/api/generate", json={"model": "test-model", "prompt": "abc"})
    lines = ndjson(r)
    assert all("response" in o and "message" not in o for o in lines)
    assert "".join(o["response"] for o in lines) == "abc"
    assert [o["done"] for o in lines] == [False] * (len(lines) - 1) + [True]
    assert_final_metrics(lines[-1], 30, 3)


def test_system_becomes_system_message(client: ollama.Client, fake: FakeBackend) -> None:
    client.generate(model="test-model", prompt="hi", system="You are a pirate.")
    assert fake.last("chat/completions").body["messages"] == [
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "hi"},
    ]


def test_generate_images(client: ollama.Client, fake: FakeBackend) -> None:
    client.generate(model="test-model", prompt="Describe", images=[_png()])
    (msg,) = fake.last("chat/completions").body["messages"]
    kinds = [p["type"] for p in msg["content"]]
    assert kinds == ["text", "image_url"]
    assert msg["content"][1]["image_url"]["url"].startswith("data:image/png;base64,iVBORw0KGgo")


def test_generate_thinking_and_think_levels(client: ollama.Client, fake: FakeBackend) -> None:
    fake.enqueue("chat/completions", Reply(json=chat_completion("4", reasoning="2+2")))
    reply = client.generate(model="test-model", prompt="2+2?", think="medium")
    assert reply.thinking == "2+2"
    assert reply.response == "4"
    assert fake.last("chat/completions").body["chat_template_kwargs"] == {
        "enable_thinking": True,
        "reasoning_effort": "medium",
    }
    events = [chunk({"reasoning_content": "hm"}), chunk({"content": "ok"}), chunk({}, "stop")]
    fake.enqueue("chat/completions", Reply(events=events))
    parts = list(client.generate(model="test-model", prompt="?", think=False, stream=True))
    assert "".join(p.thinking or "" for p in parts) == "hm"
    assert fake.last("chat/completions").body["chat_template_kwargs"] == {"enable_thinking": False}


def test_generate_format_schema(client: ollama.Client, fake: FakeBackend) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "number"}}}
    client.generate(model="test-model", prompt="n?", format=schema)
    rf = fake.last("chat/completions").body["response_format"]
    assert rf["type"] == "json_schema"
    assert rf["json_schema"]["schema"] == schema


def test_raw_goes_to_completions(client: ollama.Client, fake: FakeBackend) -> None:
    fake.enqueue(
        "completions",
        Reply(
            json={"choices": [{"index": 0, "text": " world", "finish_reason": "stop"}], "usage": usage(2, 1)}
        ),
    )
    reply = client.generate(model="test-model", prompt="<s>hello", raw=True)
    assert reply.response == " world"
    assert reply.eval_count == 1
    rec = fake.last("/v1/completions")
    assert rec.path == "/v1/completions"
    assert rec.body["prompt"] == "<s>hello"
    assert "messages" not in rec.body


def test_raw_streamed_completions(client: ollama.Client, fake: FakeBackend) -> None:
    events: list[Any] = [
        {"choices": [{"index": 0, "text": "A", "finish_reason": None}]},
        {"choices": [{"index": 0, "text": "B", "finish_reason": "length"}]},
        {"choices": [], "usage": usage(3, 2)},
    ]
    fake.enqueue("completions", Reply(events=events))
    parts = list(client.generate(model="test-model", prompt="x", raw=True, stream=True))
    assert "".join(p.response for p in parts) == "AB"
    assert parts[-1].done_reason == "length"
    assert parts[-1].eval_count == 2
    assert fake.last("/v1/completions").body["stream"] is True


def test_raw_with_system_is_400(http: httpx.Client, fake: FakeBackend) -> None:
    r = http.post("/api/generate", json={"model": "test-model", "prompt": "x", "raw": True, "system": "s"})
    assert r.status_code == 400
    assert r.json() == {"error": "raw mode does not support template, system, or context"}
    assert fake.requests == [] or all(not r.path.endswith("completions") for r in fake.requests)


def test_suffix_goes_to_completions_where_supported(generic_proxy: Any, fake: FakeBackend) -> None:
    client = ollama.Client(host=generic_proxy.url)
    reply = client.generate(model="test-model", prompt="def add(a, b):", suffix="    return c")
    assert reply.response == "completed"
    rec = fake.last("/v1/completions")
    assert rec.path == "/v1/completions"
    assert rec.body["prompt"] == "def add(a, b):"
    assert rec.body["suffix"] == "    return c"


def test_suffix_unsupported_by_llamacpp_profile_is_400(client: ollama.Client, fake: FakeBackend) -> None:
    with pytest.raises(ollama.ResponseError) as info:
        client.generate(model="test-model", prompt="a", suffix="b")
    assert info.value.status_code == 400
    assert "does not support insert" in info.value.error
    assert not [r for r in fake.requests if r.path.endswith("completions")]


def test_generate_load_and_unload_answered_locally(
    client: ollama.Client, http: httpx.Client, fake: FakeBackend
) -> None:
    reply = client.generate(model="test-model")
    assert reply.done is True
    assert reply.done_reason == "load"
    assert reply.response == ""
    r = http.post("/api/generate", json={"model": "test-model", "prompt": "", "keep_alive": 0})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["done_reason"] == "unload"
    # Images without a prompt are still a load request.
    r = http.post("/api/generate", json={"model": "test-model", "images": []})
    assert r.json()["done_reason"] == "load"
    assert [r for r in fake.requests if r.path.endswith("completions")] == []


def test_generate_logprobs(client: ollama.Client, fake: FakeBackend) -> None:
    lp = {"content": [{"token": "4", "logprob": -0.01, "top_logprobs": []}]}
    fake.enqueue("chat/completions", Reply(json=chat_completion("4", logprobs=lp)))
    reply = client.generate(model="test-model", prompt="2+2", logprobs=True)
    assert fake.last("chat/completions").body["logprobs"] is True
    assert reply.logprobs is not None
    assert [(p.token, p.logprob) for p in reply.logprobs] == [("4", -0.01)]


def test_generate_options_and_foreign_context(http: httpx.Client, fake: FakeBackend) -> None:
    body = {
        "model": "test-model",
        "prompt": "x",
        "stream": False,
        "options": {"num_predict": 5, "num_batch": 8},
    }
    r = http.post("/api/generate", json={**body, "context": [1, 2, 3]})
    assert r.status_code == 400
    assert r.json()["error"].startswith("invalid context")
    assert fake.received("chat/completions") == []
    r = http.post("/api/generate", json=body)
    assert r.status_code == 200
    sent = fake.last("chat/completions").body
    assert sent["max_tokens"] == 5
    assert "context" not in sent
    assert "options.num_batch" in r.headers["x-ollama-proxy-ignored"]
