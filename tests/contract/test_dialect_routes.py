"""The smaller routes of the dialects: /api/version, /api/status, /v1/audio/transcriptions."""

from __future__ import annotations

import re

import httpx
import openai
import pytest

from tests.conftest import ServedProxy
from tests.support.fake_backend import FakeBackend, Reply


def test_version_is_recent_enough_for_the_dialects(http: httpx.Client) -> None:
    version = http.get("/api/version").json()["version"]
    assert tuple(int(p) for p in version.split(".")[:2]) >= (0, 14)  # /v1/messages arrived in 0.14.0


def test_status_reports_cloud_off(http: httpx.Client) -> None:
    r = http.get("/api/status")
    assert r.status_code == 200
    assert r.json() == {"cloud": {"disabled": True, "source": "config"}}


def test_transcription_relayed_as_multipart(proxy: ServedProxy, fake: FakeBackend) -> None:
    fake.enqueue("audio/transcriptions", Reply(json={"text": "hello world"}))
    client = openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="unused", max_retries=0)
    audio = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(32))
    result = client.audio.transcriptions.create(
        model="test-model:latest", file=("clip.wav", audio, "audio/wav"), language="en", prompt="greeting"
    )
    assert result.text == "hello world"
    sent = fake.last("audio/transcriptions")
    assert sent.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    body = sent.body
    assert isinstance(body, bytes)
    assert re.search(rb'name="model"[^\n]*\r\n(?:[^\r\n]+\r\n)*\r\ntest-model\r\n', body)  # the backend id
    assert b"test-model:latest" not in body
    assert audio in body
    assert b'filename="clip.wav"' in body
    assert b"greeting" in body and b'name="language"' in body


def test_transcription_where_the_backend_has_none(proxy: ServedProxy, fake: FakeBackend) -> None:
    client = openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.APIStatusError) as failed:
        client.audio.transcriptions.create(model="test-model", file=("clip.wav", b"RIFF", "audio/wav"))
    assert failed.value.status_code == 501
    assert "does not serve /v1/audio/transcriptions" in failed.value.message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"file": ("a.wav", b"x")}, "model"),
        ({"model": "test-model"}, "file"),
    ],
)
def test_transcription_bad_input(proxy: ServedProxy, body: dict[str, object], message: str) -> None:
    files = {k: v for k, v in body.items() if isinstance(v, tuple)}
    data = {k: v for k, v in body.items() if isinstance(v, str)}
    r = httpx.post(f"{proxy.url}/v1/audio/transcriptions", data=data, files=files or {"x": ("", b"")})
    assert r.status_code == 400
    assert message in r.json()["error"]["message"]
    r = httpx.post(f"{proxy.url}/v1/audio/transcriptions", json={"model": "test-model"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
