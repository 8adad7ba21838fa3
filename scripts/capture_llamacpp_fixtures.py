#!/usr/bin/env python3
"""Capture real llama-server responses as golden fixtures under tests/fixtures/llamacpp/.

Start the backend first (``python3 scripts/llama_backend.py start``), then run
``python3 scripts/capture_llamacpp_fixtures.py [--base http://127.0.0.1:18080]``.

For every case NAME it writes
  NAME.request.json   {"method", "path", "body"} (body as sent; raw string for the bad-JSON case)
  NAME.response.<ext> the response body exactly as received (.json, .sse for event streams, .txt)
and index.json: one entry per case with status, content-type and the files. Responses are raw,
except props.response.json (the chat_template field is trimmed; marked "trimmed" in index.json).
Sampling uses temperature 0 and fixed seeds, but the outputs still vary by build, so unit tests
should treat these as shapes, not as exact texts to reproduce.
Stdlib only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT = REPO_ROOT / "tests" / "fixtures" / "llamacpp"

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
        },
    },
}
ASK = [{"role": "user", "content": "What is the weather in Tokyo?"}]
HELLO = [{"role": "user", "content": "Say hello in one short sentence."}]
BASE = {"model": "smollm2", "temperature": 0, "seed": 42}
PNG_1PX = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
FOLLOWUP = [
    {"role": "user", "content": "What is the weather in Tokyo?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Tokyo"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": '{"result": "windy, 5 degrees"}'},
]
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}

# (name, method, path, body, note)
CASES: list[tuple[str, str, str, object, str]] = [
    ("models", "GET", "/v1/models", None, "model list; note the non-OpenAI `models` and `data[].meta`"),
    ("props", "GET", "/props", None, "server properties (chat_template trimmed); build_info = version"),
    ("health", "GET", "/health", None, ""),
    (
        "chat",
        "POST",
        "/v1/chat/completions",
        {**BASE, "messages": HELLO, "max_tokens": 24},
        "plain, non-streamed",
    ),
    (
        "chat_stream_usage",
        "POST",
        "/v1/chat/completions",
        {
            **BASE,
            "messages": HELLO,
            "max_tokens": 24,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        "streamed with include_usage: final chunk has choices:[] + usage + timings",
    ),
    (
        "chat_stream_no_usage",
        "POST",
        "/v1/chat/completions",
        {**BASE, "messages": HELLO, "max_tokens": 8, "stream": True},
        "streamed without stream_options",
    ),
    (
        "chat_length",
        "POST",
        "/v1/chat/completions",
        {**BASE, "messages": HELLO, "max_tokens": 3},
        "finish_reason length",
    ),
    (
        "chat_stop",
        "POST",
        "/v1/chat/completions",
        {
            **BASE,
            "messages": [{"role": "user", "content": "Count from 1 to 10, separated by commas."}],
            "max_tokens": 40,
            "stop": ["5"],
        },
        "stop string",
    ),
    (
        "chat_tools",
        "POST",
        "/v1/chat/completions",
        {**BASE, "messages": ASK, "tools": [WEATHER_TOOL], "max_tokens": 64},
        "parsed tool_calls, non-streamed",
    ),
    (
        "chat_tools_stream",
        "POST",
        "/v1/chat/completions",
        {
            **BASE,
            "messages": ASK,
            "tools": [WEATHER_TOOL],
            "max_tokens": 64,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        "parsed tool_calls, streamed",
    ),
    (
        "chat_tools_followup",
        "POST",
        "/v1/chat/completions",
        {**BASE, "messages": FOLLOWUP, "tools": [WEATHER_TOOL], "max_tokens": 40},
        "answer after a tool result",
    ),
    (
        "chat_tools_followup_stream",
        "POST",
        "/v1/chat/completions",
        {
            **BASE,
            "messages": FOLLOWUP,
            "tools": [WEATHER_TOOL],
            "max_tokens": 40,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        "answer after a tool result, streamed",
    ),
    (
        "chat_tool_choice_required",
        "POST",
        "/v1/chat/completions",
        {**BASE, "messages": HELLO, "tools": [WEATHER_TOOL], "tool_choice": "required", "max_tokens": 64},
        "tool_choice required (grammar-forced)",
    ),
    (
        "chat_tool_choice_none",
        "POST",
        "/v1/chat/completions",
        {**BASE, "messages": ASK, "tools": [WEATHER_TOOL], "tool_choice": "none", "max_tokens": 24},
        "tool_choice none",
    ),
    (
        "chat_tool_choice_named",
        "POST",
        "/v1/chat/completions",
        {
            **BASE,
            "messages": HELLO,
            "tools": [WEATHER_TOOL],
            "max_tokens": 64,
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        },
        "named tool_choice object",
    ),
    (
        "chat_json_schema",
        "POST",
        "/v1/chat/completions",
        {
            **BASE,
            "messages": [{"role": "user", "content": "Describe a person as JSON."}],
            "max_tokens": 64,
            "response_format": {"type": "json_schema", "json_schema": {"name": "schema", "schema": SCHEMA}},
        },
        "json_schema enforced",
    ),
    (
        "chat_json_schema_stream",
        "POST",
        "/v1/chat/completions",
        {
            **BASE,
            "messages": [{"role": "user", "content": "Describe a person as JSON."}],
            "max_tokens": 64,
            "stream": True,
            "stream_options": {"include_usage": True},
            "response_format": {"type": "json_schema", "json_schema": {"name": "schema", "schema": SCHEMA}},
        },
        "json_schema enforced, streamed",
    ),
    (
        "chat_json_object",
        "POST",
        "/v1/chat/completions",
        {
            **BASE,
            "messages": [{"role": "user", "content": "Say hello."}],
            "max_tokens": 24,
            "response_format": {"type": "json_object"},
        },
        "json_object WITHOUT schema: check whether enforced",
    ),
    (
        "chat_json_object_schema",
        "POST",
        "/v1/chat/completions",
        {
            **BASE,
            "messages": [{"role": "user", "content": "Say hello."}],
            "max_tokens": 24,
            "response_format": {"type": "json_object", "schema": {"type": "object"}},
        },
        "json_object with schema {type: object}",
    ),
    (
        "chat_json_schema_object",
        "POST",
        "/v1/chat/completions",
        {
            **BASE,
            "messages": [{"role": "user", "content": "Say hello."}],
            "max_tokens": 24,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "o", "schema": {"type": "object"}},
            },
        },
        'json_schema {type: object}: what Ollama format:"json" could map to',
    ),
    (
        "chat_logprobs",
        "POST",
        "/v1/chat/completions",
        {**BASE, "messages": HELLO, "max_tokens": 4, "logprobs": True, "top_logprobs": 2},
        "logprobs",
    ),
    (
        "chat_logprobs_stream",
        "POST",
        "/v1/chat/completions",
        {
            **BASE,
            "messages": HELLO,
            "max_tokens": 4,
            "logprobs": True,
            "top_logprobs": 2,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        "logprobs, streamed",
    ),
    (
        "chat_thinking_off",
        "POST",
        "/v1/chat/completions",
        {**BASE, "messages": HELLO, "max_tokens": 16, "chat_template_kwargs": {"enable_thinking": False}},
        "chat_template_kwargs enable_thinking false",
    ),
    (
        "chat_reasoning_effort",
        "POST",
        "/v1/chat/completions",
        {**BASE, "messages": HELLO, "max_tokens": 16, "reasoning_effort": "low"},
        "reasoning_effort low",
    ),
    (
        "chat_sampling_params",
        "POST",
        "/v1/chat/completions",
        {
            **BASE,
            "messages": HELLO,
            "max_tokens": 16,
            "top_k": 20,
            "min_p": 0.05,
            "typical_p": 0.9,
            "repeat_penalty": 1.1,
            "repetition_penalty": 1.1,
            "repeat_last_n": 32,
            "n_keep": 4,
            "mirostat": 0,
            "mirostat_tau": 5.0,
            "mirostat_eta": 0.1,
            "top_p": 0.9,
            "frequency_penalty": 0.1,
            "presence_penalty": 0.1,
            "stop": ["\n\n"],
            "num_ctx": 2048,
            "totally_unknown_param": {"x": 1},
        },
        "all Ollama-ish sampling params + unknown ones in one request",
    ),
    (
        "chat_unknown_model",
        "POST",
        "/v1/chat/completions",
        {**BASE, "model": "no-such-model:latest", "messages": HELLO, "max_tokens": 4},
        "model field ignored",
    ),
    ("chat_n2", "POST", "/v1/chat/completions", {**BASE, "messages": HELLO, "max_tokens": 4, "n": 2}, "n=2"),
    (
        "completions",
        "POST",
        "/v1/completions",
        {**BASE, "prompt": "The capital of France is", "max_tokens": 8},
        "raw completion",
    ),
    (
        "completions_stream",
        "POST",
        "/v1/completions",
        {
            **BASE,
            "prompt": "The capital of France is",
            "max_tokens": 8,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        "raw completion, streamed",
    ),
    (
        "completions_logprobs",
        "POST",
        "/v1/completions",
        {**BASE, "prompt": "The capital of France is", "max_tokens": 3, "logprobs": 2},
        "legacy logprobs",
    ),
    (
        "completions_suffix",
        "POST",
        "/v1/completions",
        {**BASE, "prompt": "def add(a, b):\n    ", "suffix": "\n    return c\n", "max_tokens": 16},
        "suffix on /v1/completions",
    ),
    (
        "infill",
        "POST",
        "/infill",
        {**BASE, "input_prefix": "def add(a, b):\n    ", "input_suffix": "\n    return c\n", "n_predict": 16},
        "/infill (FIM)",
    ),
    (
        "embeddings",
        "POST",
        "/v1/embeddings",
        {"model": "smollm2", "input": "hello world", "encoding_format": "float"},
        "single input",
    ),
    (
        "embeddings_batch",
        "POST",
        "/v1/embeddings",
        {"model": "smollm2", "input": ["hello world", "goodbye moon"], "encoding_format": "float"},
        "batch",
    ),
    (
        "embeddings_dimensions",
        "POST",
        "/v1/embeddings",
        {"model": "smollm2", "input": "hello world", "dimensions": 8},
        "dimensions param",
    ),
    (
        "error_image_part",
        "POST",
        "/v1/chat/completions",
        {
            **BASE,
            "max_tokens": 4,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PNG_1PX}},
                    ],
                }
            ],
        },
        "image part on a text-only model",
    ),
    (
        "error_bad_json",
        "POST",
        "/v1/chat/completions",
        '{"model": "smollm2", "messages": [',
        "malformed body",
    ),
    ("error_no_messages", "POST", "/v1/chat/completions", {"model": "smollm2"}, "missing messages"),
    (
        "error_bad_param_type",
        "POST",
        "/v1/chat/completions",
        {**BASE, "messages": HELLO, "max_tokens": 4, "top_k": "abc"},
        "wrongly typed known param",
    ),
    ("error_embeddings_empty_list", "POST", "/v1/embeddings", {"model": "smollm2", "input": []}, "input []"),
    (
        "error_embeddings_empty_string",
        "POST",
        "/v1/embeddings",
        {"model": "smollm2", "input": ""},
        'input ""',
    ),
    ("error_unknown_route", "GET", "/v1/nope", None, "unknown route"),
    (
        "error_ctx_exceeded",
        "POST",
        "/v1/chat/completions",
        {**BASE, "max_tokens": 4, "messages": [{"role": "user", "content": "hello " * 9000}]},
        "prompt longer than the context",
    ),
    ("ollama_api_tags", "GET", "/api/tags", None, "llama-server's own Ollama-ish routes"),
    ("ollama_api_show", "POST", "/api/show", {"model": "smollm2"}, ""),
    ("ollama_api_chat", "POST", "/api/chat", {"model": "smollm2", "messages": HELLO, "stream": False}, ""),
]


def request(base: str, method: str, path: str, body: object) -> tuple[int, str, bytes]:
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=300)
    data = None
    headers = {}
    if body is not None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    raw = resp.read()  # identity transfer; chunked SSE arrives as the exact byte sequence
    ctype = resp.getheader("Content-Type", "")
    conn.close()
    return resp.status, ctype, raw


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="http://127.0.0.1:18080")
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    index_path = OUT / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    for name, method, path, body, note in CASES:
        if args.only and name not in args.only:
            continue
        status, ctype, raw = request(args.base, method, path, body)
        trimmed = False
        if name == "props":
            obj = json.loads(raw)
            tmpl = obj.get("chat_template")
            if isinstance(tmpl, str):
                obj["chat_template"] = f"<trimmed: {len(tmpl)} chars, the --chat-template-file>"
                trimmed = True
            raw = (json.dumps(obj, indent=1) + "\n").encode()
        if "text/event-stream" in ctype:
            ext = "sse"
        elif "json" in ctype:
            ext = "json"
        else:
            ext = "txt"
        (OUT / f"{name}.request.json").write_text(
            json.dumps({"method": method, "path": path, "body": body}, indent=1) + "\n"
        )
        for old in OUT.glob(f"{name}.response.*"):
            old.unlink()
        (OUT / f"{name}.response.{ext}").write_bytes(raw)
        index[name] = {
            "method": method,
            "path": path,
            "status": status,
            "content_type": ctype,
            "request": f"{name}.request.json",
            "response": f"{name}.response.{ext}",
            "note": note,
        }
        if trimmed:
            index[name]["trimmed"] = ["chat_template"]
        print(f"{status} {name:32} {ctype:40} {len(raw)} bytes")
    index_path.write_text(json.dumps(dict(sorted(index.items())), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
