"""Property-based tests of the request edge: random JSON (valid and invalid) posted to every body-parsing
route of the app in-process. Never a 500, every error exactly Ollama's ``{"error": str}``, no traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ollama_openai_proxy.app import create_app
from tests.conftest import make_settings
from tests.hardening.conftest import TRACEBACK_MARKERS, backend_serving
from tests.support.fake_backend import FakeBackend

EXAMPLES = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=False,
)

MODELS = [
    {"id": "test-model", "object": "model", "owned_by": "test"},
    {"id": "text-embedding-small", "object": "model", "owned_by": "test"},
]

# --- strategies -------------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)


def maybe(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a valid value for the field, sometimes anything at all."""
    return st.one_of(valid, valid, json_values)


def identity(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return strategy


def strategies(m: Any) -> dict[str, st.SearchStrategy[Any]]:
    """The request-body strategies, with ``m`` applied to every field: ``maybe`` mixes in invalid values,
    the identity keeps them valid (so that many requests get through the edge and are translated)."""
    model_names = (
        st.sampled_from(["test-model", "test-model:latest", "TEST-MODEL"])
        if m is identity
        else m(
            st.sampled_from(
                ["test-model", "test-model:latest", "nope", "", "a/b/c/d", "text-embedding-small"]
            )
            | st.text(max_size=40)
        )
    )
    images = st.lists(
        st.sampled_from(["iVBORw0KGgo=", "not base64!", "", "R0lGODlhAQABAAAAACw="]), max_size=2
    )
    tool_calls = st.lists(
        st.fixed_dictionaries(
            {
                "function": m(
                    st.fixed_dictionaries({"name": m(st.text(max_size=10)), "arguments": json_values})
                )
            },
            optional={"id": m(st.text(max_size=8)), "type": m(st.just("function"))},
        ),
        max_size=2,
    )
    messages = st.lists(
        st.fixed_dictionaries(
            {"role": m(st.sampled_from(["user", "assistant", "system", "tool", "USER", "weird"]))},
            optional={
                "content": m(st.text(max_size=40)),
                "images": m(images),
                "tool_calls": m(tool_calls),
                "tool_name": m(st.text(max_size=10)),
                "thinking": m(st.text(max_size=10)),
            },
        ),
        min_size=1,
        max_size=4,
    )
    options = st.dictionaries(
        st.sampled_from(
            [
                "temperature",
                "top_p",
                "top_k",
                "num_predict",
                "stop",
                "seed",
                "num_ctx",
                "min_p",
                "repeat_penalty",
                "mirostat",
                "presence_penalty",
                "frequency_penalty",
                "typical_p",
                "num_keep",
                "unknown_option",
            ]
        ),
        m(st.floats(min_value=-5, max_value=5) | st.integers(-5, 100)),
        max_size=6,
    )
    common = {
        "stream": m(st.booleans()),
        "keep_alive": m(st.sampled_from(["5m", "0", 0, -1, "1h30m", "bogus", 3.5, "-1s"])),
        "options": m(options),
        "format": m(st.sampled_from(["json", "", {"type": "object"}, "xml"])),
        "think": m(st.sampled_from([True, False, "low", "high", "max", "extreme"])),
        "logprobs": m(st.booleans()),
        "top_logprobs": m(st.integers(-3, 30)),
        "truncate": m(st.booleans()),
    }
    tools = st.lists(
        st.fixed_dictionaries(
            {
                "type": m(st.just("function")),
                "function": m(st.fixed_dictionaries({"name": st.text(max_size=8)})),
            }
        ),
        max_size=2,
    )
    return {
        "model": model_names,
        "options": options,
        "keep_alive": common["keep_alive"],
        "chat": st.fixed_dictionaries(
            {"model": model_names, "messages": m(messages)}, optional={"tools": m(tools), **common}
        ),
        "generate": st.fixed_dictionaries(
            {"model": model_names, "prompt": m(st.text(max_size=40))},
            optional={
                "suffix": m(st.text(max_size=10)),
                "system": m(st.text(max_size=10)),
                "template": m(st.text(max_size=10)),
                "context": m(st.lists(st.integers(0, 1000), max_size=4)),
                "raw": m(st.booleans()),
                "images": m(images),
                **common,
            },
        ),
        "embed": st.fixed_dictionaries(
            {"model": model_names},
            optional={
                "input": m(st.text(max_size=20) | st.lists(st.text(max_size=10), max_size=3)),
                "prompt": m(st.text(max_size=20)),
                "truncate": m(st.booleans()),
                "dimensions": m(st.integers(-2, 8)),
                "keep_alive": common["keep_alive"],
                "options": m(options),
            },
        ),
    }


VALID = strategies(identity)
MIXED = strategies(maybe)
model_names = MIXED["model"]
options = MIXED["options"]
chat_bodies = VALID["chat"] | MIXED["chat"]
generate_bodies = VALID["generate"] | MIXED["generate"]
embed_bodies = VALID["embed"] | MIXED["embed"]
common = {"keep_alive": MIXED["keep_alive"]}
named_bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": model_names,
        "name": model_names,
        "source": model_names,
        "destination": model_names,
        "from": model_names,
        "stream": maybe(st.booleans()),
        "verbose": maybe(st.booleans()),
        "insecure": maybe(st.booleans()),
        "system": maybe(st.text(max_size=10)),
        "parameters": maybe(options),
        "modelfile": maybe(st.text(max_size=60) | st.just("FROM test-model\nPARAMETER temperature 0.1")),
    },
)
raw_bodies = (
    st.binary(max_size=60)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.sampled_from(
        [b"", b"   ", b"{", b"null", b"[]", b'{"model": "test-model"', b"\xff\xfe", b'{"a":1}{"b":2}']
    )
)


# --- the app in-process --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBackend]:
    yield from backend_serving(MODELS)


@pytest.fixture(scope="module")
def client(fake: FakeBackend) -> Iterator[TestClient]:
    app = create_app(make_settings(fake.url, backend_profile="generic", models_ttl=60.0))
    with TestClient(app, base_url="http://localhost:11434", raise_server_exceptions=False) as test_client:
        yield test_client


def check(response: Any, *, openai: bool = False) -> None:
    assert response.status_code != 500, response.text
    assert response.status_code < 600
    text = response.text
    for marker in TRACEBACK_MARKERS:
        assert marker not in text, text
    if response.status_code < 400:
        return
    body = response.json()
    if openai:
        assert set(body) == {"error"} and isinstance(body["error"], dict), body
        assert isinstance(body["error"].get("message"), str), body
        return
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert isinstance(body["error"], str) and body["error"], body


def post(client: TestClient, path: str, body: Any, method: str = "POST") -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.request(method, path, content=content, headers={"Content-Type": "application/json"})


NATIVE = [
    ("POST", "/api/chat"),
    ("POST", "/api/generate"),
    ("POST", "/api/embed"),
    ("POST", "/api/embeddings"),
    ("POST", "/api/show"),
    ("POST", "/api/pull"),
    ("POST", "/api/push"),
    ("POST", "/api/create"),
    ("POST", "/api/copy"),
    ("DELETE", "/api/delete"),
]
OPENAI = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"]


@pytest.mark.parametrize(("method", "path"), NATIVE, ids=[p for _, p in NATIVE])
@EXAMPLES
@given(body=json_values | st.dictionaries(st.text(max_size=12), json_values, max_size=8) | raw_bodies)
def test_random_json_never_breaks_native_routes(
    client: TestClient, method: str, path: str, body: Any
) -> None:
    check(post(client, path, body, method))


@EXAMPLES
@given(body=chat_bodies)
def test_chat_bodies(client: TestClient, body: dict[str, Any]) -> None:
    check(post(client, "/api/chat", body))


@EXAMPLES
@given(body=generate_bodies)
def test_generate_bodies(client: TestClient, body: dict[str, Any]) -> None:
    check(post(client, "/api/generate", body))


@pytest.mark.parametrize("path", ["/api/embed", "/api/embeddings"])
@EXAMPLES
@given(body=embed_bodies)
def test_embed_bodies(client: TestClient, path: str, body: dict[str, Any]) -> None:
    check(post(client, path, body))


@pytest.mark.parametrize(
    ("method", "path"), [m for m in NATIVE if m[1] not in ("/api/chat", "/api/generate")]
)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=named_bodies)
def test_model_management_bodies(client: TestClient, method: str, path: str, body: dict[str, Any]) -> None:
    response = post(client, path, body, method)
    if path == "/api/pull" and response.status_code == 500 and body.get("stream") is False:
        # Ollama's own answer to pulling an unknown model without streaming: a 500, not a crash
        assert response.json()["error"].startswith("pull model manifest: "), response.text
        return
    check(response)


@pytest.mark.parametrize("path", OPENAI)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=chat_bodies | raw_bodies | json_values)
def test_openai_routes_answer_in_openai_shape(client: TestClient, path: str, body: Any) -> None:
    check(post(client, path, body), openai=True)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from(
        ["/api/tags", "/api/ps", "/api/version", "/v1/models", "/api/blobs/x", "/nope", "/api/chat"]
    ),
    method=st.sampled_from(["GET", "HEAD", "PUT", "PATCH", "OPTIONS", "DELETE"]),
    query=st.dictionaries(st.sampled_from(["ts", "model", "x"]), st.text(max_size=8), max_size=2),
)
def test_other_methods_and_paths(client: TestClient, path: str, method: str, query: dict[str, str]) -> None:
    response = client.request(method, path, params=query)
    assert response.status_code != 500, response.text
    if response.status_code < 400 or method == "HEAD" or not response.content:
        return
    if response.headers["content-type"].startswith("text/plain"):  # the router's own, as gin words it
        assert not path.startswith("/v1/"), response.text
        assert response.text in ("404 page not found", "405 method not allowed"), response.text
        return
    check(response, openai=path.startswith("/v1/"))


def test_the_generated_requests_reached_the_backend(fake: FakeBackend) -> None:
    """The structured strategies are not all rejected at the edge: many were valid and translated.
    (How many varies with Hypothesis's random draws: 83-122 chats and 18-71 embeddings were seen per
    run, so the floors leave a wide margin and still fail if the strategies stop producing valid
    bodies.)"""
    assert len(fake.received("chat/completions")) >= 25
    assert len(fake.received("embeddings")) >= 5
