"""A scripted backend turn for real agents: a tool call first, then (once the tool result is back) text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from tests.support.fake_backend import FakeBackend, Recorded, Reply, chat_completion, chunk, usage


def answer(
    body: dict[str, Any],
    content: str | None,
    calls: list[dict[str, Any]] | None = None,
    reasoning: str | None = None,
) -> Reply:
    """One answer in the form the request asked for: a JSON completion, or an SSE stream (reasoning,
    text, then each tool call in two argument fragments) when ``stream`` is set."""
    finish = "tool_calls" if calls else "stop"
    if not body.get("stream"):
        return Reply(json=chat_completion(content, tool_calls=calls, finish=finish, reasoning=reasoning))
    events: list[Any] = [chunk({"role": "assistant", "content": ""})]
    if reasoning:
        events.append(chunk({"reasoning_content": reasoning}))
    if content:
        events += [
            chunk({"content": content[: len(content) // 2]}),
            chunk({"content": content[len(content) // 2 :]}),
        ]
    for index, call in enumerate(calls or ()):
        fn = call["function"]
        head = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": fn["name"], "arguments": ""},
        }
        events.append(chunk({"tool_calls": [head]}))
        events.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": fn["arguments"]}}]}))
    events.append(chunk({}, finish))
    events.append({"id": "c", "object": "chat.completion.chunk", "choices": [], "usage": usage()})
    return Reply(events=events)


def function_call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": orjson.dumps(arguments).decode()},
    }


def tool_result(body: dict[str, Any]) -> str | None:
    """The content of the last ``tool`` message the backend received, if any."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "tool":
            content = message.get("content")
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content)
    return None


def tool_then_text(tool: str, arguments: dict[str, Any], final: str) -> Callable[[Recorded], Reply | None]:
    """Answer a request offering ``tool`` with a call to it; the request carrying its result with
    ``final`` plus the result's last line; anything else (an agent's side requests) with ``ok``."""

    def handle(rec: Recorded) -> Reply | None:
        if not rec.path.endswith("chat/completions") or not isinstance(rec.body, dict):
            return None
        body = rec.body
        result = tool_result(body)
        if result is not None:
            last = result.strip().splitlines()[-1] if result.strip() else ""
            return answer(body, f"{final} {last}")
        names = {(t.get("function") or {}).get("name") for t in body.get("tools") or []}
        if tool in names:
            return answer(body, None, [function_call("call_agent_1", tool, arguments)])
        return answer(body, "ok")

    return handle


def answer_every_chat(
    fake: FakeBackend,
    content: str | None,
    calls: list[dict[str, Any]] | None = None,
    reasoning: str | None = None,
) -> None:
    """Script ``fake`` to answer every chat call with this content, tool calls and reasoning."""

    def handle(rec: Recorded) -> Reply | None:
        if rec.path.endswith("chat/completions") and isinstance(rec.body, dict):
            return answer(rec.body, content, calls, reasoning)
        return None

    fake.handler = handle
