"""schemathesis against the app's own OpenAPI schema, in-process (ASGI), for a bounded number of examples.

The schema is thin by design: routes parse their bodies by hand (so every error is Ollama's shape), so
it declares no request bodies, only paths, methods and path parameters. schemathesis therefore covers
methods, paths and path parameters (with positive and negative generation); the request *bodies* are
covered by the hypothesis tests in test_properties.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from ollama_openai_proxy.app import create_app
from tests.conftest import make_settings
from tests.hardening.conftest import TRACEBACK_MARKERS
from tests.support.fake_backend import FakeBackend


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBackend]:
    backend = FakeBackend(models=[{"id": "test-model", "object": "model", "owned_by": "test"}]).start()
    yield backend
    backend.stop()


@pytest.fixture(scope="module")
def app_schema(fake: FakeBackend) -> Any:
    # schemathesis's ASGI client sends Host: localhost-like names, accepted by the DNS-rebinding guard
    # only when it is turned off here; the guard has tests of its own (test_auth.py).
    app = create_app(make_settings(fake.url, backend_profile="generic", models_ttl=60.0, allow_any_host=True))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def operations() -> list[Any]:
    app = create_app(make_settings("http://127.0.0.1:9/v1", allow_any_host=True))
    return [
        result.ok().label
        for result in schemathesis.openapi.from_asgi("/openapi.json", app).get_all_operations()
    ]


# schemathesis's own pytest plugin (``schemathesis.pytest``) does not run under pytest 9; its Python API
# does: one test per operation, each driving hypothesis over the operation's strategy.
OPERATIONS = operations()


def test_the_schema_declares_no_request_bodies(app_schema: Any) -> None:
    """Documents why bodies are fuzzed by hypothesis instead (fails once bodies are declared: then
    schemathesis can take over more of that work)."""
    raw = app_schema.raw_schema
    bodies = [op for path in raw["paths"].values() for op in path.values() if "requestBody" in op]
    assert bodies == []
    assert "/api/chat" in raw["paths"]


def check(case: Any, response: Any) -> None:
    assert response.status_code != 500, (case.method, case.formatted_path, response.text)
    for marker in TRACEBACK_MARKERS:
        assert marker not in response.text, response.text
    if response.status_code < 400 or case.method.upper() == "HEAD" or not response.content:
        return
    body = response.json()
    if case.path.startswith("/v1/messages"):  # Anthropic's shape
        assert isinstance(body, dict) and body.get("type") == "error", body
        assert set(body) <= {"type", "error", "request_id"}, body
        assert isinstance(body["error"].get("message"), str) and body["error"]["message"], body
        return
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    if case.path.startswith("/v1/") and isinstance(error, dict):  # OpenAI's envelope on /v1
        assert isinstance(error.get("message"), str) and error["message"], body
    else:
        assert isinstance(error, str) and error, body


@pytest.mark.parametrize("label", OPERATIONS)
def test_operation(app_schema: Any, label: str) -> None:
    operation = next(r.ok() for r in app_schema.get_all_operations() if r.ok().label == label)
    calls: list[int] = []

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    # Positive generation only: the parameters are all path strings, so schemathesis finds no negative
    # cases (every operation is Unsatisfiable in GenerationMode.NEGATIVE).
    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    def run(case: Any) -> None:
        response = case.call()
        calls.append(response.status_code)
        check(case, response)

    run()
    assert calls
