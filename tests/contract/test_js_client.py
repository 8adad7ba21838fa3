"""The official ollama, @anthropic-ai/sdk and openai npm clients (tests/contract/js) against the session
proxy, run with ``node --test``."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ServedProxy
from tests.support.agent_script import tool_result, tool_then_text
from tests.support.agents import npm_ci
from tests.support.fake_backend import FakeBackend

JS_DIR = Path(__file__).parent / "js"
pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None, reason="needs node and npm"
)


@pytest.fixture(scope="session")
def js_deps() -> Path:
    return npm_ci(JS_DIR, timeout=300)


def run_node_tests(folder: Path, proxy: ServedProxy, file: str, passed: int) -> None:
    """``node --test`` on one file against the proxy: every test passes, and there are ``passed``."""
    env = {**os.environ, "PROXY_URL": proxy.url, "NODE_NO_WARNINGS": "1"}
    done = subprocess.run(
        ["node", "--test", "--test-reporter=tap", file],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "# fail 0" in output, output
    assert f"# pass {passed}" in output, output


def test_ollama_js_contract(js_deps: Path, proxy: ServedProxy, fake: FakeBackend) -> None:
    run_node_tests(js_deps, proxy, "ollama.test.mjs", 9)
    # The JS client really reached the backend through the proxy.
    chats = fake.received("chat/completions")
    assert len(chats) == 4  # chat x2 and generate x2; none for the 404 and 400 cases
    assert {c.body["stream"] for c in chats} == {True}  # the llama.cpp profile always streams
    assert fake.received("embeddings")[-1].body["input"] == ["a", "b"]


def test_anthropic_and_openai_js_contract(js_deps: Path, proxy: ServedProxy, fake: FakeBackend) -> None:
    fake.handler = tool_then_text("get_weather", {"city": "Paris"}, "FINAL:")
    run_node_tests(js_deps, proxy, "dialects.test.mjs", 6)
    # What the backend received: each dialect's tool round trip arrived as native tool messages.
    bodies = [r.body for r in fake.received("chat/completions") if isinstance(r.body, dict)]
    assert len(bodies) == 6  # two per round trip, one per plain text call; none for the 404s
    results = [b for b in bodies if tool_result(b) is not None]
    assert len(results) == 2
    for body in results:
        call = next(m for m in body["messages"] if m.get("tool_calls"))
        assert call["tool_calls"][0]["id"] == "call_agent_1"
        assert body["messages"][-1] == {"role": "tool", "content": "18C", "tool_call_id": "call_agent_1"}
    systems = [b["messages"][0] for b in bodies if b["messages"][0]["role"] == "system"]
    assert systems == [{"role": "system", "content": "Be brief."}] * 2
