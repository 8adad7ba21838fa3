"""Real llama-server captures (tests/fixtures/llamacpp/) fed through the translators.

Expected values are derived from the captured bytes independently of the translator (plain JSON
parsing of the SSE lines), so a change in how the translator reads llama.cpp output shows up here.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from ollama_openai_proxy.translate.embed import openai_to_ollama_embed, vectors
from ollama_openai_proxy.translate.errors import from_backend
from ollama_openai_proxy.translate.response import Clock, StreamTranslator, line, openai_to_ollama_completion
from ollama_openai_proxy.translate.sse import SSEDecoder
from tests.unit.helpers import FIXTURES, MS, strip_volatile, translate

pytestmark = pytest.mark.skipif(not (FIXTURES / "index.json").exists(), reason="no llama.cpp captures")

INDEX: dict[str, Any] = (
    json.loads((FIXTURES / "index.json").read_text()) if (FIXTURES / "index.json").exists() else {}
)
SSE = sorted(k for k, v in INDEX.items() if v["response"].endswith(".sse"))
CHAT_JSON = sorted(
    k
    for k, v in INDEX.items()
    if v["status"] == 200 and v["path"] == "/v1/chat/completions" and v["response"].endswith(".json")
)
ERRORS = sorted(k for k, v in INDEX.items() if v["status"] >= 400 and v["path"].startswith("/v1/"))


def raw(name: str) -> bytes:
    return (FIXTURES / INDEX[name]["response"]).read_bytes()


def sse_events(body: bytes) -> list[dict[str, Any]]:
    """Independent reading of the capture: every `data: {...}` line as JSON."""
    return [json.loads(ln[6:]) for ln in body.decode().splitlines() if ln.startswith("data: {")]


def translate_stream(name: str, chunk_size: int) -> tuple[StreamTranslator, list[dict[str, Any]]]:
    body = raw(name)
    kind = "generate" if INDEX[name]["path"] == "/v1/completions" else "chat"
    translator = StreamTranslator(kind, "smollm2:latest", Clock(start=0, sent=MS, headers=2 * MS))
    decoder = SSEDecoder()
    out: list[bytes] = []
    now = 2 * MS
    for i in range(0, len(body), chunk_size):
        now += MS
        for data in decoder.feed(body[i : i + chunk_size]):
            out.extend(line(c) for c in translator.feed(data, now))
    for data in decoder.close():
        out.extend(line(c) for c in translator.feed(data, now))
    assert translator.finished, "the capture ends with [DONE]"
    out.extend(line(c) for c in translator.finish(now + MS))
    return translator, [orjson.loads(b) for b in out]


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 100_000])
@pytest.mark.parametrize("name", SSE)
def test_sse_capture(name: str, chunk_size: int) -> None:
    events = sse_events(raw(name))
    _, lines = translate_stream(name, chunk_size)
    kind_key = "response" if INDEX[name]["path"] == "/v1/completions" else "content"
    choices = [c for e in events for c in e["choices"]]
    want_text = "".join(
        (c.get("text") if "text" in c else (c["delta"].get("content") or "")) or "" for c in choices
    )
    text_of = (lambda ln: ln["response"]) if kind_key == "response" else (lambda ln: ln["message"]["content"])
    assert "".join(text_of(ln) for ln in lines) == want_text
    final = strip_volatile(lines[-1])
    assert final["done"] is True
    assert all(ln["done"] is False for ln in lines[:-1])
    finish = next(c["finish_reason"] for c in choices if c.get("finish_reason"))
    assert final["done_reason"] == {"tool_calls": "stop"}.get(finish, finish)
    last = events[-1]
    usage, timings = last.get("usage"), last["timings"]
    want_prompt = usage["prompt_tokens"] if usage else timings["prompt_n"] + timings["cache_n"]
    want_eval = usage["completion_tokens"] if usage else timings["predicted_n"]
    assert final["prompt_eval_count"] == want_prompt
    assert final["eval_count"] == want_eval
    assert lines[-1]["prompt_eval_duration"] == int(timings["prompt_ms"] * 1e6)
    assert lines[-1]["eval_duration"] == int(timings["predicted_ms"] * 1e6)
    # logprobs, chunk by chunk, with llama.cpp's extra "id" dropped
    want_lp = [
        {k: v for k, v in e.items() if k != "id"}
        | (
            {"top_logprobs": [{k: v for k, v in t.items() if k != "id"} for t in e["top_logprobs"]]}
            if "top_logprobs" in e
            else {}
        )
        for c in choices
        if c.get("logprobs")
        for e in c["logprobs"]["content"]
    ]
    assert [lp for ln in lines for lp in ln.get("logprobs", [])] == want_lp


def test_sse_capture_tool_call() -> None:
    _, lines = translate_stream("chat_tools_stream", 13)
    calls = [c for ln in lines for c in ln["message"].get("tool_calls", [])]
    assert calls == [
        {
            "id": "KrnkF8H119uuPPraLKR5sxxdYaa8GDCf",
            "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Tokyo"}},
        }
    ]
    assert len(lines) == 2  # content was null throughout: only the tool-call line and the final line


def test_sse_capture_json_schema_stream_is_json() -> None:
    _, lines = translate_stream("chat_json_schema_stream", 50)
    assert isinstance(json.loads("".join(ln["message"]["content"] for ln in lines)), dict)


@pytest.mark.parametrize("name", CHAT_JSON)
def test_chat_json_capture(name: str) -> None:
    data = json.loads(raw(name))
    out = openai_to_ollama_completion("chat", "smollm2:latest", data, Clock(start=0, sent=MS), 500 * MS)
    message = data["choices"][0]["message"]
    assert out["message"]["content"] == (message.get("content") or "")
    assert out["message"]["role"] == "assistant"
    finish = data["choices"][0]["finish_reason"]
    assert out["done_reason"] == {"tool_calls": "stop"}.get(finish, finish)
    assert out["prompt_eval_count"] == data["usage"]["prompt_tokens"]
    assert out["eval_count"] == data["usage"]["completion_tokens"]
    assert out["prompt_eval_duration"] == int(data["timings"]["prompt_ms"] * 1e6)
    assert out["eval_duration"] == int(data["timings"]["predicted_ms"] * 1e6)
    assert strip_volatile(out)["done"] is True
    calls = message.get("tool_calls") or []
    assert [c["function"]["arguments"] for c in out["message"].get("tool_calls", [])] == [
        json.loads(c["function"]["arguments"]) for c in calls
    ]
    assert len(out.get("logprobs", [])) == len(
        (data["choices"][0].get("logprobs") or {}).get("content") or []
    )


def test_completions_logprobs_capture() -> None:
    data = json.loads(raw("completions_logprobs"))
    out = openai_to_ollama_completion("generate", "smollm2:latest", data, Clock(start=0, sent=MS), 100 * MS)
    assert out["response"] == " Paris.\n"
    assert [lp["token"] for lp in out["logprobs"]] == [" Paris", ".", "\n"]
    assert out["logprobs"][0]["top_logprobs"][1] == {
        "token": " the",
        "bytes": [32, 116, 104, 101],
        "logprob": -2.7847447395324707,
    }
    assert out["done_reason"] == "length"
    assert (out["prompt_eval_count"], out["eval_count"]) == (5, 3)


@pytest.mark.parametrize("name", ["embeddings", "embeddings_batch", "embeddings_dimensions"])
def test_embeddings_capture(name: str) -> None:
    data = json.loads(raw(name))
    got = vectors(data)
    assert len(got) == len(data["data"])
    out = openai_to_ollama_embed("smollm2", data, 8, {})
    for vec, src in zip(out["embeddings"], got, strict=True):
        assert len(vec) == 8
        assert sum(v * v for v in vec) == pytest.approx(1.0)
        scale = vec[0] / src[0]
        assert vec == pytest.approx([v * scale for v in src[:8]])
    assert out["prompt_eval_count"] == data["usage"]["prompt_tokens"]


@pytest.mark.parametrize("name", ERRORS)
def test_error_capture(name: str) -> None:
    entry = INDEX[name]
    body = raw(name)
    err = from_backend(entry["status"], body, "smollm2")
    message = json.loads(body)["error"]["message"]
    assert message.strip()[:40] in err.message
    if (
        entry["status"] == 404 or entry["status"] >= 500
    ):  # llama.cpp's 404 is an unknown route ("File Not Found"), not a model
        assert err.status == 502
    else:
        assert err.status == entry["status"]


def _body(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / INDEX[name]["request"]).read_text())["body"]
    return body


ALWAYS_STREAMED = {"stream": True, "stream_options": {"include_usage": True}}


def test_request_matches_capture_tools_followup() -> None:
    """The Ollama form of the captured follow-up request translates to exactly what was sent."""
    sent = _body("chat_tools_followup")
    ollama = {
        "model": "smollm2",
        "stream": False,
        "options": {"temperature": 0, "seed": 42, "num_predict": 40},
        "messages": [
            {"role": "user", "content": "What is the weather in Tokyo?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"id": "call_1", "function": {"name": "get_weather", "arguments": {"city": "Tokyo"}}}
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": '{"result": "windy, 5 degrees"}'},
        ],
        "tools": sent["tools"],
    }
    payload = translate("chat", "llamacpp", ollama, "smollm2").payload
    # the capture's arguments were written with a space after the colon; the proxy writes compact JSON
    call = payload["messages"][1]["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == {"city": "Tokyo"}
    call["function"]["arguments"] = sent["messages"][1]["tool_calls"][0]["function"]["arguments"]
    # the llama.cpp profile streams even for stream:false clients (so a client that leaves stops it)
    assert orjson.loads(orjson.dumps(payload)) == sent | ALWAYS_STREAMED


@pytest.mark.parametrize(
    ("name", "ollama"),
    [
        ("chat_thinking_off", {"think": False, "options": {"num_predict": 16}}),
        ("chat_stream_usage", {"stream": True, "options": {"num_predict": 24}}),
        ("chat_reasoning_effort", {"think": "low", "options": {"num_predict": 16}}),
    ],
)
def test_request_matches_capture(name: str, ollama: dict[str, Any]) -> None:
    sent = _body(name)
    request = {"model": "smollm2", "stream": False, "messages": sent["messages"], **ollama}
    request["options"] = {"temperature": 0, "seed": 42, **ollama["options"]}
    payload = translate("chat", "llamacpp", request, "smollm2").payload
    if name == "chat_reasoning_effort":  # llama.cpp profile also sets the template kwargs
        assert payload.pop("chat_template_kwargs") == {"enable_thinking": True, "reasoning_effort": "low"}
    assert orjson.loads(orjson.dumps(payload)) == sent | ALWAYS_STREAMED


def test_raw_generate_logprobs_matches_capture() -> None:
    sent = _body("completions_logprobs")
    breq = translate(
        "generate",
        "llamacpp",
        {
            "model": "smollm2",
            "stream": False,
            "raw": True,
            "prompt": sent["prompt"],
            "logprobs": True,
            "top_logprobs": 2,
            "options": {"temperature": 0, "seed": 42, "num_predict": 3},
        },
        "smollm2",
    )
    assert breq.endpoint == "completions"
    assert orjson.loads(orjson.dumps(breq.payload)) == sent | ALWAYS_STREAMED
