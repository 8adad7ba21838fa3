"""Claude Code and Codex CLI, from npm, complete a headless turn through the proxy: the scripted
backend asks for a shell command, the agent runs it, sends its output back, and prints the answer."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import ServedProxy
from tests.support import agents
from tests.support.agent_script import tool_result, tool_then_text
from tests.support.fake_backend import FakeBackend

pytestmark = pytest.mark.skipif(shutil.which("npm") is None, reason="needs npm")

COMMAND = "echo agent-was-here > proof.txt && cat proof.txt"


@pytest.fixture(scope="module")
def installed() -> Path:
    return agents.install()


def _second_request(fake: FakeBackend) -> dict[str, object]:
    """The backend request that carried the tool's result back."""
    with_result = [
        r.body
        for r in fake.received("chat/completions")
        if isinstance(r.body, dict) and tool_result(r.body) is not None
    ]
    assert with_result, [r.body for r in fake.received("chat/completions")]
    body = with_result[-1]
    assert isinstance(body, dict)
    return body


def test_claude_code_runs_a_tool_and_answers(
    installed: Path, proxy: ServedProxy, fake: FakeBackend, tmp_path: Path
) -> None:
    work, home = agents.agent_dirs(tmp_path)
    fake.handler = tool_then_text(
        "Bash", {"command": COMMAND, "description": "write the proof file"}, "FINAL:"
    )
    run = agents.run_claude(proxy.url, "test-model", "Write the proof file.", work, home)
    assert run.returncode == 0, run.output
    assert (work / "proof.txt").read_text() == "agent-was-here\n"  # the agent really ran the tool
    assert "FINAL: agent-was-here" in run.stdout, run.output
    body = _second_request(fake)
    assert "agent-was-here" in (tool_result(body) or "")
    messages = body["messages"]
    assert isinstance(messages, list)
    call = next(m for m in messages if m.get("tool_calls"))
    assert call["tool_calls"][0]["id"] == "call_agent_1"
    assert call["tool_calls"][0]["function"]["name"] == "Bash"
    tool = next(m for m in messages if m["role"] == "tool")
    assert tool["tool_call_id"] == "call_agent_1"
    assert body["stream"] is True
    assert body["model"] == "test-model"


def test_codex_runs_a_tool_and_answers(
    installed: Path, proxy: ServedProxy, fake: FakeBackend, tmp_path: Path
) -> None:
    work, home = agents.agent_dirs(tmp_path)
    fake.handler = tool_then_text("exec_command", {"cmd": COMMAND}, "FINAL:")
    run = agents.run_codex(proxy.url, "test-model", "Write the proof file.", work, home)
    assert run.returncode == 0, run.output
    assert (work / "proof.txt").read_text() == "agent-was-here\n"
    assert "FINAL: agent-was-here" in run.stdout, run.output
    body = _second_request(fake)
    assert "agent-was-here" in (tool_result(body) or "")
    messages = body["messages"]
    assert isinstance(messages, list)
    assert messages[0]["role"] == "system"  # Codex's instructions
    call = next(m for m in messages if m.get("tool_calls"))
    assert call["tool_calls"][0]["id"] == "call_agent_1"
    assert call["tool_calls"][0]["function"]["name"] == "exec_command"
    tool = next(m for m in messages if m["role"] == "tool")
    assert tool["tool_call_id"] == "call_agent_1"
