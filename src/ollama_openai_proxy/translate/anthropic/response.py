"""Ollama's final chat answer → an Anthropic ``message`` object: content blocks, stop_reason, usage."""

from __future__ import annotations

import orjson

from ollama_openai_proxy.protocol.anthropic import ContentOut, MessageOut, StopReason, Usage
from ollama_openai_proxy.protocol.ollama import ChatChunk, ToolCallOut


def stop_reason(done_reason: str | None, has_tool_calls: bool) -> StopReason:
    """Any tool call → ``tool_use``; ``stop`` → ``end_turn``; ``length`` → ``max_tokens``; any
    other reason → ``stop_sequence`` (Ollama reports a matched stop sequence as ``stop``)."""
    if has_tool_calls:
        return "tool_use"
    if not done_reason or done_reason == "stop":
        return "end_turn"
    if done_reason == "length":
        return "max_tokens"
    return "stop_sequence"


def usage(chunk: ChatChunk) -> Usage:
    return {"input_tokens": chunk.get("prompt_eval_count", 0), "output_tokens": chunk.get("eval_count", 0)}


def tool_use_id(call: ToolCallOut, message_id: str, index: int) -> str:
    """The tool call's own id, or one derived from the message's (``toolu_…``) when the backend gave none."""
    given = call.get("id")
    return given if isinstance(given, str) and given else f"toolu_{message_id.removeprefix('msg_')}_{index}"


def arguments(call: ToolCallOut) -> dict[str, object]:
    args: object = call["function"].get("arguments")
    if isinstance(args, dict):
        return args
    if isinstance(args, str) and args.strip():
        value = orjson.loads(args)
        return value if isinstance(value, dict) else {}
    return {}


def ollama_to_anthropic(final: ChatChunk, message_id: str) -> MessageOut:
    """One complete Ollama chat answer (``done: true``) as a non-streamed Anthropic message."""
    message = final["message"]
    content: list[ContentOut] = []
    thinking = message.get("thinking")
    if thinking:
        content.append({"type": "thinking", "thinking": thinking, "signature": ""})
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    calls = message.get("tool_calls") or []
    for index, call in enumerate(calls):
        content.append(
            {
                "type": "tool_use",
                "id": tool_use_id(call, message_id, index),
                "name": call["function"].get("name", ""),
                "input": arguments(call),
            }
        )
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": final.get("model", ""),
        "content": content,
        "stop_reason": stop_reason(final.get("done_reason"), bool(calls)),
        "stop_sequence": None,
        "usage": usage(final),
    }
