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
from tests.support.fake_backend import FakeBackend

JS_DIR = Path(__file__).parent / "js"
pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None, reason="needs node and npm"
)


@pytest.fixture(scope="session")
def js_deps() -> Path:
    """``npm ci`` once: skipped while node_modules matches package-lock.json."""
    marker = JS_DIR / "node_modules" / ".ci-stamp"
    lock = (JS_DIR / "package-lock.json").read_bytes()
    if not (marker.exists() and marker.read_bytes() == lock):
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=JS_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        marker.write_bytes(lock)
    return JS_DIR


def test_ollama_js_contract(js_deps: Path, proxy: ServedProxy, fake: FakeBackend) -> None:
    env = {**os.environ, "PROXY_URL": proxy.url, "NODE_NO_WARNINGS": "1"}
    done = subprocess.run(
        ["node", "--test", "--test-reporter=tap", "ollama.test.mjs"],
        cwd=js_deps,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "# fail 0" in output, output
    assert "# pass 9" in output, output
    # The JS client really reached the backend through the proxy.
    chats = fake.received("chat/completions")
    assert len(chats) == 4  # chat x2 and generate x2; none for the 404 and 400 cases
    assert {c.body["stream"] for c in chats} == {True}  # the llama.cpp profile always streams
    assert fake.received("embeddings")[-1].body["input"] == ["a", "b"]


def test_anthropic_and_openai_js_contract(js_deps: Path, proxy: ServedProxy, fake: FakeBackend) -> None:
    fake.handler = tool_then_text("get_weather", {"city": "Paris"}, "FINAL:")
    env = {**os.environ, "PROXY_URL": proxy.url, "NODE_NO_WARNINGS": "1"}
    done = subprocess.run(
        ["node", "--test", "--test-reporter=tap", "dialects.test.mjs"],
        cwd=js_deps,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "# fail 0" in output, output
    assert "# pass 6" in output, output
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
