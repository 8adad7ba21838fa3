"""Kind 7: inputs Ollama's Go decoders accept are accepted, inputs they refuse are refused.

Go's encoding/json (Ollama's request decoder) refuses a string, a number or a fraction where a bool or
an int is expected, decodes []byte images as padded standard base64 skipping line breaks, and keeps
unknown keys; Ollama's ``options`` take any JSON number for an integer (truncated), and model names
match case-insensitively with the default host, namespace and ``:latest`` tag optional."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.contract.test_chat import _png
from tests.support.fake_backend import FakeBackend

CHAT = {"model": "test-model", "messages": [{"role": "user", "content": "hi"}], "stream": False}
PNG = base64.b64encode(_png()).decode()
PADDED = base64.b64encode(_png() + b"\0").decode()  # a length that needs padding


def post(http: httpx.Client, **fields: Any) -> httpx.Response:
    return http.post("/api/chat", json={**CHAT, **fields})


@pytest.mark.parametrize(
    ("value", "sent"),
    [(1e3, 1000), (1000, 1000), (12.9, 12), (-1.0, None), (7.0, 7)],
    ids=["exponent", "int", "fraction_truncated", "negative_float_unlimited", "float_whole"],
)
def test_integer_options_take_any_json_number(
    http: httpx.Client, fake: FakeBackend, value: float, sent: int | None
) -> None:
    r = post(http, options={"num_predict": value})
    assert r.status_code == 200, r.text
    assert fake.last("chat/completions").body.get("max_tokens") == sent


@pytest.mark.parametrize(
    "fields",
    [
        {"stream": "false"},
        {"stream": 0},
        {"logprobs": "true"},
        {"top_logprobs": 2.0},
        {"top_logprobs": "2"},
        {"top_logprobs": True},
    ],
    ids=[
        "stream_string",
        "stream_number",
        "logprobs_string",
        "top_logprobs_float",
        "top_logprobs_string",
        "top_logprobs_bool",
    ],
)
def test_bools_and_ints_are_as_strict_as_go(
    http: httpx.Client, fake: FakeBackend, fields: dict[str, Any]
) -> None:
    r = post(http, **fields)
    assert r.status_code == 400, r.text
    assert isinstance(r.json()["error"], str)
    assert fake.received("chat/completions") == []


def test_generate_context_items_are_ints(http: httpx.Client, fake: FakeBackend) -> None:
    r = http.post(
        "/api/generate", json={"model": "test-model", "prompt": "x", "context": [1.0], "stream": False}
    )
    assert r.status_code == 400
    assert fake.received("chat/completions") == []


def _wrapped(text: str, width: int, newline: str) -> str:
    return newline.join(text[i : i + width] for i in range(0, len(text), width))


@pytest.mark.parametrize(
    "image",
    [PNG, _wrapped(PNG, 76, "\n"), _wrapped(PNG, 64, "\r\n"), PNG + "\n", f"data:image/png;base64,{PNG}"],
    ids=["plain", "wrapped_lf", "wrapped_crlf", "trailing_newline", "data_uri"],
)
def test_images_as_go_decodes_them(http: httpx.Client, fake: FakeBackend, image: str) -> None:
    r = post(http, messages=[{"role": "user", "content": "what is it?", "images": [image]}])
    assert r.status_code == 200, r.text
    parts = fake.last("chat/completions").body["messages"][0]["content"]
    assert parts[1] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}


@pytest.mark.parametrize(
    "image",
    [PADDED.rstrip("="), PNG.replace("/", "_").replace("+", "-"), "not base64!"],
    ids=["unpadded", "url_safe", "garbage"],
)
def test_images_go_refuses_are_refused(http: httpx.Client, fake: FakeBackend, image: str) -> None:
    assert PADDED.endswith("=") and "/" in PNG  # the cases really lack padding / use URL-safe letters
    r = post(http, messages=[{"role": "user", "content": "what is it?", "images": [image]}])
    assert r.status_code == 400
    assert "base64" in r.json()["error"]
    assert fake.received("chat/completions") == []


@pytest.mark.parametrize(
    "name",
    [
        "test-model",
        "TEST-MODEL",
        "test-model:latest",
        "Test-Model:LATEST",
        "library/test-model",
        "registry.ollama.ai/library/test-model:latest",
    ],
)
def test_model_name_forms(http: httpx.Client, fake: FakeBackend, name: str) -> None:
    r = post(http, model=name)
    assert r.status_code == 200, r.text
    assert fake.last("chat/completions").body["model"] == "test-model"
    assert http.post("/api/show", json={"model": name}).status_code == 200


@pytest.mark.parametrize("keep_alive", ["5m", "1h30m", "-1s", 300, 1e3, 2.5, -1, "0"])
def test_keep_alive_forms(http: httpx.Client, fake: FakeBackend, keep_alive: Any) -> None:
    assert post(http, keep_alive=keep_alive).status_code == 200


@pytest.mark.parametrize("keep_alive", ["-1", "5", "soon"])
def test_keep_alive_strings_go_refuses(http: httpx.Client, fake: FakeBackend, keep_alive: str) -> None:
    """A string is a Go duration (time.ParseDuration): a unit is required except for "0"."""
    r = post(http, keep_alive=keep_alive)
    assert r.status_code == 400
    assert "duration" in r.json()["error"]
