"""Several backends behind one endpoint (a YAML configuration file): merged listings, routing by
model, aliases with fallback, a backend that goes down and comes back, exposure rules, overrides,
the check/models commands and configuration errors."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import ollama
import pytest

from tests.conftest import ServedProxy
from tests.support.fake_backend import FakeBackend, Reply, chat_completion

USER = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def local() -> Iterator[FakeBackend]:
    fake = FakeBackend(models=[{"id": "smollm2", "owned_by": "llamacpp"}, {"id": "qwen-preview"}]).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def cloud() -> Iterator[FakeBackend]:
    fake = FakeBackend(
        models=[{"id": "gpt-4o", "created": 1715000000}, {"id": "text-embedding-3-small"}]
    ).start()
    yield fake
    fake.stop()


def write_config(path: Path, local: FakeBackend, cloud: FakeBackend, extra: str = "") -> Path:
    path.write_text(
        f"""
backends:
  - name: local
    base_url: {local.url}
    profile: llamacpp
    retries: 0
  - name: cloud
    base_url: {cloud.url}
    api_key_env: ROUTING_TEST_KEY
    headers: {{X-Team: blue}}
    retries: 0
aliases:
  llama3.2:
    model: smollm2
    backend: local
    fallback: [{{backend: cloud, model: gpt-4o}}]
  gpt: gpt-4o
models:
  "gpt-4o": {{context_length: 128000, capabilities: [completion, tools, vision]}}
expose: {{deny: ["*-preview*"]}}
{extra}"""
    )
    return path


@pytest.fixture
def routed(
    local: FakeBackend,
    cloud: FakeBackend,
    start_proxy: Callable[..., ServedProxy],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> ServedProxy:
    local.reset()
    cloud.reset()
    monkeypatch.setenv("ROUTING_TEST_KEY", "sk-cloud-secret")
    config = write_config(tmp_path / "config.yaml", local, cloud)
    return start_proxy(local.url, config=str(config))


def test_merged_listing_with_aliases_and_exposure(routed: ServedProxy) -> None:
    client = ollama.Client(host=routed.url)
    names = [m.model for m in client.list().models]
    assert names == [
        "smollm2:latest",
        "gpt-4o:latest",
        "text-embedding-3-small:latest",
        "llama3.2:latest",
        "gpt:latest",
    ]  # qwen-preview is denied by expose
    shown = client.show("gpt-4o")
    assert shown.capabilities == ["completion", "tools", "vision"]
    assert shown.modelinfo is not None
    assert 128000 in shown.modelinfo.values()


def test_each_model_goes_to_its_backend(routed: ServedProxy, local: FakeBackend, cloud: FakeBackend) -> None:
    client = ollama.Client(host=routed.url)
    client.chat(model="smollm2", messages=USER)
    assert local.last("chat/completions").body["model"] == "smollm2"
    client.chat(model="gpt", messages=USER)
    sent = cloud.last("chat/completions")
    assert sent.body["model"] == "gpt-4o"
    assert sent.headers["Authorization"] == "Bearer sk-cloud-secret"
    assert sent.headers["X-Team"] == "blue"
    assert "Authorization" not in local.last("chat/completions").headers
    client.embed(model="text-embedding-3-small", input="x")
    assert cloud.last("embeddings").body["model"] == "text-embedding-3-small"


def test_alias_falls_back_when_the_first_backend_fails(
    routed: ServedProxy, local: FakeBackend, cloud: FakeBackend
) -> None:
    client = ollama.Client(host=routed.url)
    local.enqueue("chat/completions", Reply(status=503, json={"error": {"message": "overloaded"}}))
    cloud.enqueue("chat/completions", Reply(json=chat_completion("from the cloud")))
    reply = client.chat(model="llama3.2", messages=USER)
    assert reply.message.content == "from the cloud"
    assert reply.model == "llama3.2"
    assert local.last("chat/completions").body["model"] == "smollm2"
    assert cloud.last("chat/completions").body["model"] == "gpt-4o"
    # a client error (400) is not a backend failure: no fallback, the message passes through
    local.enqueue("chat/completions", Reply(status=400, json={"error": {"message": "bad temperature"}}))
    before = len(cloud.received("chat/completions"))
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="llama3.2", messages=USER)
    assert info.value.status_code == 400
    assert info.value.error == "bad temperature"
    assert len(cloud.received("chat/completions")) == before


def test_backend_down_drops_out_and_comes_back(
    local: FakeBackend,
    cloud: FakeBackend,
    start_proxy: Callable[..., ServedProxy],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROUTING_TEST_KEY", "k")
    config = write_config(tmp_path / "config.yaml", local, cloud)
    proxy = start_proxy(local.url, config=str(config), models_ttl=0.2)
    client = ollama.Client(host=proxy.url)
    assert "gpt-4o:latest" in [m.model for m in client.list().models]
    cloud.models_status = 500  # the cloud's listing fails from now on
    deadline = time.monotonic() + 10
    while "gpt-4o:latest" in [m.model for m in client.list().models]:
        assert time.monotonic() < deadline, "the down backend's models never dropped out"
        time.sleep(0.1)
    assert "smollm2:latest" in [m.model for m in client.list().models]  # the other backend still serves
    client.chat(model="smollm2", messages=USER)
    cloud.models_status = 200
    while "gpt-4o:latest" not in [m.model for m in client.list().models]:
        assert time.monotonic() < deadline, "the recovered backend's models never came back"
        time.sleep(0.1)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "OLLAMA_"))}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "ollama_openai_proxy", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        check=False,
    )


def test_check_and_models_commands(local: FakeBackend, cloud: FakeBackend, tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.yaml", local, cloud)
    env = {"ROUTING_TEST_KEY": "k"}
    cloud.models_status = 200
    ok = run_cli("--config", str(config), "check", env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "backend local:" in ok.stdout
    assert "backend cloud:" in ok.stdout
    assert "llama3.2:latest" in ok.stdout
    table = run_cli("--config", str(config), "models", env=env)
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split() == [
        "NAME",
        "BACKEND",
        "BACKEND",
        "MODEL",
        "CONTEXT",
        "CAPABILITIES",
    ]
    assert any(line.startswith("gpt-4o:latest") and "128000" in line for line in table.stdout.splitlines())

    broken = (
        write_config(tmp_path / "broken.yaml", local, cloud)
        .read_text()
        .replace(cloud.url, "http://127.0.0.1:9/v1")
    )
    (tmp_path / "broken.yaml").write_text(broken)
    bad = run_cli("--config", str(tmp_path / "broken.yaml"), "doctor", env=env)
    assert bad.returncode == 1
    problems = [line for line in bad.stdout.splitlines() if line.startswith("problem:")]
    assert len(problems) == 2, bad.stdout
    assert "backend cloud" in problems[0]
    assert "unreachable" in problems[0]
    assert problems[1] == "problem: alias gpt: none of its targets is served by a reachable backend"
    assert bad.stdout.rstrip().endswith("2 problem(s)")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "backends:\n  - name: a\n    base_url: ftp://x\n",
            "backends[0].base_url: must be an absolute http(s) URL",
        ),
        (
            "backends:\n  - name: a\n    base_url: http://x/v1\n    colour: red\n",
            "backends[0].colour: unknown key",
        ),
        (
            "backends:\n  - name: a\n    base_url: http://x/v1\n    api_key: sk-123\n",
            "secrets do not belong in the file",
        ),
        (
            "backends:\n  - name: a\n    base_url: http://x/v1\n    api_key_env: NOPE_NOT_SET\n",
            "backends[0].api_key_env: environment variable NOPE_NOT_SET is not set",
        ),
        ("backends: []\n", "backends: List should have at least 1 item"),
        (
            "backends:\n  - {name: a, base_url: 'http://x/v1'}\naliases:\n  m: {model: x, backend: b}\n",
            "alias 'm' names unknown backend 'b'",
        ),
        ("backends: [\n", "not valid YAML"),
        (
            "backends:\n  - {name: a, base_url: 'http://x/v1'}\nvirtual_models:\n  - {model: v}\n",
            "virtual_models[0]",
        ),
    ],
)
def test_configuration_errors_are_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(text)
    result = run_cli("--config", str(config), "check")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ollama-openai-proxy: configuration error: ")
    assert str(config) in lines[0]
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("dialect", ["messages", "responses"])
def test_dialects_take_the_same_route_and_fallback(
    routed: ServedProxy, local: FakeBackend, cloud: FakeBackend, dialect: str
) -> None:
    """An alias with a fallback behaves on /v1/messages and /v1/responses as on /api/chat: the
    first backend's 503 moves the call to the fallback, and the answer names the alias."""
    local.enqueue("chat/completions", Reply(status=503, json={"error": {"message": "overloaded"}}))
    cloud.enqueue("chat/completions", Reply(json=chat_completion("from the cloud")))
    if dialect == "messages":
        body: dict[str, object] = {"model": "llama3.2", "max_tokens": 16, "messages": USER}
    else:
        body = {"model": "llama3.2", "input": "hi"}
    r = httpx.post(f"{routed.url}/v1/{dialect}", json=body, timeout=20)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["model"] == "llama3.2"
    text = (
        answer["content"][0]["text"] if dialect == "messages" else answer["output"][0]["content"][0]["text"]
    )
    assert text == "from the cloud"
    assert local.last("chat/completions").body["model"] == "smollm2"
    assert cloud.last("chat/completions").body["model"] == "gpt-4o"
    assert cloud.last("chat/completions").headers["Authorization"] == "Bearer sk-cloud-secret"
