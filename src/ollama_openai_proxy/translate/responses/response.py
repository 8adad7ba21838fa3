"""Ollama's final chat answer → an OpenAI ``response`` object: output items, usage, echoed settings."""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from ollama_openai_proxy.protocol.ollama import ChatChunk, ToolCallOut
from ollama_openai_proxy.protocol.responses import (
    EchoedSettings,
    FunctionCallOut,
    ItemStatus,
    MessageOut,
    OutputItem,
    ReasoningOut,
    ResponseObject,
    ResponsesRequest,
    ResponseStatus,
    ResponseUsage,
)


def _number(applied: Mapping[str, object] | None, name: str) -> float:
    value = (applied or {}).get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 1.0


def echoed_settings(req: ResponsesRequest, applied: Mapping[str, object] | None = None) -> EchoedSettings:
    """The request's settings as the response repeats them (stateless: ``store`` is always false);
    ``temperature`` and ``top_p`` the client left out as they were ``applied`` (a virtual model's
    PARAMETERs), else OpenAI's 1.0."""
    temperature, top_p = (_number(applied, name) for name in ("temperature", "top_p"))
    fmt: dict[str, object] = (
        req.text.format.model_dump(by_alias=True, exclude_none=True)
        if req.text and req.text.format
        else {"type": "text"}
    )
    reasoning: dict[str, object] = (
        req.reasoning.model_dump() if req.reasoning else {"effort": None, "summary": None}
    )
    return {
        "instructions": req.instructions,
        "max_output_tokens": req.max_output_tokens,
        "temperature": temperature if req.temperature is None else req.temperature,
        "top_p": top_p if req.top_p is None else req.top_p,
        "text": {"format": fmt},
        "reasoning": reasoning,
        "tools": req.tools or [],
        "tool_choice": req.tool_choice if req.tool_choice is not None else "auto",
        "parallel_tool_calls": req.parallel_tool_calls if req.parallel_tool_calls is not None else True,
        "previous_response_id": None,
        "store": False,
        "truncation": "disabled",
        "metadata": req.metadata or {},
    }


def response_object(
    response_id: str, created_at: int, model: str, settings: EchoedSettings, status: ResponseStatus
) -> ResponseObject:
    """The response envelope (``created_at`` in Unix seconds) with no output yet."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "model": model,
        "output": [],
        "usage": None,
        **settings,
    }


def usage(chunk: ChatChunk) -> ResponseUsage:
    prompt = chunk.get("prompt_eval_count", 0)
    completion = chunk.get("eval_count", 0)
    return {
        "input_tokens": prompt,
        "output_tokens": completion,
        "total_tokens": prompt + completion,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    }


def reasoning_item(item_id: str, text: str) -> ReasoningOut:
    return {
        "id": item_id,
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": text}],
        "encrypted_content": text,
    }


def message_item(item_id: str, text: str, status: ItemStatus = "completed") -> MessageOut:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def function_call_item(item_id: str, call: ToolCallOut, status: ItemStatus = "completed") -> FunctionCallOut:
    fn = call["function"]
    args: object = fn.get("arguments")
    text = args if isinstance(args, str) else orjson.dumps(args or {}).decode()
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id(call, item_id),
        "name": fn.get("name", ""),
        "arguments": text,
    }


def call_id(call: ToolCallOut, item_id: str) -> str:
    """The tool call's own id, or one derived from its item's (``call_…``) when the backend gave none."""
    given = call.get("id")
    return given if isinstance(given, str) and given else "call_" + item_id.removeprefix("fc_")


def item_ids(response_id: str) -> tuple[str, str, str]:
    """The reasoning, message and function-call id stems of one response, derived from its id."""
    stem = response_id.removeprefix("resp_")
    return f"rs_{stem}", f"msg_{stem}", f"fc_{stem}"


def ollama_to_responses(
    final: ChatChunk, response_id: str, created_at: int, settings: EchoedSettings
) -> ResponseObject:
    """One complete Ollama chat answer as a non-streamed response: a reasoning item when there was
    thinking, then the function calls, or else one assistant message."""
    out = response_object(response_id, created_at, final.get("model", ""), settings, "completed")
    message = final["message"]
    reasoning_id, message_id, call_stem = item_ids(response_id)
    output: list[OutputItem] = []
    thinking = message.get("thinking")
    if thinking:
        output.append(reasoning_item(reasoning_id, thinking))
    calls = message.get("tool_calls") or []
    if calls:
        output += [function_call_item(f"{call_stem}_{i}", c) for i, c in enumerate(calls)]
    else:
        output.append(message_item(message_id, message.get("content") or ""))
    out["output"] = output
    out["usage"] = usage(final)
    return out
