"""A scripted backend turn for real agents: a tool call first, then (once the tool result is back) text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from tests.support.fake_backend import Recorded, Reply, chat_completion, chunk, text_stream, usage


def _reply(body: dict[str, Any], content: str | None, calls: list[dict[str, Any]] | None) -> Reply:
    finish = "tool_calls" if calls else "stop"
    if not body.get("stream"):
        return Reply(json=chat_completion(content, tool_calls=calls, finish=finish))
    if not calls:
        return Reply(events=text_stream(content or ""))
    events: list[Any] = [chunk({"role": "assistant", "content": ""})]
    for index, call in enumerate(calls):
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
            return _reply(body, f"{final} {last}", None)
        names = {(t.get("function") or {}).get("name") for t in body.get("tools") or []}
        if tool in names:
            call = {
                "id": "call_agent_1",
                "type": "function",
                "function": {"name": tool, "arguments": orjson.dumps(arguments).decode()},
            }
            return _reply(body, None, [call])
        return _reply(body, "ok", None)

    return handle
