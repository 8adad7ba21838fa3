"""/v1/messages and /v1/responses refuse wrongly typed scalars in their own error shape, as Ollama does."""

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
