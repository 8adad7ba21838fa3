"""Backend failures → Ollama errors, and secrets never shown."""

from __future__ import annotations

import json

import pytest

from ollama_openai_proxy.translate.errors import (
    ProxyError,
    backend_message,
    embed_model_not_found,
    from_backend,
    model_not_found,
    redact,
)


def env(message: str, **extra: object) -> bytes:
    return json.dumps({"error": {"message": message, "type": "invalid_request_error", **extra}}).encode()


def test_proxy_error() -> None:
    err = ProxyError(418, "teapot")
    assert (err.status, err.message, str(err)) == (418, "teapot", "teapot")
    assert (model_not_found("x").status, model_not_found("x").message) == (404, "model 'x' not found")
    assert embed_model_not_found("x").message == 'model "x" not found, try pulling it first'
    assert embed_model_not_found("x").status == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (env("bad temperature"), "bad temperature"),
        (b'{"error": "plain string"}', "plain string"),
        (b'{"detail": "Not authenticated"}', "Not authenticated"),
        (
            b'{"detail": [{"loc": ["body", "messages"], "msg": "field required", "type": "missing"}, {"msg": "x"}]}',
            "field required; x",
        ),
        (b'{"detail": ["a", "b"]}', "a; b"),
        (
            b'{"object": "error", "message": "The model `x` does not exist.", "type": "NotFoundError", "code": 404}',
            "The model `x` does not exist.",
        ),
        (b'{"error": {"msg": "from msg"}}', "from msg"),
        (b'{"error": {"code": 7}}', '{"code":7}'),
        (b"upstream connect error", "upstream connect error"),
        (b"  <html>502 Bad Gateway</html>\n", "<html>502 Bad Gateway</html>"),
        (b"", "no error message"),
        (b"{}", "{}"),
        (b"[1,2]", "[1,2]"),
        (b'{"error": null}', '{"error": null}'),
        ("ünïcode fail".encode(), "ünïcode fail"),
        (b"\xff\xfe broken", "\ufffd\ufffd broken"),
    ],
)
def test_backend_message(body: bytes, message: str) -> None:
    assert backend_message(body) == message


def test_backend_message_text_truncated() -> None:
    assert len(backend_message(b"x" * 5000)) == 2000


@pytest.mark.parametrize(
    ("status", "body", "want_status", "want_message"),
    [
        (400, env("temperature must be <= 2"), 400, "temperature must be <= 2"),
        (
            400,
            env("The model `gpt-5x` does not exist", code="model_not_found"),
            404,
            "model 'gpt-5x' not found (backend: The model `gpt-5x` does not exist)",
        ),
        (
            401,
            env("Incorrect API key provided: sk-abcdef1234567890"),
            502,
            "backend rejected the proxy's credentials (401): Incorrect API key provided: sk-abcdef***",
        ),
        (403, b'{"error": "forbidden"}', 502, "backend rejected the proxy's credentials (403): forbidden"),
        (
            404,
            env("The model `m` does not exist or you do not have access to it."),
            404,
            "model 'gpt-5x' not found (backend: The model `m` does not exist or you do not have access to it.)",
        ),
        # a 404 that is not about the model means the backend lacks the endpoint: not the CLI's "pull it" case
        (404, b"File Not Found", 502, "backend does not serve this endpoint (404): File Not Found"),
        (
            422,
            b'{"detail": [{"loc": ["body", "model"], "msg": "model not found"}]}',
            404,
            "model 'gpt-5x' not found (backend: model not found)",
        ),
        (
            422,
            b'{"detail": [{"loc": ["body", "top_k"], "msg": "Input should be a valid integer"}]}',
            422,
            "Input should be a valid integer",
        ),
        (429, env("Rate limit reached for requests"), 429, "Rate limit reached for requests"),
        (
            500,
            env("[json.exception.parse_error.101] parse error"),
            502,
            "backend error (500): [json.exception.parse_error.101] parse error",
        ),
        (502, b"bad gateway", 502, "backend error (502): bad gateway"),
        (503, env("Loading model"), 503, "backend unavailable: Loading model"),
        (504, b"<html>Gateway Timeout</html>", 504, "backend timed out: <html>Gateway Timeout</html>"),
        (
            501,
            env("Infill is not supported by this model"),
            502,
            "backend error (501): Infill is not supported by this model",
        ),
    ],
)
def test_from_backend(status: int, body: bytes, want_status: int, want_message: str) -> None:
    err = from_backend(status, body, "gpt-5x")
    assert (err.status, err.message) == (want_status, want_message)


def test_400_mentioning_context_is_not_not_found() -> None:
    body = env("request (9031 tokens) exceeds the available context size (8192 tokens), try increasing it")
    err = from_backend(400, body, "m")
    assert err.status == 400
    assert err.message.startswith("request (9031 tokens) exceeds")


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("key sk-proj-abcdefghijklmnop is bad", "key sk-proj-***** is bad".replace("*****", "a***")),
        ("sk-abcdef1234567890", "sk-abcdef***"),
        ("Authorization: Bearer abc.def-ghi_jkl", "Authorization: Bearer ***"),
        ("authorization: bearer eyJhbGciOi.JIUzI1", "authorization: bearer ***"),
        ("BEARER   tok123", "BEARER   ***"),
        ("two keys sk-1234567xyz and sk-7654321abc", "two keys sk-123456*** and sk-765432***"),
        ("no secrets here", "no secrets here"),
        ("sk-short", "sk-short"),
    ],
)
def test_redact(text: str, want: str) -> None:
    assert redact(text) == want


def test_messages_are_redacted_in_every_shape() -> None:
    secret = "sk-live0123456789abcdef"
    for body in (
        env(f"bad key {secret}"),
        f'{{"error": "bad key {secret}"}}'.encode(),
        f"bad key {secret}".encode(),
        f'{{"detail": [{{"msg": "bad key {secret}"}}]}}'.encode(),
    ):
        message = from_backend(401, body, "m").message
        assert secret not in message
        assert "sk-live01***" in message
