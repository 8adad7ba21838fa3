"""Error behaviour: request errors, backend failures before and during streaming, client disconnects."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import ollama
import orjson
import pytest

from tests.conftest import ServedProxy
from tests.contract.conftest import assert_no_traceback, ndjson
from tests.support.fake_backend import FakeBackend, Reply, chunk, free_port, text_stream

USER = [{"role": "user", "content": "hi"}]
CHAT = {"model": "test-model", "messages": USER}


def always(fake: FakeBackend, reply: Reply, path: str = "chat/completions") -> None:
    """Answer every request for ``path`` with ``reply`` (the proxy may retry failed calls)."""
    fake.handler = lambda rec: reply if rec.path.endswith(path) else None


# --- malformed requests --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/chat", "/api/generate", "/api/embed", "/api/show", "/api/pull"])
def test_malformed_json_is_400(http: httpx.Client, path: str) -> None:
    r = http.post(path, content=b'{"model": "test-model",', headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/json")
    assert isinstance(r.json()["error"], str)
    assert r.json()["error"]
    assert_no_traceback(r.text)


@pytest.mark.parametrize("path", ["/api/chat", "/api/generate", "/api/embed", "/api/show"])
def test_empty_body_is_400_missing_request_body(http: httpx.Client, path: str) -> None:
    r = http.post(path, content=b"", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json() == {"error": "missing request body"}


def test_body_without_json_content_type_is_read(http: httpx.Client, fake: FakeBackend) -> None:
    for ctype in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"Content-Type": ctype} if ctype else {}
        r = http.post(
            "/api/chat",
            content=b'{"model":"test-model","stream":false,"messages":[{"role":"user","content":"hi"}]}',
            headers=headers,
        )
        assert r.status_code == 200, r.text
        assert r.json()["message"]["content"] == "Hello from the fake backend."
    assert len(fake.received("chat/completions")) == 3


def test_wrong_field_type_is_400(http: httpx.Client, fake: FakeBackend) -> None:
    r = http.post("/api/chat", json={"model": "test-model", "messages": [{"role": "user", "content": ["a"]}]})
    assert r.status_code == 400
    assert_no_traceback(r.text)
    r = http.post("/api/chat", json=["not", "an", "object"])
    assert r.status_code == 400
    assert fake.received("chat/completions") == []


def test_chat_without_model(http: httpx.Client) -> None:
    r = http.post("/api/chat", json={"messages": USER})
    assert r.status_code == 400
    assert r.json() == {"error": "model is required"}
    r = http.post("/api/chat", json={"model": "", "messages": USER, "stream": False})
    assert (r.status_code, r.json()) == (400, {"error": "model is required"})


def test_generate_without_model(http: httpx.Client) -> None:
    r = http.post("/api/generate", json={"prompt": "x"})
    assert r.status_code == 404
    assert r.json() == {"error": "model '' not found"}
    r = http.post("/api/generate", json={"model": "", "prompt": "x", "stream": False})
    assert (r.status_code, r.json()) == (404, {"error": "model '' not found"})


# Ollama's own answers (server/routes.go, create.go) when the model is missing or unknown, per route.
MODEL_ERRORS = [
    ("POST", "/api/chat", {"messages": USER}, 400, "model is required"),
    ("POST", "/api/generate", {"prompt": "x"}, 404, "model '' not found"),
    ("POST", "/api/embed", {"input": "x"}, 404, "model '' not found"),
    ("POST", "/api/embeddings", {"prompt": "x"}, 400, "model is required"),
    ("POST", "/api/show", {}, 400, "model is required"),
    ("POST", "/api/show", {"model": "", "name": ""}, 400, "model is required"),
    ("POST", "/api/pull", {}, 400, "invalid model name"),
    ("POST", "/api/push", {}, 400, "model is required"),
    ("POST", "/api/create", {"from": "test-model"}, 400, "invalid model name"),
    ("DELETE", "/api/delete", {}, 400, 'name "" is invalid'),
    ("POST", "/api/copy", {"destination": "x"}, 400, 'source "" is invalid'),
    ("POST", "/api/copy", {"source": "test-model"}, 400, 'destination "" is invalid'),
    ("POST", "/api/chat", {"model": "ghost", "messages": USER}, 404, "model 'ghost' not found"),
    (
        "POST",
        "/api/chat",
        {"model": "ghost", "messages": USER, "stream": False},
        404,
        "model 'ghost' not found",
    ),
    ("POST", "/api/generate", {"model": "ghost", "prompt": "x"}, 404, "model 'ghost' not found"),
    ("POST", "/api/generate", {"model": "Ghost:7b", "prompt": "x"}, 404, "model 'Ghost:7b' not found"),
    (
        "POST",
        "/api/embed",
        {"model": "ghost", "input": "x"},
        404,
        'model "ghost" not found, try pulling it first',
    ),
    (
        "POST",
        "/api/embeddings",
        {"model": "ghost", "prompt": "x"},
        404,
        'model "ghost" not found, try pulling it first',
    ),
    ("POST", "/api/show", {"model": "ghost"}, 404, "model 'ghost:latest' not found"),
    ("POST", "/api/show", {"name": "ghost:1b"}, 404, "model 'ghost:1b' not found"),
    ("DELETE", "/api/delete", {"model": "ghost"}, 404, "model 'ghost' not found"),
    ("DELETE", "/api/delete", {"name": "ghost:1b"}, 404, "model 'ghost:1b' not found"),
    ("POST", "/api/copy", {"source": "ghost", "destination": "y"}, 404, 'model "ghost" not found'),
    (
        "POST",
        "/api/pull",
        {"model": "ghost", "stream": False},
        500,
        "pull model manifest: file does not exist",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "error"), MODEL_ERRORS)
def test_missing_and_unknown_model_answer_as_ollama(
    http: httpx.Client,
    fake: FakeBackend,
    method: str,
    path: str,
    body: dict[str, Any],
    status: int,
    error: str,
) -> None:
    r = http.request(method, path, json=body)
    assert (r.status_code, r.json()) == (status, {"error": error})
    assert not [r for r in fake.requests if r.path.endswith(("completions", "embeddings"))]


def test_unknown_model_wording(client: ollama.Client, fake: FakeBackend) -> None:
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="llama3.2", messages=USER)
    assert (info.value.status_code, info.value.error) == (404, "model 'llama3.2' not found")
    with pytest.raises(ollama.ResponseError) as info:
        client.generate(model="llama3.2:1b", prompt="x", stream=True).__next__()
    assert (info.value.status_code, info.value.error) == (404, "model 'llama3.2:1b' not found")
    with pytest.raises(ollama.ResponseError) as info:
        client.embed(model="llama3.2", input="x")
    assert (info.value.status_code, info.value.error) == (
        404,
        'model "llama3.2" not found, try pulling it first',
    )
    assert not [r for r in fake.requests if r.path.endswith(("completions", "embeddings"))]


def test_model_names_resolve_case_insensitively_and_with_registry_prefix(
    client: ollama.Client, fake: FakeBackend
) -> None:
    for name in ("Test-Model", "test-model:latest", "registry.ollama.ai/library/test-model:latest"):
        reply = client.chat(model=name, messages=USER)
        assert reply.model == name  # echoed as requested
        assert fake.last("chat/completions").body["model"] == "test-model"


def test_wrong_method_and_unknown_path(http: httpx.Client) -> None:
    for method, path in (
        ("GET", "/api/chat"),
        ("GET", "/api/generate"),
        ("POST", "/api/tags"),
        ("GET", "/api/delete"),
        ("POST", "/api/version"),
        ("POST", "/api/ps"),
    ):
        r = http.request(method, path)
        assert r.status_code == 405, (method, path)
        assert r.text == "405 method not allowed"  # gin's text, as Ollama answers
        assert r.headers["content-type"].startswith("text/plain")
        assert r.headers["allow"], (method, path)
        assert method not in r.headers["allow"].split(", ")
    for path in ("/api/nothing", "/v2/chat", "/api", "/v1"):
        r = http.get(path)
        assert r.status_code == 404, path
        assert r.text == "404 page not found"
        assert r.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("GET", "/v1/chat/completions", 405, "POST"),
        ("DELETE", "/v1/embeddings", 405, "POST"),
        ("POST", "/v1/models", 405, "GET, HEAD"),
        ("PUT", "/v1/responses", 405, "POST"),
        ("GET", "/v1/nothing", 404, None),
        ("POST", "/v1/chat/completion", 404, None),
        ("GET", "/v1/", 404, None),
    ],
)
def test_router_errors_on_v1_are_openai_envelopes(
    http: httpx.Client, method: str, path: str, status: int, allow: str | None
) -> None:
    r = http.request(method, path)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers.get("allow") == allow
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == ("not_found_error" if status == 404 else "api_error")
    assert path in error["message"] and method in error["message"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/v1/messages", 405), ("PUT", "/v1/messages", 405), ("POST", "/v1/messages/count_tokens", 404)],
)
def test_router_errors_on_messages_are_anthropic_errors(
    http: httpx.Client, method: str, path: str, status: int
) -> None:
    r = http.request(method, path)
    assert r.status_code == status
    body = r.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == ("not_found_error" if status == 404 else "api_error")
    assert path in body["error"]["message"]
    assert r.headers.get("allow") == ("POST" if status == 405 else None)


def test_unexpected_query_and_auth_headers_ignored(http: httpx.Client) -> None:
    r = http.get("/api/tags?ts=1700000000", headers={"Authorization": "Bearer xyz"})
    assert r.status_code == 200
    assert r.json()["models"]


# --- backend errors before anything was streamed ---------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, "messages: too many images"),
        (422, "temperature must be <= 2"),
        (429, "rate limit reached, retry in 20s"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_backend_4xx_passed_through(
    client: ollama.Client, fake: FakeBackend, status: int, message: str, stream: bool
) -> None:
    always(fake, Reply(status=status, json={"error": {"message": message, "type": "x"}}))

    def call() -> object:
        result = client.chat(model="test-model", messages=USER, stream=stream)
        return list(result) if stream else result

    with pytest.raises(ollama.ResponseError) as info:
        call()
    assert info.value.status_code == status
    assert message in info.value.error


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, {"error": {"message": "CUDA out of memory"}}),
        (401, {"error": {"message": "Incorrect API key provided: sk-abcdef1234567890xyz"}}),
        (403, {"error": "forbidden"}),
    ],
)
def test_backend_5xx_and_auth_errors_are_502(
    http: httpx.Client, fake: FakeBackend, status: int, body: Any
) -> None:
    always(fake, Reply(status=status, json=body))
    r = http.post("/api/chat", json={**CHAT, "stream": False})
    assert r.status_code == 502
    error = r.json()["error"]
    assert str(status) in error
    assert "1234567890xyz" not in error  # keys a backend echoes are redacted
    assert_no_traceback(r.text)


def test_backend_500_on_stream_request_is_502_before_streaming(
    client: ollama.Client, fake: FakeBackend
) -> None:
    always(fake, Reply(status=500, raw=b"<html>Internal Server Error</html>", content_type="text/html"))
    with pytest.raises(ollama.ResponseError) as info:
        list(client.chat(model="test-model", messages=USER, stream=True))
    assert info.value.status_code == 502
    assert "Internal Server Error" in info.value.error


def test_backend_invalid_json_is_502(http: httpx.Client, fake: FakeBackend) -> None:
    fake.enqueue("chat/completions", Reply(raw=b"not json", content_type="application/json"))
    r = http.post("/api/chat", json={**CHAT, "stream": False})
    assert r.status_code == 502
    assert_no_traceback(r.text)


def test_backend_model_not_found_becomes_404(client: ollama.Client, fake: FakeBackend) -> None:
    always(fake, Reply(status=404, json={"error": {"message": "The model `test-model` does not exist"}}))
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="test-model", messages=USER)
    assert info.value.status_code == 404
    assert info.value.error.startswith("model 'test-model' not found")


# --- failures during the stream ----------------------------------------------------------------------------


def test_mid_stream_backend_error_is_final_error_line(
    client: ollama.Client, http: httpx.Client, fake: FakeBackend
) -> None:
    events: list[Any] = [
        chunk({"role": "assistant", "content": "can"}),
        {"error": {"message": "model crashed"}},
    ]
    # Both events in one write, so they reach the proxy in one read: the content must not be lost.
    same_write = orjson.dumps(events[0]).decode() + "\n\ndata: " + orjson.dumps(events[1]).decode()
    always(fake, Reply(events=[same_write]))
    r = http.post("/api/chat", json=CHAT)
    assert r.status_code == 200
    lines = ndjson(r)
    assert lines[0].get("message", {}).get("content") == "can", lines
    assert set(lines[-1]) == {"error"}
    assert "model crashed" in lines[-1]["error"]
    assert not any(o.get("done") for o in lines)

    always(fake, Reply(events=events, chunk_delay=0.05))
    got: list[str] = []

    def consume() -> None:
        got.extend(
            part.message.content or "" for part in client.chat(model="test-model", messages=USER, stream=True)
        )

    with pytest.raises(ollama.ResponseError) as info:
        consume()
    assert info.value.status_code == -1
    assert "model crashed" in info.value.error
    assert got == ["can"]


def test_stream_cut_without_done_or_finish_ends_with_error_line(
    http: httpx.Client, fake: FakeBackend
) -> None:
    events = [chunk({"role": "assistant", "content": "par"}), chunk({"content": "tial"})]
    fake.enqueue("chat/completions", Reply(events=events, done=False))  # clean EOF, but no finish, no [DONE]
    lines = ndjson(http.post("/api/chat", json=CHAT))
    assert "".join(o.get("message", {}).get("content", "") for o in lines) == "partial"
    assert set(lines[-1]) == {"error"}
    assert not any(o.get("done") for o in lines)


def test_stream_connection_cut_ends_with_error_line(client: ollama.Client, fake: FakeBackend) -> None:
    events = text_stream("a", "b", "c", "d")
    fake.enqueue("chat/completions", Reply(events=events, cut_after=2))
    with pytest.raises(ollama.ResponseError) as info:
        list(client.generate(model="test-model", prompt="x", stream=True))
    assert info.value.status_code == -1
    assert_no_traceback(info.value.error)


def test_stream_with_finish_but_no_done_marker_completes(http: httpx.Client, fake: FakeBackend) -> None:
    fake.enqueue("chat/completions", Reply(events=text_stream("fine"), done=False))
    lines = ndjson(http.post("/api/chat", json=CHAT))
    assert lines[-1]["done"] is True
    assert lines[-1]["eval_count"] == 5


def test_malformed_tool_arguments_do_not_crash_the_stream(http: httpx.Client, fake: FakeBackend) -> None:
    events = [
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "f", "arguments": "{not json"},
                    }
                ]
            }
        ),
        chunk({}, "tool_calls"),
    ]
    fake.enqueue("chat/completions", Reply(events=events))
    r = http.post("/api/chat", json=CHAT)
    assert r.status_code == 200
    lines = ndjson(r)
    last = lines[-1]
    # Either an error line or a final done line; never a string where clients need an object.
    assert "error" in last or last["done"] is True
    for o in lines:
        for call in o.get("message", {}).get("tool_calls", []):
            assert isinstance(call["function"]["arguments"], dict)
    assert_no_traceback(r.text)


# --- backend unreachable -----------------------------------------------------------------------------------


def test_backend_going_down_is_502(start_proxy: Callable[..., ServedProxy]) -> None:
    backend = FakeBackend(models=[{"id": "m1", "object": "model", "owned_by": "x"}]).start()
    proxy = start_proxy(backend.url, backend_profile="generic", models_ttl=3600.0)
    client = ollama.Client(host=proxy.url)
    assert client.chat(model="m1", messages=USER).message.content == "Hello from the fake backend."
    backend.stop()
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="m1", messages=USER)
    assert info.value.status_code == 502
    assert_no_traceback(info.value.error)
    with pytest.raises(ollama.ResponseError) as info:
        list(client.chat(model="m1", messages=USER, stream=True))
    assert info.value.status_code == 502


def test_backend_unreachable_from_start_is_502(start_proxy: Callable[..., ServedProxy]) -> None:
    proxy = start_proxy(f"http://127.0.0.1:{free_port()}/v1", backend_profile="generic")
    with httpx.Client(base_url=proxy.url, timeout=30) as http:
        r = http.post("/api/chat", json={"model": "m1", "messages": USER, "stream": False})
        assert_no_traceback(r.text)
        assert r.status_code == 502, r.text
        assert "could not be reached" in r.json()["error"]


# --- client disconnects --------------------------------------------------------------------------------------


def test_client_disconnect_closes_backend_stream(proxy: ServedProxy, fake: FakeBackend) -> None:
    n = 400
    events = text_stream(*[f"t{i} " for i in range(n)])
    fake.enqueue("chat/completions", Reply(events=events, chunk_delay=0.01))
    host, port = "127.0.0.1", proxy.port
    body = b'{"model":"test-model","messages":[{"role":"user","content":"hi"}]}'
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(
        b"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    received = b""
    while received.count(b'"done":false') < 3:
        data = sock.recv(65536)
        assert data, "proxy closed the stream early"
        received += data
    assert b"200 OK" in received.split(b"\r\n", 1)[0]
    sock.close()
    closed_at = time.monotonic()
    assert fake.abort_seen.wait(5), "the backend never saw the proxy close its stream"
    (aborted,) = fake.aborted
    assert aborted.path == "/v1/chat/completions"
    assert aborted.events_sent < n // 2  # stopped early, not after the whole answer
    assert aborted.at - closed_at < 2.0
