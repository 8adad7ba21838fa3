"""pull (a no-op success for served models), push/create/copy/delete/blobs (clear errors)."""

from __future__ import annotations

import httpx
import ollama
import orjson
import pytest

from tests.contract.conftest import ndjson

HEX64 = "a" * 64


def test_pull_streams_statuses_ending_with_success(client: ollama.Client, http: httpx.Client) -> None:
    statuses = [p.status for p in client.pull("test-model", stream=True)]
    assert statuses[0] == "pulling manifest"
    assert statuses[-1] == "success"
    r = http.post("/api/pull", json={"name": "test-model"})  # the CLI/JS spelling, stream absent
    lines = ndjson(r)
    assert lines[-1] == {"status": "success"}
    assert all("error" not in o for o in lines)
    digests = [o["digest"] for o in lines if "digest" in o]
    assert all(d.startswith("sha256:") and len(d) == 71 for d in digests)


def test_pull_not_streamed(client: ollama.Client) -> None:
    assert client.pull("org/Model-Name:free").status == "success"


def test_pull_progress_lines_with_a_digest_carry_total_and_completed(http: httpx.Client) -> None:
    for name in ("test-model", "org/Model-Name:free"):
        lines = ndjson(http.post("/api/pull", json={"model": name}))
        layers = [o for o in lines if "digest" in o]
        assert layers
        for o in layers:  # ollama-js's pull example prints completed/total: it must reach 100 %
            assert type(o["total"]) is int and o["total"] > 0
            assert o["completed"] == o["total"]


def test_pull_unknown_model_fails_as_ollama_does(client: ollama.Client, http: httpx.Client) -> None:
    """Ollama answers 200 and an error line when streaming, 500 when not."""
    with pytest.raises(ollama.ResponseError) as info:
        client.pull("no-such-model")
    assert info.value.status_code == 500
    assert info.value.error == "pull model manifest: file does not exist"
    with pytest.raises(ollama.ResponseError) as info:
        list(client.pull("no-such-model", stream=True))
    assert info.value.error == "pull model manifest: file does not exist"
    r = http.post("/api/pull", json={"model": "no-such-model"})
    assert r.status_code == 200
    lines = ndjson(r)
    assert lines[-1] == {"error": "pull model manifest: file does not exist"}  # Ollama's words
    assert all(o.get("status") != "success" for o in lines)
    r = http.post("/api/pull", json={})
    assert r.status_code == 400
    assert r.json() == {"error": "invalid model name"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/push", {"model": "test-model"}),
        ("POST", f"/api/blobs/sha256:{HEX64}", None),
    ],
)
def test_unsupported_management_is_a_clear_json_error(
    http: httpx.Client, method: str, path: str, body: object
) -> None:
    content = b"raw file bytes" if body is None else orjson.dumps(body)
    r = http.request(method, path, content=content, headers={"Content-Type": "application/json"})
    assert r.status_code == 501
    assert r.headers["content-type"].startswith("application/json")
    error = r.json()["error"]
    assert "not supported" in error
    assert set(r.json()) == {"error"}


def test_management_errors_through_python_client(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as info:
        client.push("test-model")
    assert info.value.status_code == 501
    with pytest.raises(ollama.ResponseError) as info:
        client.create(model="mine", files={"model.gguf": f"sha256:{HEX64}"})
    assert info.value.status_code == 400
    assert "from weights is not supported" in info.value.error
    with pytest.raises(ollama.ResponseError) as info:
        client.copy("ghost", "mine")
    assert info.value.status_code == 404
    assert info.value.error == 'model "ghost" not found'


def test_delete(client: ollama.Client, http: httpx.Client) -> None:
    with pytest.raises(ollama.ResponseError) as info:
        client.delete("test-model")
    assert info.value.status_code == 400
    assert "cannot be deleted" in info.value.error
    with pytest.raises(ollama.ResponseError) as info:
        client.delete("ghost")
    assert info.value.status_code == 404
    assert info.value.error == "model 'ghost' not found"
    r = http.request("DELETE", "/api/delete", json={"name": "ghost"})  # JS/CLI spelling
    assert r.status_code == 404
    assert r.json() == {"error": "model 'ghost' not found"}


def test_missing_model_field_on_management(http: httpx.Client) -> None:
    for path, error in (("/api/push", "model is required"), ("/api/create", "invalid model name")):
        r = http.post(path, json={})
        assert r.status_code == 400
        assert r.json() == {"error": error}
    r = http.request("DELETE", "/api/delete", json={})
    assert r.status_code == 400
    r = http.post("/api/copy", json={"source": "test-model"})
    assert r.status_code == 400


def test_blobs(http: httpx.Client) -> None:
    r = http.head(f"/api/blobs/sha256:{HEX64}")
    assert r.status_code == 404
    r = http.post("/api/blobs/sha256:xyz", content=b"data")
    assert r.status_code == 400
    assert r.json() == {"error": 'invalid digest "sha256:xyz"'}
    assert http.get(f"/api/blobs/sha256:{HEX64}").status_code == 405
