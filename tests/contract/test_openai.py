"""/v1/*: relayed to the backend with the Ollama name translated to the backend id; OpenAI error envelopes."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

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
