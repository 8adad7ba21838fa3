"""/v1/*: relayed to the backend with the Ollama name translated to the backend id; OpenAI error envelopes."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from tests.contract.test_meta import ODD_ID, ODD_NAME
from tests.support.fake_backend import FakeBackend, Reply, chat_completion, text_stream


def _envelope(r: httpx.Response, status: int, kind: str) -> str:
    assert r.status_code == status
    body = r.json()
    assert set(body) == {"error"}
    assert body["error"]["type"] == kind
    assert body["error"]["param"] is None
    assert body["error"]["code"] is None
    message: str = body["error"]["message"]
    return message


def test_models_list(http: httpx.Client) -> None:
    r = http.get("/v1/models")
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "list"
    ids = {m["id"] for m in body["data"]}
    assert {"test-model:latest", "org/Model-Name:free", ODD_NAME} <= ids
    assert all(m["object"] == "model" and isinstance(m["created"], int) for m in body["data"])


def test_model_retrieve_and_unknown(http: httpx.Client) -> None:
    r = http.get("/v1/models/test-model")
    assert r.status_code == 200
    assert r.json()["id"] == "test-model"
    message = _envelope(http.get("/v1/models/ghost"), 404, "not_found_error")
    assert "ghost" in message


def test_chat_completions_non_streamed(http: httpx.Client, fake: FakeBackend) -> None:
    data = chat_completion("relayed")
    fake.enqueue("chat/completions", Reply(json=data))
    r = http.post(
        "/v1/chat/completions",
        json={
            "model": ODD_NAME,
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0.5,
            "tool_choice": "auto",
        },
    )
    assert r.status_code == 200
    assert r.json() == {**data, "model": ODD_NAME}  # relayed, naming the model as it was asked for
    sent = fake.last("chat/completions").body
    assert sent["model"] == ODD_ID
    assert sent["temperature"] == 0.5
    assert sent["tool_choice"] == "auto"


def test_chat_completions_sse_relayed(http: httpx.Client, fake: FakeBackend) -> None:
    events = text_stream("Hel", "lo")
    fake.enqueue("chat/completions", Reply(events=events))
    with http.stream(
        "POST",
        "/v1/chat/completions",
        json={"model": "test-model:latest", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        body = r.read()
    frames = [f for f in body.split(b"\n\n") if f]
    assert frames[-1] == b"data: [DONE]"
    payloads = [orjson.loads(f.removeprefix(b"data: ")) for f in frames[:-1]]
    assert payloads == [{**e, "model": "test-model:latest"} if "model" in e else e for e in events]
    assert fake.last("chat/completions").body["model"] == "test-model"


def test_chat_completions_sse_relayed_byte_for_byte_when_the_name_matches(
    http: httpx.Client, fake: FakeBackend
) -> None:
    """The backend already echoes the requested name: the stream is relayed as it came."""
    events = text_stream("Hel", "lo")
    fake.enqueue("chat/completions", Reply(events=events, tail=b": comment kept\n\n"))
    with http.stream(
        "POST",
        "/v1/chat/completions",
        json={"model": "test-model", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    ) as r:
        body = r.read()
    assert b": comment kept\n\n" in body
    assert body == b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + (
        b": comment kept\n\ndata: [DONE]\n\n"
    )


def test_completions_relayed(http: httpx.Client, fake: FakeBackend) -> None:
    r = http.post("/v1/completions", json={"model": "test-model", "prompt": "Once"})
    assert r.status_code == 200
    assert r.json()["choices"][0]["text"] == "completed"
    assert fake.last("/v1/completions").body == {"model": "test-model", "prompt": "Once"}


def test_embeddings_relayed(http: httpx.Client, fake: FakeBackend) -> None:
    r = http.post("/v1/embeddings", json={"model": "text-embedding-small:latest", "input": ["a", "b"]})
    assert r.status_code == 200
    body = r.json()
    assert [d["embedding"] for d in body["data"]] == [[3.0, 4.0], [3.0, 4.0]]  # not normalized: relayed
    assert body["model"] == "text-embedding-small:latest"
    assert fake.last("embeddings").body["model"] == "text-embedding-small"


def test_unknown_model_uses_openai_envelope(http: httpx.Client, fake: FakeBackend) -> None:
    for path, body in (
        ("/v1/chat/completions", {"model": "ghost", "messages": [{"role": "user", "content": "x"}]}),
        ("/v1/completions", {"model": "ghost", "prompt": "x"}),
        ("/v1/embeddings", {"model": "ghost", "input": "x"}),
    ):
        message = _envelope(http.post(path, json=body), 404, "not_found_error")
        assert "ghost" in message
    assert not [r for r in fake.requests if r.path.endswith(("completions", "embeddings"))]


def test_missing_model_and_bad_json_use_openai_envelope(http: httpx.Client) -> None:
    _envelope(http.post("/v1/chat/completions", json={"messages": []}), 400, "invalid_request_error")
    _envelope(http.post("/v1/chat/completions", content=b"{nope"), 400, "invalid_request_error")


def test_backend_error_passed_through(http: httpx.Client, fake: FakeBackend) -> None:
    err: dict[str, Any] = {"error": {"message": "max_tokens is too large", "type": "invalid_request_error"}}
    fake.enqueue("chat/completions", Reply(status=400, json=err))
    r = http.post(
        "/v1/chat/completions", json={"model": "test-model", "messages": [{"role": "user", "content": "x"}]}
    )
    assert r.status_code == 400
    assert r.json() == err


MSG = [{"role": "user", "content": "x"}]


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        ("/v1/embeddings", {"model": "text-embedding-small", "input": 5}, "invalid input"),
        ("/v1/embeddings", {"model": "text-embedding-small", "input": [{}]}, "invalid input"),
        ("/v1/embeddings", {"model": "text-embedding-small", "input": None}, "invalid input"),
        ("/v1/embeddings", {"model": "text-embedding-small", "input": []}, "invalid input"),
        ("/v1/embeddings", {"model": "text-embedding-small", "input": [[1, 2], "a"]}, "invalid input"),
        ("/v1/embeddings", {"model": "text-embedding-small", "input": [True]}, "invalid input"),
        ("/v1/embeddings", {"model": "text-embedding-small"}, "input is required"),
        ("/v1/embeddings", {"model": 5, "input": "x"}, "model"),
        ("/v1/chat/completions", {"model": "test-model"}, "messages is required"),
        ("/v1/chat/completions", {"model": "test-model", "messages": []}, "messages"),
        ("/v1/chat/completions", {"model": "test-model", "messages": "hi"}, "messages"),
        ("/v1/chat/completions", {"model": "test-model", "messages": [{"content": "x"}]}, "messages.0.role"),
        ("/v1/chat/completions", {"model": "test-model", "messages": [5]}, "messages.0"),
        (
            "/v1/chat/completions",
            {"model": "test-model", "messages": [{"role": "user", "content": 7}]},
            "messages.0.content",
        ),
        (
            "/v1/chat/completions",
            {"model": "test-model", "messages": [{"role": "user", "content": [{"text": "x"}]}]},
            '"type"',
        ),
        ("/v1/chat/completions", {"model": "test-model", "messages": MSG, "stream": "yes"}, "stream"),
        ("/v1/chat/completions", {"model": ["test-model"], "messages": MSG}, "model"),
        (
            "/v1/chat/completions",
            {"model": "test-model", "messages": MSG, "temperature": "hot"},
            "temperature",
        ),
        (
            "/v1/chat/completions",
            {"model": "test-model", "messages": MSG, "temperature": "0.5"},
            "temperature",
        ),
        ("/v1/chat/completions", {"model": "test-model", "messages": MSG, "top_p": "1"}, "top_p"),
        (
            "/v1/completions",
            {"model": "test-model", "prompt": "x", "presence_penalty": "0"},
            "presence_penalty",
        ),
        ("/v1/chat/completions", {"model": "test-model", "messages": MSG, "stop": [1]}, "stop"),
        ("/v1/chat/completions", {"model": "test-model", "messages": MSG, "tools": {}}, "tools"),
        ("/v1/completions", {"model": "test-model", "prompt": {"a": 1}}, "invalid prompt"),
        ("/v1/completions", {"model": "test-model", "prompt": "x", "max_tokens": 1.5}, "max_tokens"),
        ("/v1/completions", {"model": "test-model", "prompt": "x", "stream": 1}, "stream"),
    ],
)
def test_malformed_relayed_requests_are_400_before_any_backend(
    http: httpx.Client, fake: FakeBackend, path: str, body: dict[str, Any], says: str
) -> None:
    message = _envelope(http.post(path, json=body), 400, "invalid_request_error")
    assert says in message
    assert not [r for r in fake.requests if r.path.endswith(("completions", "embeddings"))]


@pytest.mark.parametrize("value", ["one", ["a", "b"], [1, 2, 3], [[1, 2], [3]], ""])
def test_every_openai_input_shape_is_relayed(http: httpx.Client, fake: FakeBackend, value: Any) -> None:
    body = {"model": "text-embedding-small", "input": value, "x_vendor": {"keep": [1]}, "dimensions": 2}
    r = http.post("/v1/embeddings", json=body)
    assert r.status_code == 200, r.text
    assert fake.last("embeddings").body == {**body, "model": "text-embedding-small"}


def test_unknown_fields_pass_through_untouched(http: httpx.Client, fake: FakeBackend) -> None:
    body = {
        "model": "test-model",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}], "x_meta": 1}],
        "temperature": 1,
        "cache_prompt": True,
        "chat_template_kwargs": {"enable_thinking": False},
        "stop": "END",
    }
    r = http.post("/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    assert fake.last("chat/completions").body == body
