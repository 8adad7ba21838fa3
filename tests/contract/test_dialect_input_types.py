"""Wrongly typed input (scalars, tool definitions) is refused in each dialect's own error shape, as
Ollama's Go decoder refuses it, before anything reaches a backend."""

from __future__ import annotations

import httpx
import pytest

from tests.support.fake_backend import FakeBackend, Reply, chat_completion

ANTHROPIC_OK = {"model": "test-model", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
RESPONSES_OK = {"model": "test-model", "input": "hi"}
TOOL_RESULT = {"type": "tool_result", "tool_use_id": "t1", "content": "ok"}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/messages", {**ANTHROPIC_OK, "stream": "yes"}, "stream"),
        ("/v1/messages", {**ANTHROPIC_OK, "stream": 1}, "stream"),
        ("/v1/messages", {**ANTHROPIC_OK, "max_tokens": "8"}, "max_tokens"),
        ("/v1/messages", {**ANTHROPIC_OK, "max_tokens": 8.0}, "max_tokens"),
        ("/v1/messages", {**ANTHROPIC_OK, "temperature": "0.5"}, "temperature"),
        ("/v1/messages", {**ANTHROPIC_OK, "top_k": "40"}, "top_k"),
        (
            "/v1/messages",
            {**ANTHROPIC_OK, "thinking": {"type": "enabled", "budget_tokens": "1024"}},
            "budget_tokens",
        ),
        (
            "/v1/messages",
            {
                **ANTHROPIC_OK,
                "messages": [{"role": "user", "content": [{**TOOL_RESULT, "is_error": "false"}]}],
            },
            "is_error",
        ),
        ("/v1/responses", {**RESPONSES_OK, "stream": "true"}, "stream"),
        ("/v1/responses", {**RESPONSES_OK, "stream": 0}, "stream"),
        ("/v1/responses", {**RESPONSES_OK, "max_output_tokens": "16"}, "max_output_tokens"),
        ("/v1/responses", {**RESPONSES_OK, "max_output_tokens": 16.0}, "max_output_tokens"),
        ("/v1/responses", {**RESPONSES_OK, "temperature": "0.2"}, "temperature"),
        ("/v1/responses", {**RESPONSES_OK, "top_p": "1"}, "top_p"),
        ("/v1/responses", {**RESPONSES_OK, "parallel_tool_calls": "no"}, "parallel_tool_calls"),
        ("/v1/responses", {**RESPONSES_OK, "store": "false"}, "store"),
    ],
)
def test_wrongly_typed_scalars_are_400_before_any_backend(
    http: httpx.Client, fake: FakeBackend, path: str, body: dict[str, object], field: str
) -> None:
    # As strict as Go's encoding/json in Ollama: a quoted number or a word for a boolean is refused,
    # never read as a value the client may not have meant (a stream it did not ask for).
    r = http.post(path, json=body)
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/json")
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert field in error["message"]
    assert not fake.received("chat/completions")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/messages", {**ANTHROPIC_OK, "temperature": 1, "top_p": 0.5, "top_k": 4, "stream": False}),
        (
            "/v1/responses",
            {**RESPONSES_OK, "temperature": 0, "top_p": 1, "max_output_tokens": 8, "stream": False},
        ),
    ],
)
def test_integers_where_numbers_go_are_still_numbers(
    http: httpx.Client, fake: FakeBackend, path: str, body: dict[str, object]
) -> None:
    fake.enqueue("chat/completions", Reply(json=chat_completion("ok")))
    assert http.post(path, json=body).status_code == 200


def _chat_tool(parameters: object) -> dict[str, object]:
    return {"type": "function", "function": {"name": "f", "parameters": parameters}}


BAD_SCHEMAS = [
    ({"type": "object", "properties": 5}, "properties: must be an object of JSON Schemas"),
    ({"type": "object", "properties": {"city": "string"}}, "properties: must be an object of JSON Schemas"),
    ({"type": "object", "required": "city"}, "required: must be a list of property names"),
    ({"type": "object", "required": [1]}, "required: must be a list of property names"),
    ("object", "must be a JSON Schema object|Input should be a valid dictionary"),
]


def _bodies(schema: object) -> list[tuple[str, dict[str, object]]]:
    return [
        (
            "/api/chat",
            {
                "model": "test-model",
                "messages": [{"role": "user", "content": "hi"}],
                "tools": [_chat_tool(schema)],
            },
        ),
        ("/v1/messages", {**ANTHROPIC_OK, "tools": [{"name": "f", "input_schema": schema}]}),
        (
            "/v1/responses",
            {**RESPONSES_OK, "tools": [{"type": "function", "name": "f", "parameters": schema}]},
        ),
    ]


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [(path, body, says) for schema, says in BAD_SCHEMAS for path, body in _bodies(schema)]
    + [
        (
            "/api/chat",
            {**_bodies({})[0][1], "tools": [{"type": "function", "function": {"name": 5}}]},
            "name: must be a string",
        ),
        (
            "/api/chat",
            {**_bodies({})[0][1], "tools": [{"type": "function", "function": "f"}]},
            "function: must be an object",
        ),
        (
            "/api/chat",
            {**_bodies({})[0][1], "tools": [{"type": 1, "function": {"name": "f"}}]},
            "type: must be a string",
        ),
    ],
)
def test_malformed_tool_definitions_are_400_before_any_backend(
    http: httpx.Client, fake: FakeBackend, path: str, body: dict[str, object], says: str
) -> None:
    # llama-server's chat template fails on them with a 500, which the client would get as a 502
    r = http.post(path, json=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    message = error if isinstance(error, str) else error["message"]
    assert any(words in message for words in says.split("|")), message
    assert "Value error" not in message
    assert not fake.received("chat/completions")


@pytest.mark.parametrize("path", ["/api/chat", "/v1/messages", "/v1/responses"])
def test_well_formed_tool_definitions_reach_the_backend(
    http: httpx.Client, fake: FakeBackend, path: str
) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    fake.enqueue("chat/completions", Reply(json=chat_completion("ok")))
    body = dict(_bodies(schema)[["/api/chat", "/v1/messages", "/v1/responses"].index(path)][1])
    if path == "/api/chat":
        body["stream"] = False
    assert http.post(path, json=body).status_code == 200
    assert fake.last("chat/completions").body["tools"][0]["function"]["parameters"] == schema
