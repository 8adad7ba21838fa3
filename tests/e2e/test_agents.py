"""Claude Code and Codex CLI against the real llama.cpp backend through the proxy: one headless turn
each completes without a protocol error (what the tiny model says is not checked).

The agents' prompts are large (Codex ~7k tokens) for the shared backend's 8k context, so the run
goes through a virtual model that keeps answers short (PARAMETER num_predict, stop, temperature 0),
and Claude Code runs with a short system prompt and only its Bash tool. A tiny model may still run
into the token cap: Claude Code then reports that it exceeded its maximum — it read the
``max_tokens`` stop reason right, so that too is a turn that completed without a protocol error."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServedProxy, make_settings
from tests.e2e.helpers import MODEL, LlamaBackend
from tests.support import agents

pytestmark = pytest.mark.skipif(shutil.which("npm") is None, reason="needs npm")
AGENT_MODEL = "agent-smollm2"
PROTOCOL_ERRORS = (
    "API Error",
    "stream disconnected",
    "unexpected status",
    "error decoding",
    "invalid_request_error",
)


@pytest.fixture(scope="module")
def agent_proxy(
    llama_backend: LlamaBackend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedProxy]:
    agents.install()
    served = ServedProxy(
        make_settings(llama_backend.url, state_dir=str(tmp_path_factory.mktemp("state")))
    ).start()
    created = httpx.post(
        f"{served.url}/api/create",
        json={
            "model": AGENT_MODEL,
            "from": MODEL,
            "parameters": {"num_predict": 48, "temperature": 0, "stop": ["\n\n"]},
            "stream": False,
        },
        timeout=30,
    )
    assert created.status_code == 200, created.text
    yield served
    served.stop()


def test_claude_code_turn_completes(agent_proxy: ServedProxy, tmp_path: Path) -> None:
    work, home = agents.agent_dirs(tmp_path)
    run = agents.run_claude(
        agent_proxy.url, AGENT_MODEL, "Say hello.", work, home, small=True, max_tokens=64, timeout=600
    )
    capped = "exceeded the 64 output token maximum" in run.stdout
    assert run.returncode == 0 or capped, run.output
    assert run.stdout.strip(), run.output
    errors = run.stdout + run.stderr
    if capped:
        errors = errors.replace("API Error: Claude's response exceeded", "")
    assert not any(marker in errors for marker in PROTOCOL_ERRORS), run.output


def test_codex_turn_completes(agent_proxy: ServedProxy, tmp_path: Path) -> None:
    work, home = agents.agent_dirs(tmp_path)
    run = agents.run_codex(agent_proxy.url, AGENT_MODEL, "Say hello.", work, home, timeout=600)
    assert run.returncode == 0, run.output
    assert "tokens used" in run.stderr + run.stdout, run.output
    assert not any(marker in run.stdout + run.stderr for marker in PROTOCOL_ERRORS), run.output
