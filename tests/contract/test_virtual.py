"""Virtual models through the official client: create (JSON and Modelfile), show, use, copy, delete,
persistence across restarts, and models declared in the configuration file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import ollama
import orjson
import pytest

from tests.conftest import ServedProxy
from tests.contract.conftest import create_virtual
from tests.support.agent_script import answer_every_chat
from tests.support.fake_backend import FakeBackend

USER = [{"role": "user", "content": "hello"}]


def system_of(proxy: ServedProxy, model: str) -> str:
    """/api/show's ``system`` (the Python client's ShowResponse has no field for it)."""
    r = httpx.post(f"{proxy.url}/api/show", json={"model": model})
    assert r.status_code == 200, r.text
    assert f'SYSTEM """{r.json()["system"]}"""' in r.json()["modelfile"]
    return str(r.json()["system"])


@pytest.fixture
def vproxy(fake: FakeBackend, start_proxy: Callable[..., ServedProxy], tmp_path: Path) -> ServedProxy:
    return start_proxy(fake.url, backend_profile="llamacpp", state_dir=str(tmp_path))


def test_create_use_show_copy_delete(fake: FakeBackend, vproxy: ServedProxy) -> None:
    client = ollama.Client(host=vproxy.url)
    progress = list(
        client.create(
            model="pirate",
            from_="test-model",
            system="You are a pirate.",
            parameters={"temperature": 0.3, "stop": ["Arr"], "num_ctx": 4096},
            messages=[
                {"role": "user", "content": "Who are you?"},
                {"role": "assistant", "content": "A pirate."},
            ],
            stream=True,
        )
    )
    assert progress[-1].status == "success"

    names = {m.model for m in client.list().models}
    assert "pirate:latest" in names and "test-model:latest" in names

    shown = client.show("pirate")
    assert system_of(vproxy, "pirate") == "You are a pirate."
    assert shown.details is not None and shown.details.parent_model == "test-model"
    assert shown.modelfile is not None and "FROM test-model" in shown.modelfile
    assert shown.parameters is not None and "temperature" in shown.parameters and '"Arr"' in shown.parameters
    assert shown.capabilities == client.show("test-model").capabilities

    reply = client.chat(model="pirate", messages=USER)
    assert reply.model == "pirate"
    sent = fake.last("chat/completions").body
    assert sent["model"] == "test-model"
    assert [m["content"] for m in sent["messages"]] == [
        "You are a pirate.",
        "Who are you?",
        "A pirate.",
        "hello",
    ]
    assert sent["temperature"] == 0.3 and sent["stop"] == ["Arr"]

    # the request's own options and system message win over the model's defaults
    client.chat(
        model="pirate",
        messages=[{"role": "system", "content": "Be brief."}, *USER],
        options={"temperature": 0.9},
    )
    sent = fake.last("chat/completions").body
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["temperature"] == 0.9

    client.generate(model="pirate", prompt="Ahoy?")
    sent = fake.last("chat/completions").body
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]
    assert sent["messages"][-1]["content"] == "Ahoy?"

    assert client.copy("pirate", "captain").status == "success"
    assert system_of(vproxy, "captain") == "You are a pirate."
    assert client.copy("test-model", "plain-alias").status == "success"
    client.chat(model="plain-alias", messages=USER)
    assert fake.last("chat/completions").body["model"] == "test-model"

    assert client.delete("pirate").status == "success"
    with pytest.raises(ollama.ResponseError) as info:
        client.show("pirate")
    assert info.value.status_code == 404
    assert system_of(vproxy, "captain") == "You are a pirate."  # copies are independent


def test_create_from_modelfile_text(fake: FakeBackend, vproxy: ServedProxy) -> None:
    # Older clients send the Modelfile itself.
    modelfile = 'FROM test-model\nSYSTEM """Answer in French."""\nPARAMETER top_k 20\nMESSAGE user Bonjour\n'
    r = httpx.post(
        f"{vproxy.url}/api/create", json={"name": "french", "modelfile": modelfile, "stream": False}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "success"}
    ollama.Client(host=vproxy.url).chat(model="french", messages=USER)
    sent = fake.last("chat/completions").body
    assert sent["messages"][0] == {"role": "system", "content": "Answer in French."}
    assert sent["top_k"] == 20


def test_create_errors(vproxy: ServedProxy) -> None:
    client = ollama.Client(host=vproxy.url)
    with pytest.raises(ollama.ResponseError) as info:
        client.create(model="x", from_="ghost")
    assert info.value.status_code == 404
    assert "ghost" in info.value.error
    with pytest.raises(ollama.ResponseError) as info:
        client.create(model="x", from_="test-model", parameters={"not_an_option": 1})
    assert info.value.status_code == 400
    assert "not_an_option" in info.value.error
    client.create(model="a", from_="test-model")
    client.create(model="b", from_="a")
    with pytest.raises(ollama.ResponseError) as info:
        client.create(model="a", from_="b")
    assert info.value.status_code == 400
    assert "derives from itself" in info.value.error


def test_virtual_models_survive_a_restart(
    fake: FakeBackend, start_proxy: Callable[..., ServedProxy], tmp_path: Path
) -> None:
    first = start_proxy(fake.url, state_dir=str(tmp_path))
    ollama.Client(host=first.url).create(model="keeper", from_="test-model", system="Persist me.")
    first.stop()
    second = start_proxy(fake.url, state_dir=str(tmp_path))
    assert system_of(second, "keeper") == "Persist me."


def test_declared_in_config_file_are_read_only(
    fake: FakeBackend, start_proxy: Callable[..., ServedProxy], tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"backends:\n  - name: fake\n    base_url: {fake.url}\n"
        "virtual_models:\n  - model: helper\n    from: test-model\n    system: Declared.\n"
    )
    proxy = start_proxy(fake.url, config=str(config))
    client = ollama.Client(host=proxy.url)
    assert system_of(proxy, "helper") == "Declared."
    client.chat(model="helper", messages=USER)
    assert fake.last("chat/completions").body["messages"][0] == {"role": "system", "content": "Declared."}
    with pytest.raises(ollama.ResponseError) as info:
        client.delete("helper")
    assert info.value.status_code == 400
    assert "configuration file" in info.value.error


@pytest.mark.parametrize("stream", [False, True])
def test_virtual_model_on_openai_chat_completions(
    fake: FakeBackend, vproxy: ServedProxy, stream: bool
) -> None:
    """/v1/chat/completions honours SYSTEM, MESSAGE and PARAMETER as /api/chat does, and names the
    virtual model in its answer."""
    create_virtual(
        vproxy.url,
        model="pirate",
        system="You are a pirate.",
        parameters={"temperature": 0.3, "num_predict": 40},
        messages=[{"role": "user", "content": "Ahoy?"}, {"role": "assistant", "content": "Ahoy!"}],
        **{"from": "test-model"},
    )
    body = {"model": "pirate", "messages": USER, "stream": stream, "temperature": 0.9}
    r = httpx.post(f"{vproxy.url}/v1/chat/completions", json=body, timeout=20)
    assert r.status_code == 200, r.text
    if stream:
        frames = [f.removeprefix(b"data: ") for f in r.content.split(b"\n\n") if f.startswith(b"data: {")]
        models = {orjson.loads(f).get("model") for f in frames}
        assert models == {"pirate", None}  # the usage-only chunk of this backend names no model
    else:
        assert r.json()["model"] == "pirate"
    sent = fake.last("chat/completions").body
    assert sent["model"] == "test-model"
    assert sent["messages"] == [
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "Ahoy?"},
        {"role": "assistant", "content": "Ahoy!"},
        *USER,
    ]
    assert sent["temperature"] == 0.9  # the request's own value wins
    assert sent["max_tokens"] == 40

    # the same model through /api/chat sends the same conversation
    httpx.post(
        f"{vproxy.url}/api/chat", json={"model": "pirate", "messages": USER, "stream": False}, timeout=20
    )
    assert fake.last("chat/completions").body["messages"] == sent["messages"]


def test_request_system_message_replaces_the_model_system_on_v1(
    fake: FakeBackend, vproxy: ServedProxy
) -> None:
    httpx.post(
        f"{vproxy.url}/api/create", json={"model": "pirate", "from": "test-model", "system": "Pirate."}
    )
    own = [{"role": "developer", "content": "Be a robot."}, *USER]
    httpx.post(f"{vproxy.url}/v1/chat/completions", json={"model": "pirate", "messages": own}, timeout=20)
    assert fake.last("chat/completions").body["messages"] == own


DIALECT_BODIES = {
    "/api/chat": {"messages": USER, "stream": False},
    "/api/generate": {"prompt": "hello", "stream": False},
    "/v1/chat/completions": {"messages": USER},
    "/v1/messages": {"messages": USER, "max_tokens": 40},
    "/v1/responses": {"input": "hello", "max_output_tokens": 40},
}


@pytest.mark.parametrize("path", list(DIALECT_BODIES))
@pytest.mark.parametrize(
    ("parameters", "sampling"),
    [
        ({"temperature": 0.3, "top_p": 0.7}, {"temperature": 0.3, "top_p": 0.7}),
        ({"temperature": 0.2}, {"temperature": 0.2}),
        ({"top_p": 0.5, "top_k": 9}, {"top_p": 0.5, "top_k": 9}),
    ],
)
def test_a_virtual_models_parameters_reach_the_backend_in_every_dialect(
    fake: FakeBackend,
    vproxy: ServedProxy,
    path: str,
    parameters: dict[str, float],
    sampling: dict[str, float],
) -> None:
    """No dialect's own defaults (OpenAI's temperature and top_p of 1.0 for /v1/responses) replace
    what the model was created with; each answer names the model asked for."""
    answer_every_chat(fake, "Arr.")
    create_virtual(
        vproxy.url,
        model="pirate",
        system="You are a pirate.",
        parameters=parameters,
        **{"from": "test-model"},
    )
    r = httpx.post(f"{vproxy.url}{path}", json={"model": "pirate", **DIALECT_BODIES[path]}, timeout=20)
    assert r.status_code == 200, r.text
    assert r.json()["model"] == "pirate"
    sent = fake.last("chat/completions").body
    assert sent["messages"][0] == {"role": "system", "content": "You are a pirate."}
    assert {k: sent[k] for k in sampling} == sampling
    if path == "/v1/responses":  # the answer repeats the sampling it was made with
        echoed = r.json()
        assert echoed["temperature"] == parameters.get("temperature", 1.0)
        assert echoed["top_p"] == parameters.get("top_p", 1.0)
