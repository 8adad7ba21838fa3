"""Contract-test fixtures: official client libraries pointed at the session proxy, extra proxies."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import ollama
import orjson
import pytest

from tests.conftest import ServedProxy, make_settings
from tests.support.agent_script import function_call
from tests.support.fake_backend import FakeBackend

TRACEBACK_MARKERS = ("Traceback", 'File "', "site-packages", '.py", line')


@pytest.fixture
def client(proxy: ServedProxy, fake: FakeBackend) -> ollama.Client:
    return ollama.Client(host=proxy.url, timeout=30)


@pytest.fixture
def aclient(proxy: ServedProxy, fake: FakeBackend) -> ollama.AsyncClient:
    return ollama.AsyncClient(host=proxy.url, timeout=30)


@pytest.fixture(scope="session")
def start_proxy() -> Iterator[Callable[..., ServedProxy]]:
    """Start another proxy (stopped at the end of the session) with its own settings."""
    started: list[ServedProxy] = []

    def start(backend_url: str, **overrides: Any) -> ServedProxy:
        served = ServedProxy(make_settings(backend_url, **overrides)).start()
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()


@pytest.fixture(scope="session")
def generic_proxy(backend: FakeBackend, start_proxy: Callable[..., ServedProxy]) -> ServedProxy:
    """The same scripted backend behind the "generic" profile (no llama.cpp specifics)."""
    return start_proxy(backend.url, backend_profile="generic")


def create_virtual(proxy_url: str, **spec: Any) -> None:
    """``POST /api/create`` of a virtual model (``spec``: model, from, system, parameters, ...)."""
    created = httpx.post(f"{proxy_url}/api/create", json={"stream": False, **spec})
    assert created.status_code == 200, created.text


def pirate_proxy(
    start_proxy: Callable[..., ServedProxy], backend_url: str, state_dir: Path, parameters: dict[str, Any]
) -> ServedProxy:
    """A llama.cpp-profile proxy of its own serving "pirate": test-model with a pirate's SYSTEM and
    ``parameters``."""
    served = start_proxy(backend_url, backend_profile="llamacpp", state_dir=str(state_dir))
    pirate = {"model": "pirate", "from": "test-model", "system": "You are a pirate."}
    create_virtual(served.url, **pirate, parameters=parameters)
    return served


def weather_tool_sent(parameters: dict[str, Any]) -> list[dict[str, Any]]:
    """The get_weather tool as the backend receives it, whichever dialect declared it."""
    function = {"name": "get_weather", "description": "Weather now", "parameters": parameters}
    return [{"type": "function", "function": function}]


def paris_and_rome_calls() -> list[dict[str, Any]]:
    """The backend's two parallel get_weather calls of the tool round-trip tests."""
    return [
        function_call("call_p", "get_weather", {"city": "Paris"}),
        function_call("call_r", "get_weather", {"city": "Rome"}),
    ]


# What the backend receives for the two calls' results (18C for Paris, 21C for Rome), in any dialect.
PARIS_AND_ROME_RESULTS_SENT = [
    {"role": "tool", "content": "18C", "tool_call_id": "call_p"},
    {"role": "tool", "content": "21C", "tool_call_id": "call_r"},
]


def ndjson(response: httpx.Response) -> list[dict[str, Any]]:
    """The objects of an NDJSON body, checking Ollama's framing: one object per \\n-terminated line."""
    assert response.headers["content-type"].startswith("application/x-ndjson")
    body = response.content
    assert body.endswith(b"\n"), body[-80:]
    lines = body.split(b"\n")[:-1]
    assert lines, "empty stream"
    assert all(line.strip() for line in lines), f"blank line in {body!r}"
    assert not any(line.startswith(b"data:") for line in lines)
    objects = [orjson.loads(line) for line in lines]
    assert all(isinstance(o, dict) for o in objects)
    return objects


def assert_no_traceback(text: str) -> None:
    for marker in TRACEBACK_MARKERS:
        assert marker not in text, text


def assert_final_metrics(final: dict[str, Any], prompt_tokens: int, completion_tokens: int) -> None:
    assert final["done"] is True
    assert final["prompt_eval_count"] == prompt_tokens
    assert final["eval_count"] == completion_tokens
    for key in ("total_duration", "load_duration", "eval_duration"):
        assert type(final[key]) is int, (key, final[key])
        assert final[key] > 0, (key, final[key])
    if "prompt_eval_duration" in final:
        assert type(final["prompt_eval_duration"]) is int
    assert final["total_duration"] >= final["eval_duration"]
