"""Malformed numbers and nesting are a 400 in the dialect's shape, never a 500; odd bytes in JSON
keys (control characters, line breaks, non-ASCII, thousands of keys) never drop the connection."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.conftest import ServedProxy
from tests.hardening.conftest import assert_ollama_error

M = [{"role": "user", "content": "hi"}]


def nested(depth: int, leaf: Any = 1, kind: str = "object") -> Any:
    for _ in range(depth):
        leaf = {"a": leaf} if kind == "object" else [leaf]
    return leaf


def chat(**extra: Any) -> tuple[str, dict[str, Any]]:
    return "/api/chat", {"model": "test-model", "messages": M, "stream": False, **extra}


REFUSED: dict[str, tuple[str, dict[str, Any]]] = {
    "seed beyond 64 bits (float)": chat(options={"seed": 1e30}),
    "seed beyond 64 bits (int)": chat(options={"seed": 2**64}),
    "num_predict beyond 64 bits": (
        "/api/generate",
        {"model": "test-model", "prompt": "x", "options": {"num_predict": 2**70}},
    ),
    "top_logprobs huge": chat(top_logprobs=1e30),
    "dimensions huge": ("/api/embed", {"model": "test-model", "input": "x", "dimensions": 1e30}),
    "context with a huge number": (
        "/api/generate",
        {"model": "test-model", "prompt": "x", "context": [1e30]},
    ),
    "context with a fraction": ("/api/generate", {"model": "test-model", "prompt": "x", "context": [1.5]}),
    "format nested 300 deep": chat(format=nested(300)),
    "format nested 900 deep": chat(format=nested(900)),
    "tools nested 300 deep": chat(tools=[nested(300)]),
    "tool arguments nested 300 deep": (
        "/api/chat",
        {
            "model": "test-model",
            "stream": False,
            "messages": [
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [{"function": {"name": "f", "arguments": nested(300)}}],
                }
            ],
        },
    ),
    "stop nested in lists": chat(options={"stop": nested(300, kind="list")}),
    "relay nested 300 deep": (
        "/v1/chat/completions",
        {"model": "test-model", "messages": M, "x": nested(300)},
    ),
    "create with nested parameters": (
        "/api/create",
        {"model": "x", "from": "test-model", "parameters": {"stop": nested(300, kind="list")}},
    ),
    "num_ctx as text": chat(options={"num_ctx": "1e999"}),
}
RAW: dict[str, bytes] = {
    "1e400": b'{"model":"test-model","messages":[],"options":{"seed":1e400}}',
    "NaN literal": b'{"model":"test-model","messages":[],"keep_alive":NaN}',
    "lone surrogate in a key": b'{"model":"test-model","messages":[],"\\ud800":1}',
    "invalid UTF-8 in a key": b'{"model":"test-model","messages":[],"\xff\xfe":1}',
    "arrays 2000 deep": b'{"model":"test-model","x":' + b"[" * 2000 + b"]" * 2000 + b"}",
    "objects 2000 deep": b'{"model":"test-model","x":' + b'{"a":' * 2000 + b"1" + b"}" * 2000 + b"}",
    "huge integer literal": b'{"model":"test-model","messages":[],"options":{"seed":' + b"9" * 5000 + b"}}",
}


def post(module_proxy: ServedProxy, path: str, content: bytes) -> httpx.Response:
    return httpx.post(module_proxy.url + path, content=content, timeout=10)


@pytest.mark.parametrize("case", list(REFUSED))
def test_malformed_numbers_and_nesting_are_a_400(module_proxy: ServedProxy, case: str) -> None:
    path, body = REFUSED[case]
    response = post(module_proxy, path, json.dumps(body).encode())
    assert response.status_code == 400, response.text[:300]
    if path.startswith("/v1/"):
        assert set(response.json()["error"]) >= {"message", "type"}
    else:
        assert_ollama_error(response, 400)


@pytest.mark.parametrize("case", list(RAW))
@pytest.mark.parametrize(
    "path", ["/api/chat", "/api/generate", "/api/embed", "/v1/chat/completions", "/api/create"]
)
def test_malformed_json_is_a_400(module_proxy: ServedProxy, case: str, path: str) -> None:
    response = post(module_proxy, path, RAW[case])
    assert response.status_code == 400, response.text[:300]


ODD_KEYS = [
    "a\u0000b",
    "line\r\nX-Injected: 1",
    "\u2028\u2029",
    "\u00ff\u00fe",
    "tab\there",
    "\x7f",
    "é" * 500,
    '"\\',
]


@pytest.mark.parametrize("key", ODD_KEYS)
@pytest.mark.parametrize("stream", [False, True])
def test_odd_bytes_in_json_keys_never_drop_the_connection(
    module_proxy: ServedProxy, key: str, stream: bool
) -> None:
    body = {"model": "test-model", "messages": M, "stream": stream, key: 1}
    response = post(module_proxy, "/api/chat", json.dumps(body).encode())
    assert response.status_code == 200, response.text[:300]
    ignored = response.headers["x-ollama-proxy-ignored"]
    assert "\r" not in ignored and "\n" not in ignored
    assert "x-injected" not in response.headers


def test_thousands_of_unknown_keys_keep_the_answer_readable(module_proxy: ServedProxy) -> None:
    body = {
        "model": "test-model",
        "messages": M,
        "stream": False,
        **{f"key-{i}-" + "x" * 40: i for i in range(3000)},
    }
    response = post(module_proxy, "/api/chat", json.dumps(body).encode())
    assert response.status_code == 200
    assert len(response.headers["x-ollama-proxy-ignored"]) <= 2048
