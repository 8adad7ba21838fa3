"""A backend failing mid-stream ends every dialect's stream with the same human message: the kind of
failure in plain words, never aiohttp's text, exception reprs or class names (those go to the log)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import ServedProxy
from tests.hardening.conftest import backend_entry, lines
from tests.support.fake_backend import FakeBackend, Reply, chunk, text_stream

USER = [{"role": "user", "content": "hi"}]
INTERNALS = ("aiohttp", "Error", "Exception", "Errno", "<", "payload", "Traceback", "repr")


def _sse_data(response: httpx.Response) -> list[dict[str, Any]]:
    body = response.text
    return [orjson.loads(line[5:]) for line in body.splitlines() if line.startswith("data:") and "{" in line]


def _ollama(url: str) -> str:
    r = httpx.post(f"{url}/api/chat", json={"model": "test-model", "messages": USER}, timeout=20)
    last = lines(r)[-1]
    assert set(last) == {"error"}, last
    message: str = last["error"]
    return message


def _openai(url: str) -> str:
    body = {"model": "test-model", "messages": USER, "stream": True}
    r = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=20)
    message: str = _sse_data(r)[-1]["error"]["message"]
    return message


def _anthropic(url: str) -> str:
    body = {"model": "test-model", "max_tokens": 10, "messages": USER, "stream": True}
    r = httpx.post(f"{url}/v1/messages", json=body, timeout=20)
    assert "event: error" in r.text
    last = _sse_data(r)[-1]
    assert last["type"] == "error"
    message: str = last["error"]["message"]
    return message


def _responses(url: str) -> str:
    r = httpx.post(
        f"{url}/v1/responses", json={"model": "test-model", "input": "hi", "stream": True}, timeout=20
    )
    last = _sse_data(r)[-1]
    assert last["type"] == "response.failed"
    message: str = last["response"]["error"]["message"]
    return message


DIALECTS = {"ollama": _ollama, "openai": _openai, "anthropic": _anthropic, "responses": _responses}

# The connection breaking: every dialect, the /v1 relay included.
CONNECTION_FAULTS = {
    "reset": (Reply(events=text_stream("one ", "two "), reset_after=2), "reset the connection"),
    "closed": (Reply(events=text_stream("one ", "two "), cut_after=2), "closed the"),
    "timeout": (Reply(events=text_stream("one ", "two "), chunk_delay=30), "sent nothing for 0.5s"),
}
# The data being wrong: the dialects the proxy translates (the /v1 relay passes events on as sent).
DATA_FAULTS = {
    "invalid-json": (Reply(events=[chunk({"content": "a"}), "this is not json"]), "malformed"),
    "truncated-event": (
        Reply(
            events=[chunk({"content": "a"})], tail=b'data: {"choices": [{"delta": {"content": "tr', done=False
        ),
        "malformed",
    ),
    "wrong-shape": (Reply(events=[chunk({"content": "a"}), {"choices": [{"delta": "x"}]}]), "malformed"),
    "no-end": (Reply(events=[chunk({"content": "a"})], done=False), "before it finished"),
}


@pytest.fixture
def served(
    new_backend: Callable[..., FakeBackend],
    new_proxy: Callable[..., ServedProxy],
    config_file: Callable[[dict[str, Any]], Path],
) -> tuple[FakeBackend, ServedProxy]:
    fake = new_backend()
    path = config_file({"backends": [backend_entry(fake, timeouts={"idle": 0.5}, retries=0)]})
    return fake, new_proxy(fake.url, config=path, models_ttl=60.0)


def _messages(served: tuple[FakeBackend, ServedProxy], reply: Reply, dialects: list[str]) -> dict[str, str]:
    fake, proxy = served
    out = {}
    for dialect in dialects:
        fake.enqueue("chat/completions", reply)
        out[dialect] = DIALECTS[dialect](proxy.url)
    return out


def _assert_human(message: str) -> None:
    assert message.startswith("backend"), message
    for marker in INTERNALS:
        assert marker not in message, message


@pytest.mark.parametrize("kind", CONNECTION_FAULTS)
def test_a_broken_connection_reads_the_same_in_every_dialect(
    served: tuple[FakeBackend, ServedProxy], caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    reply, says = CONNECTION_FAULTS[kind]
    with caplog.at_level(logging.WARNING):
        messages = _messages(served, reply, list(DIALECTS))
    assert len(set(messages.values())) == 1, messages
    message = messages["ollama"]
    assert says in message
    _assert_human(message)
    if kind != "timeout":  # the internals are in the log, for the operator
        assert any("aiohttp" in r.getMessage() or "Error" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("kind", DATA_FAULTS)
def test_wrong_stream_data_reads_the_same_in_every_translated_dialect(
    served: tuple[FakeBackend, ServedProxy], kind: str
) -> None:
    reply, says = DATA_FAULTS[kind]
    messages = _messages(served, reply, ["ollama", "anthropic", "responses"])
    assert len(set(messages.values())) == 1, messages
    message = messages["ollama"]
    assert says in message
    _assert_human(message)
