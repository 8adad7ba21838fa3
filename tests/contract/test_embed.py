"""/api/embed and the legacy /api/embeddings."""

from __future__ import annotations

import math

import httpx
import ollama
import pytest

from tests.support.fake_backend import FakeBackend, Reply, embeddings


def test_embed_string(client: ollama.Client, fake: FakeBackend) -> None:
    result = client.embed(model="text-embedding-small", input="hello")
    assert result.embeddings == [[0.6, 0.8]]  # the backend's [3, 4], unit length
    assert result.model == "text-embedding-small"
    assert result.prompt_eval_count == 3
    assert isinstance(result.total_duration, int)
    sent = fake.last("embeddings").body
    assert sent["model"] == "text-embedding-small"
    assert sent["input"] == ["hello"]
    assert sent["encoding_format"] == "float"


async def test_embed_list_async(aclient: ollama.AsyncClient, fake: FakeBackend) -> None:
    # The backend answers out of order: the proxy must restore input order.
    data = embeddings([[1.0, 0.0], [0.0, 2.0]])
    data["data"].reverse()
    fake.enqueue("embeddings", Reply(json=data))
    result = await aclient.embed(model="text-embedding-small", input=["a", "b"])
    assert result.embeddings == [[1.0, 0.0], [0.0, 1.0]]
    assert fake.last("embeddings").body["input"] == ["a", "b"]


def test_embed_dimensions_truncated_and_unit_length(client: ollama.Client, fake: FakeBackend) -> None:
    fake.enqueue("embeddings", Reply(json=embeddings([[1.0, 2.0, 2.0, 4.0, 9.0]])))
    result = client.embed(model="text-embedding-small", input="x", dimensions=3)
    (vector,) = result.embeddings
    assert len(vector) == 3
    assert vector == pytest.approx([1 / 3, 2 / 3, 2 / 3])
    assert math.isclose(math.fsum(v * v for v in vector), 1.0)
    assert "dimensions" not in fake.last("embeddings").body  # llama.cpp profile: truncated here


def test_embed_truncate_false_reported(http: httpx.Client, fake: FakeBackend) -> None:
    r = http.post("/api/embed", json={"model": "text-embedding-small", "input": "x", "truncate": False})
    assert r.status_code == 200
    assert "truncate" in r.headers["x-ollama-proxy-ignored"]
    r = http.post("/api/embed", json={"model": "text-embedding-small", "input": "x", "truncate": True})
    assert r.status_code == 200
    assert "x-ollama-proxy-ignored" not in r.headers


def test_embed_empty_input_loads_without_backend(http: httpx.Client, fake: FakeBackend) -> None:
    for body in (
        {"model": "text-embedding-small"},
        {"model": "text-embedding-small", "input": []},
        {"model": "text-embedding-small", "input": ""},
    ):
        r = http.post("/api/embed", json=body)
        assert r.status_code == 200
        assert r.json() == {"model": "text-embedding-small", "embeddings": []}
    assert fake.received("embeddings") == []


def test_embed_bad_input_type_is_400(http: httpx.Client, fake: FakeBackend) -> None:
    r = http.post("/api/embed", json={"model": "text-embedding-small", "input": [1, 2]})
    assert r.status_code == 400
    assert r.json() == {"error": "invalid input type"}


def test_embed_unknown_model_wording(client: ollama.Client, http: httpx.Client) -> None:
    with pytest.raises(ollama.ResponseError) as info:
        client.embed(model="nope", input="x")
    assert info.value.status_code == 404
    assert info.value.error == 'model "nope" not found, try pulling it first'
    r = http.post("/api/embed", json={"input": "x"})
    assert r.status_code == 404
    assert r.json() == {"error": "model '' not found"}


def test_legacy_embeddings_not_normalized(client: ollama.Client, fake: FakeBackend) -> None:
    result = client.embeddings(model="text-embedding-small", prompt="hello")
    assert list(result.embedding) == [3.0, 4.0]
    assert fake.last("embeddings").body["input"] == ["hello"]


def test_legacy_embeddings_errors_and_empty(http: httpx.Client, fake: FakeBackend) -> None:
    r = http.post("/api/embeddings", json={"model": "text-embedding-small", "prompt": ""})
    assert r.status_code == 200
    assert r.json() == {"embedding": []}
    r = http.post("/api/embeddings", json={"model": "nope", "prompt": "x"})
    assert r.status_code == 404
    assert r.json() == {"error": 'model "nope" not found, try pulling it first'}
    r = http.post("/api/embeddings", json={"prompt": "x"})
    assert r.status_code == 400
    assert r.json() == {"error": "model is required"}
    assert fake.received("embeddings") == []
