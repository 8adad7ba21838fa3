"""The official ``ollama`` Python client (sync and async) against the proxy in front of a real llama.cpp.

Assertions are about shapes and invariants (non-empty text, ``done`` last, integer durations, token
counts equal to the backend's), never about the exact text a 135M model writes.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import ollama
import pytest
from ollama import AsyncClient, ChatResponse, Client, GenerateResponse, ResponseError
from pydantic import BaseModel, ConfigDict, Field

from tests.e2e.helpers import MODEL, backend_context_length, generating, wait_until_idle

HEX64 = re.compile(r"^[0-9a-f]{64}$")
DURATIONS = ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration")
NUM_PREDICT = 24
EMBED_DIM = 576  # SmolLM2-135M's n_embd


@pytest.fixture
def client(proxy_url: str) -> Iterator[Client]:
    c = Client(host=proxy_url, timeout=120)
    yield c
    c._client.close()


@pytest.fixture
async def aclient(proxy_url: str) -> Any:
    c = AsyncClient(host=proxy_url, timeout=120)
    yield c
    await c._client.aclose()


def backend_prompt_tokens(backend: httpx.Client, messages: list[dict[str, Any]], **extra: Any) -> int:
    """How many prompt tokens llama-server itself counts for these messages."""
    body = {"model": MODEL, "messages": messages, "max_tokens": 1, "temperature": 0, **extra}
    resp = backend.post("/v1/chat/completions", json=body)
    resp.raise_for_status()
    return int(resp.json()["usage"]["prompt_tokens"])


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def check_final(final: ChatResponse | GenerateResponse, num_predict: int, prompt_tokens: int) -> None:
    """The invariants of the last (or only) object of a chat/generate answer."""
    assert final.done is True
    assert final.done_reason in ("stop", "length")
    for name in DURATIONS:
        value = getattr(final, name)
        assert type(value) is int, (name, value)
        assert value > 0, (name, value)
    assert final.total_duration is not None
    assert final.eval_duration is not None
    assert final.total_duration >= final.eval_duration
    assert final.prompt_eval_count == prompt_tokens
    assert isinstance(final.eval_count, int)
    assert final.eval_count > 0
    if final.done_reason == "length":
        assert final.eval_count == num_predict
    else:
        assert final.eval_count <= num_predict
    assert final.created_at is not None
    parse_time(final.created_at)


def check_stream_shape(parts: list[Any]) -> None:
    assert len(parts) >= 2, "a streamed answer should arrive in several chunks"
    assert all(p.done is False for p in parts[:-1])
    assert parts[-1].done is True
    for p in parts[:-1]:  # metrics belong to the final object only
        assert p.eval_count is None
        assert p.total_duration is None
        assert p.done_reason is None
        assert p.model == MODEL
        parse_time(p.created_at)


# --------------------------------------------------------------------------- models


def test_list_shows_smollm2_with_digest_and_time(client: Client) -> None:
    listing = client.list()
    names = [m.model for m in listing.models]
    assert f"{MODEL}:latest" in names, names
    model = next(m for m in listing.models if m.model == f"{MODEL}:latest")
    assert model.digest is not None
    assert HEX64.match(model.digest), model.digest
    assert isinstance(model.modified_at, datetime)
    assert model.size is not None
    assert model.size > 0
    assert model.details is not None
    assert model.details.format == "gguf"


def test_list_raw_timestamp_is_rfc3339(proxy_http: httpx.Client) -> None:
    models = proxy_http.get("/api/tags").json()["models"]
    entry = next(m for m in models if m["name"] == f"{MODEL}:latest")
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", entry["modified_at"])


def test_show_capabilities_and_context_length(client: Client, backend_http: httpx.Client) -> None:
    shown = client.show(MODEL)
    assert isinstance(shown.capabilities, list)
    assert "completion" in shown.capabilities
    assert "tools" in shown.capabilities
    info = shown.modelinfo
    assert isinstance(info, dict)
    arch = info["general.architecture"]
    assert isinstance(arch, str)
    assert arch
    assert info[f"{arch}.context_length"] == backend_context_length(backend_http)
    assert info.get(f"{arch}.embedding_length") == EMBED_DIM


def test_show_accepts_tagged_name(client: Client) -> None:
    assert "completion" in (client.show(f"{MODEL}:latest").capabilities or [])


# --------------------------------------------------------------------------- chat and generate

CHAT = [{"role": "user", "content": "Name three colours."}]


def test_chat_not_streamed(client: Client, backend_http: httpx.Client) -> None:
    resp = client.chat(MODEL, messages=CHAT, options={"num_predict": NUM_PREDICT})
    assert resp.model == MODEL
    assert resp.message.role == "assistant"
    assert resp.message.content
    assert resp.message.content.strip()
    assert not resp.message.tool_calls
    check_final(resp, NUM_PREDICT, backend_prompt_tokens(backend_http, CHAT))


def test_chat_streamed(client: Client, backend_http: httpx.Client) -> None:
    parts = list(client.chat(MODEL, messages=CHAT, stream=True, options={"num_predict": NUM_PREDICT}))
    check_stream_shape(parts)
    assert all(p.message.role == "assistant" for p in parts)
    text = "".join(p.message.content or "" for p in parts)
    assert text.strip()
    check_final(parts[-1], NUM_PREDICT, backend_prompt_tokens(backend_http, CHAT))


def test_chat_length_limit_reports_length(client: Client) -> None:
    resp = client.chat(MODEL, messages=CHAT, options={"num_predict": 3})
    assert resp.done_reason == "length"
    assert resp.eval_count == 3


def test_chat_with_system_prompt(client: Client, backend_http: httpx.Client) -> None:
    messages = [{"role": "system", "content": "You are terse."}, *CHAT]
    resp = client.chat(MODEL, messages=messages, options={"num_predict": NUM_PREDICT})
    assert resp.message.content
    check_final(resp, NUM_PREDICT, backend_prompt_tokens(backend_http, messages))


PROMPT = "Write one sentence about the sea."


def test_generate_not_streamed(client: Client, backend_http: httpx.Client) -> None:
    resp = client.generate(MODEL, PROMPT, options={"num_predict": NUM_PREDICT})
    assert resp.model == MODEL
    assert resp.response.strip()
    check_final(resp, NUM_PREDICT, backend_prompt_tokens(backend_http, [{"role": "user", "content": PROMPT}]))


def test_generate_streamed(client: Client, backend_http: httpx.Client) -> None:
    parts = list(client.generate(MODEL, PROMPT, stream=True, options={"num_predict": NUM_PREDICT}))
    check_stream_shape(parts)
    assert "".join(p.response for p in parts).strip()
    check_final(
        parts[-1], NUM_PREDICT, backend_prompt_tokens(backend_http, [{"role": "user", "content": PROMPT}])
    )


def test_generate_with_system(client: Client, backend_http: httpx.Client) -> None:
    resp = client.generate(MODEL, PROMPT, system="Answer in French.", options={"num_predict": NUM_PREDICT})
    assert resp.response.strip()
    messages = [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": PROMPT}]
    check_final(resp, NUM_PREDICT, backend_prompt_tokens(backend_http, messages))


async def test_async_chat_streamed(aclient: AsyncClient, backend_http: httpx.Client) -> None:
    parts = [
        p async for p in await aclient.chat(MODEL, CHAT, stream=True, options={"num_predict": NUM_PREDICT})
    ]
    check_stream_shape(parts)
    assert "".join(p.message.content or "" for p in parts).strip()
    check_final(parts[-1], NUM_PREDICT, backend_prompt_tokens(backend_http, CHAT))


async def test_async_chat_and_generate_not_streamed(aclient: AsyncClient) -> None:
    chat = await aclient.chat(MODEL, CHAT, options={"num_predict": NUM_PREDICT})
    assert chat.done
    assert chat.message.content
    gen = await aclient.generate(MODEL, PROMPT, options={"num_predict": NUM_PREDICT})
    assert gen.done
    assert gen.response
    assert isinstance(gen.eval_duration, int)
    assert gen.eval_duration > 0


async def test_async_generate_streamed(aclient: AsyncClient) -> None:
    parts = [p async for p in await aclient.generate(MODEL, PROMPT, stream=True, options={"num_predict": 16})]
    check_stream_shape(parts)
    assert "".join(p.response for p in parts).strip()
    assert parts[-1].eval_count
    assert parts[-1].eval_count > 0


def test_options_are_applied(client: Client) -> None:
    """seed + temperature reach the backend (same seed, same text); stop strings end the answer."""
    opts = {"num_predict": 16, "seed": 1234, "temperature": 0.9}
    first = client.generate(MODEL, "Tell me a joke.", options=opts).response
    second = client.generate(MODEL, "Tell me a joke.", options=opts).response
    assert first
    assert first == second
    stopped = client.generate(MODEL, "1, 2, 3, 4, 5,", raw=True, options={"num_predict": 24, "stop": [","]})
    assert "," not in stopped.response
    assert stopped.done_reason == "stop"


def test_raw_generate(client: Client) -> None:
    resp = client.generate(MODEL, "The sky is", raw=True, options={"num_predict": 8})
    assert resp.response
    assert resp.done
    assert resp.done_reason in ("stop", "length")
    assert resp.prompt_eval_count is not None
    assert 0 < resp.prompt_eval_count < 10


def test_logprobs(client: Client) -> None:
    resp = client.chat(MODEL, CHAT, logprobs=True, top_logprobs=2, options={"num_predict": 4})
    assert resp.logprobs is not None
    assert len(resp.logprobs) == resp.eval_count
    assert all(isinstance(lp.logprob, float) and lp.token for lp in resp.logprobs)
    assert all(len(lp.top_logprobs or []) == 2 for lp in resp.logprobs)


def test_ndjson_framing_when_stream_is_absent(proxy_http: httpx.Client) -> None:
    """curl and the Go CLI omit "stream": it defaults to true; one JSON object per line, no blank lines."""
    for path, body in (
        ("/api/chat", {"model": MODEL, "messages": CHAT, "options": {"num_predict": 8}}),
        ("/api/generate", {"model": MODEL, "prompt": PROMPT, "options": {"num_predict": 8}}),
    ):
        with proxy_http.stream("POST", path, json=body) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("application/x-ndjson")
            raw = resp.read().decode()
        assert raw.endswith("\n")
        lines = raw[:-1].split("\n")
        assert all(line.strip() for line in lines), "no blank lines"
        objects = [json.loads(line) for line in lines]
        assert objects[-1]["done"] is True
        assert all(o["done"] is False for o in objects[:-1])


async def test_parallel_streams(aclient: AsyncClient) -> None:
    """Four concurrent streams (the backend has four slots) all finish with done."""

    async def one(i: int) -> tuple[str, Any]:
        parts = [
            p
            async for p in await aclient.generate(
                MODEL, f"Say something about the number {i}.", stream=True, options={"num_predict": 16}
            )
        ]
        return "".join(p.response for p in parts), parts[-1]

    results = await asyncio.gather(*(one(i) for i in range(4)))
    for text, final in results:
        assert text.strip()
        assert final.done is True
        assert final.eval_count
        assert final.eval_count > 0


# --------------------------------------------------------------------------- tools


def get_weather(city: str) -> str:
    """Get the current weather for a city.

    Args:
      city: The name of the city

    Returns:
      A short weather report
    """
    return f"It is 21 degrees and sunny in {city}."


WEATHER_Q = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOL_OPTS = {"temperature": 0, "num_predict": 48}


def test_tool_round_trip(client: Client) -> None:
    """As in ollama-python's examples: call, run the function, send a tool_name result, stream the answer."""
    messages: list[Any] = list(WEATHER_Q)
    first = client.chat(MODEL, messages=messages, tools=[get_weather], options=TOOL_OPTS)
    assert first.done
    assert first.done_reason == "stop"
    calls = first.message.tool_calls or []
    assert len(calls) == 1, first.message
    call = calls[0]
    assert call.function.name == "get_weather"
    assert isinstance(call.function.arguments, dict)
    assert isinstance(call.function.arguments.get("city"), str)
    assert call.function.arguments["city"]

    messages.append(first.message)
    result = get_weather(**call.function.arguments)
    messages.append({"role": "tool", "content": result, "tool_name": call.function.name})
    parts = list(client.chat(MODEL, messages=messages, tools=[get_weather], stream=True, options=TOOL_OPTS))
    check_stream_shape(parts)
    answer = "".join(p.message.content or "" for p in parts)
    assert answer.strip(), parts
    assert not any(p.message.tool_calls for p in parts), "the model should answer from the tool result"
    assert parts[-1].done_reason in ("stop", "length")


async def test_tool_call_streamed(aclient: AsyncClient) -> None:
    """Streamed: the call arrives whole (never as argument fragments) in one chunk, then done."""
    parts = [
        p
        async for p in await aclient.chat(
            MODEL, WEATHER_Q, tools=[get_weather], stream=True, options=TOOL_OPTS
        )
    ]
    assert parts[-1].done is True
    calls = [c for p in parts for c in (p.message.tool_calls or [])]
    assert len(calls) == 1, parts
    assert calls[0].function.name == "get_weather"
    assert isinstance(calls[0].function.arguments, dict)
    assert calls[0].function.arguments.get("city")
    assert parts[-1].done_reason == "stop"  # Ollama has no "tool_calls" done_reason


# --------------------------------------------------------------------------- structured output


class City(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=24)
    country: str = Field(max_length=24)


def test_structured_output_with_schema(client: Client) -> None:
    resp = client.chat(
        MODEL,
        messages=[{"role": "user", "content": "Tell me about Paris. Reply in JSON."}],
        format=City.model_json_schema(),
        options={"temperature": 0, "num_predict": 64},
    )
    assert resp.done_reason == "stop", resp.message.content
    city = City.model_validate_json(resp.message.content or "")
    assert city.name


def test_generate_structured_output_with_schema(client: Client) -> None:
    resp = client.generate(
        MODEL,
        "Tell me about Rome. Reply in JSON.",
        format=City.model_json_schema(),
        options={"temperature": 0, "num_predict": 64},
    )
    assert resp.done_reason == "stop", resp.response
    City.model_validate_json(resp.response)


def test_format_json(client: Client) -> None:
    resp = client.chat(
        MODEL,
        messages=[{"role": "user", "content": 'Reply in JSON: {"answer": <the capital of France>}'}],
        format="json",
        options={"temperature": 0, "num_predict": 48},
    )
    assert resp.done_reason == "stop", resp.message.content
    assert isinstance(json.loads(resp.message.content or ""), dict)


# --------------------------------------------------------------------------- embeddings


def norm(vec: list[float]) -> float:
    return math.sqrt(sum(x * x for x in vec))


def close(a: list[float], b: list[float], tol: float = 1e-4) -> bool:
    return len(a) == len(b) and max(abs(x - y) for x, y in zip(a, b, strict=True)) < tol


def test_embed_single(client: Client) -> None:
    resp = client.embed(MODEL, "The quick brown fox.")
    assert resp.model == MODEL
    assert len(resp.embeddings) == 1
    vec = resp.embeddings[0]
    assert len(vec) == EMBED_DIM
    assert all(isinstance(x, float) for x in vec)
    assert abs(norm(vec) - 1.0) < 1e-3


def test_embed_dimensions(client: Client) -> None:
    vec = client.embed(MODEL, "hello", dimensions=64).embeddings[0]
    assert len(vec) == 64
    assert abs(norm(vec) - 1.0) < 1e-3


def test_embed_batch_keeps_order(client: Client) -> None:
    texts = ["apples and pears", "a rocket launch", "apples and pears"]
    batch = client.embed(MODEL, texts).embeddings
    assert len(batch) == 3
    assert all(len(v) == EMBED_DIM and abs(norm(v) - 1.0) < 1e-3 for v in batch)
    assert close(batch[0], batch[2]), "the same text embedded twice must give the same vector"
    assert not close(batch[0], batch[1], 1e-2)
    single = client.embed(MODEL, texts[1]).embeddings[0]
    assert close(single, batch[1], 1e-3), "batch order must match input order"


async def test_async_embed(aclient: AsyncClient) -> None:
    resp = await aclient.embed(MODEL, ["one", "two"])
    assert [len(v) for v in resp.embeddings] == [EMBED_DIM, EMBED_DIM]


def test_legacy_embeddings(client: Client) -> None:
    text = "The quick brown fox."
    legacy = client.embeddings(MODEL, text).embedding
    assert len(legacy) == EMBED_DIM
    assert norm(legacy) > 0
    modern = client.embed(MODEL, text).embeddings[0]
    # llama.cpp normalises; the legacy vector points the same way as the /api/embed one.
    cosine = sum(a * b for a, b in zip(legacy, modern, strict=True)) / norm(legacy)
    assert cosine > 0.999


# --------------------------------------------------------------------------- pull, load, unload, ps


def test_pull_streamed_ends_with_success(client: Client) -> None:
    progress = list(client.pull(MODEL, stream=True))
    assert progress, "pull must stream progress"
    assert all(p.status for p in progress)
    assert progress[-1].status == "success"
    assert client.pull(MODEL).status == "success"


def test_load_unload_and_ps(client: Client, backend_http: httpx.Client) -> None:
    loaded = client.generate(MODEL)  # empty prompt: a load request
    assert loaded.done is True
    assert loaded.done_reason == "load"
    assert loaded.response == ""
    chat_loaded = client.chat(MODEL)
    assert chat_loaded.done is True
    assert chat_loaded.done_reason == "load"
    assert chat_loaded.message.role == "assistant"

    running = client.ps().models
    entry = next((m for m in running if m.model == f"{MODEL}:latest"), None)
    assert entry is not None, running
    assert entry.digest is not None
    assert HEX64.match(entry.digest)
    assert isinstance(entry.expires_at, datetime)
    assert entry.context_length == backend_context_length(backend_http)

    unloaded = client.generate(MODEL, keep_alive=0)
    assert unloaded.done is True
    assert unloaded.done_reason == "unload"
    assert f"{MODEL}:latest" not in [m.model for m in client.ps().models]

    client.chat(MODEL, keep_alive="5m")
    assert f"{MODEL}:latest" in [m.model for m in client.ps().models]
    unloaded_chat = client.chat(MODEL, keep_alive=0)
    assert unloaded_chat.done_reason == "unload"
    assert f"{MODEL}:latest" not in [m.model for m in client.ps().models]


def test_ps_lists_a_model_after_inference(client: Client, proxy_http: httpx.Client) -> None:
    client.generate(MODEL, "Hi", options={"num_predict": 2}, keep_alive="10m")
    raw = proxy_http.get("/api/ps").json()
    assert isinstance(raw["models"], list)
    entry = next(m for m in raw["models"] if m["model"] == f"{MODEL}:latest")
    assert len(entry["digest"]) == 64
    parse_time(entry["expires_at"])


# --------------------------------------------------------------------------- errors


UNKNOWN = "no-such-model-e2e"


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.chat(UNKNOWN, messages=CHAT), id="chat"),
        pytest.param(lambda c: list(c.chat(UNKNOWN, messages=CHAT, stream=True)), id="chat-stream"),
        pytest.param(lambda c: c.generate(UNKNOWN, PROMPT), id="generate"),
        pytest.param(lambda c: list(c.generate(UNKNOWN, PROMPT, stream=True)), id="generate-stream"),
        pytest.param(lambda c: c.generate(UNKNOWN), id="generate-load"),
        pytest.param(lambda c: c.show(UNKNOWN), id="show"),
        pytest.param(lambda c: c.embed(UNKNOWN, "x"), id="embed"),
        pytest.param(lambda c: c.embeddings(UNKNOWN, "x"), id="embeddings"),
    ],
)
def test_unknown_model_is_404(client: Client, call: Any) -> None:
    with pytest.raises(ResponseError) as info:
        call(client)
    assert info.value.status_code == 404
    assert UNKNOWN in info.value.error
    assert "not found" in info.value.error


def test_unknown_model_pull_fails(client: Client) -> None:
    with pytest.raises(ResponseError):
        list(client.pull(UNKNOWN, stream=True))


# --------------------------------------------------------------------------- disconnects


def test_client_disconnect_stops_backend_generation(client: Client, backend_http: httpx.Client) -> None:
    assert wait_until_idle(backend_http, timeout=30) == 0, "the backend should be idle before the test"
    stream = client.generate(
        MODEL, "Write a very long story about a dragon.", stream=True, options={"num_predict": 4000}
    )
    received = []
    for part in stream:
        received.append(part)
        if len(received) == 2:
            break
    assert generating(backend_http), "the backend should be generating while the client reads"
    stream.close()  # what leaving the loop and dropping the iterator does: the HTTP response closes
    assert wait_until_idle(backend_http, timeout=8) == 0, (
        "the backend kept generating after the client went away"
    )
    # the proxy is unharmed
    assert client.generate(MODEL, "Hi", options={"num_predict": 2}).done


async def test_async_client_disconnect_stops_backend(
    aclient: AsyncClient, backend_http: httpx.Client
) -> None:
    wait_until_idle(backend_http)
    stream = await aclient.chat(
        MODEL,
        [{"role": "user", "content": "Write a very long story about a dragon."}],
        stream=True,
        options={"num_predict": 4000},
    )
    n = 0
    async for _ in stream:
        n += 1
        if n == 2:
            break
    await stream.aclose()
    assert wait_until_idle(backend_http, timeout=8) == 0


def test_client_timeout_on_non_streamed_request_stops_backend(
    proxy_url: str, backend_http: httpx.Client
) -> None:
    """A client that gives up on a non-streamed generate (timeout, Ctrl-C) must not leave the
    backend generating for it: Ollama cancels the request's context and the runner stops.

    llama-server only notices a closed connection on *streamed* requests, so a proxy that relays a
    non-streamed Ollama request as a non-streamed backend request cannot stop it by closing the
    connection; it has to stream from the backend (and assemble the answer) to be able to cancel.
    """
    assert wait_until_idle(backend_http, timeout=30) == 0, "the backend should be idle before the test"
    impatient = Client(host=proxy_url, timeout=1.5)
    errors: list[BaseException] = []

    def call() -> None:
        try:  # raw counting: the model keeps going instead of ending its turn early
            impatient.generate(MODEL, "1, 2, 3, 4, 5,", raw=True, options={"num_predict": 600})
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    time.sleep(0.8)
    busy = generating(backend_http)
    worker.join(10)
    impatient._client.close()
    assert busy, "the backend should be generating while the client waits"
    assert len(errors) == 1, errors
    assert isinstance(errors[0], httpx.TimeoutException), errors
    try:
        assert wait_until_idle(backend_http, timeout=2.5) == 0, (
            "the backend is still generating a non-streamed answer whose client went away"
        )
    finally:
        wait_until_idle(backend_http, timeout=30)  # leave an idle backend to the next test


# --------------------------------------------------------------------------- OpenAI relay


def test_v1_chat_completions_not_streamed(proxy_http: httpx.Client) -> None:
    resp = proxy_http.post(
        "/v1/chat/completions",
        json={"model": MODEL, "messages": CHAT, "max_tokens": 16, "temperature": 0.2},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["object"] == "chat.completion"
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"]
    assert choice["finish_reason"] in ("stop", "length")
    assert body["usage"]["completion_tokens"] > 0


def test_v1_chat_completions_streamed(proxy_http: httpx.Client) -> None:
    payload = {
        "model": MODEL,
        "messages": CHAT,
        "max_tokens": 16,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with proxy_http.stream("POST", "/v1/chat/completions", json=payload) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        data = [line[len("data: ") :] for line in resp.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join((ch.get("delta") or {}).get("content") or "" for c in chunks for ch in c["choices"])
    assert text.strip()
    assert any(ch.get("finish_reason") in ("stop", "length") for c in chunks for ch in c["choices"])
    assert any(c.get("usage") for c in chunks)


def test_v1_unknown_model_is_openai_404(proxy_http: httpx.Client) -> None:
    resp = proxy_http.post("/v1/chat/completions", json={"model": UNKNOWN, "messages": CHAT})
    assert resp.status_code == 404
    assert isinstance(resp.json()["error"], dict)
    assert resp.json()["error"]["message"]


def test_v1_models_lists_smollm2(proxy_http: httpx.Client) -> None:
    ids = [m["id"] for m in proxy_http.get("/v1/models").json()["data"]]
    assert f"{MODEL}:latest" in ids or MODEL in ids


def test_module_level_client_uses_ollama_host(proxy_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """ollama.Client() with no host reads OLLAMA_HOST, as apps configured for a local Ollama do."""
    monkeypatch.setenv("OLLAMA_HOST", proxy_url)
    c = ollama.Client()
    try:
        assert any(m.model == f"{MODEL}:latest" for m in c.list().models)
    finally:
        c._client.close()
