"""Ollama chat/generate requests → OpenAI chat-completions or completions payloads."""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field
from typing import Literal

import orjson

from ollama_openai_proxy.protocol.ollama import ChatRequest, GenerateRequest, Message, ThinkValue
from ollama_openai_proxy.protocol.openai import (
    ChatCompletionRequest,
    ChatMessage,
    CompletionRequest,
    ContentPart,
    GenerationParams,
    OpenAIRequest,
    ToolCall,
)
from ollama_openai_proxy.translate import context, names
from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.translate.options import map_options
from ollama_openai_proxy.translate.profiles import Profile

BackendPath = Literal["chat/completions", "completions", "embeddings"]


@dataclass
class BackendRequest:
    """What to send: the backend path, its JSON payload, and what of the request had no counterpart."""

    endpoint: BackendPath
    payload: OpenAIRequest
    ignored: list[str] = field(default_factory=list)


_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)


def image_data_uri(image: str) -> str:
    """A base64 image (Ollama sends bare base64; a ``data:`` URI is accepted too) as a data URI."""
    text = image.strip()
    if text.startswith("data:"):
        text = text.partition(",")[2]
    if "\n" in text or "\r" in text:  # Go's decoder skips line breaks (wrapped base64); padding it requires
        text = text.replace("\r", "").replace("\n", "")
    try:
        raw = binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise ProxyError(400, f"illegal base64 data in image: {exc}") from None
    mime = "image/jpeg"  # Ollama's own fallback
    for magic, kind in _MAGIC:
        if raw.startswith(magic):
            mime = kind
            break
    else:
        if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
            mime = "image/webp"
    return f"data:{mime};base64,{text}"


def _content(text: str, images: list[str] | None) -> str | list[ContentPart]:
    if not images:
        return text
    parts: list[ContentPart] = [{"type": "text", "text": text}] if text else []
    parts.extend({"type": "image_url", "image_url": {"url": image_data_uri(i)}} for i in images)
    return parts


def _arguments(value: dict[str, object] | str) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def ollama_to_openai_messages(messages: list[Message], ignored: list[str]) -> list[ChatMessage]:
    """Ollama messages → OpenAI messages, giving every tool call an id and every result its call's id.

    Ollama clients often send no ids at all (ollama-python drops them), so ids are synthesised as
    ``call_<message index>_<call index>`` and each tool result is matched to the earliest unanswered
    call of the same ``tool_name``, else to the earliest unanswered call.
    """
    out: list[ChatMessage] = []
    pending: list[tuple[str, str]] = []  # (id, name) of calls not yet answered
    dropped_thinking = False
    for turn, msg in enumerate(messages):
        content = msg.content or ""
        if msg.role == "assistant" and msg.tool_calls:
            calls: list[ToolCall] = []
            pending = []
            for i, call in enumerate(msg.tool_calls):
                call_id = call.id or f"call_{turn}_{i}"
                calls.append(
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {
                            "name": call.function.name,
                            "arguments": _arguments(call.function.arguments),
                        },
                    }
                )
                pending.append((call_id, call.function.name))
            item: ChatMessage = {"role": msg.role, "content": content, "tool_calls": calls}
        elif msg.role == "tool":
            item = {"role": msg.role, "tool_call_id": _match_call(msg, pending, turn), "content": content}
            if msg.tool_name:
                item["name"] = msg.tool_name
        else:
            # OpenAI takes image parts in user/system content only; assistant images are reported below.
            item = {
                "role": msg.role,
                "content": _content(content, None if msg.role == "assistant" else msg.images),
            }
        if msg.thinking and msg.role == "assistant":
            dropped_thinking = True
        if msg.images and msg.role in ("assistant", "tool"):
            ignored.append(f"messages[{turn}].images (only user and system messages carry images)")
        out.append(item)
    if dropped_thinking:
        ignored.append("messages[].thinking (OpenAI chat has no field for earlier reasoning)")
    return out


def _match_call(msg: Message, pending: list[tuple[str, str]], turn: int) -> str:
    if msg.tool_call_id:
        for i, (call_id, _) in enumerate(pending):
            if call_id == msg.tool_call_id:
                del pending[i]
                break
        return msg.tool_call_id
    for i, (call_id, name) in enumerate(pending):
        if not msg.tool_name or name == msg.tool_name:
            del pending[i]
            return call_id
    if pending:  # no call of that name: the earliest unanswered call, as documented above
        return pending.pop(0)[0]
    return f"call_{turn}_result"


def _think(
    think: ThinkValue | None, profile: Profile, payload: ChatCompletionRequest, ignored: list[str]
) -> None:
    if think is None:
        return
    level = "medium" if think is True else think if isinstance(think, str) else None
    if profile.think_style == "openrouter":
        payload["reasoning"] = (
            {"effort": "high" if level == "max" else level} if level else {"enabled": False}
        )
    elif profile.think_style == "chat_template_kwargs":
        payload["chat_template_kwargs"] = {"enable_thinking": think is not False}
        if isinstance(think, str):
            payload["chat_template_kwargs"]["reasoning_effort"] = think
        if isinstance(think, str):
            payload["reasoning_effort"] = "high" if think == "max" else think
    elif level:
        payload["reasoning_effort"] = "high" if level == "max" else level
    elif not profile.think_off:
        ignored.append("think=false (this backend cannot turn reasoning off)")


def _format(fmt: str | dict[str, object] | None, profile: Profile, payload: GenerationParams) -> None:
    if fmt is None:
        return
    if isinstance(fmt, dict):
        payload["response_format"] = {"type": "json_schema", "json_schema": {"name": "schema", "schema": fmt}}
    elif profile.json_mode == "object_schema":
        payload["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "json", "schema": {"type": "object"}},
        }
    else:
        payload["response_format"] = {"type": "json_object"}


def _stream(req: ChatRequest | GenerateRequest, profile: Profile) -> bool:
    return req.streaming or profile.stream_always


def _common(
    req: ChatRequest | GenerateRequest, profile: Profile, payload: GenerationParams, ignored: list[str]
) -> None:
    """What chat and completions take alike; ``payload`` holds ``model`` and ``stream`` already."""
    if payload.get("stream") and profile.stream_usage:
        payload["stream_options"] = {"include_usage": True}
    map_options(req.options, profile, payload, ignored)


def _unmapped(req: ChatRequest | GenerateRequest, ignored: list[str]) -> None:
    for name in ("truncate", "shift"):
        if getattr(req, name) is not None:
            ignored.append(f"{name} (no OpenAI counterpart; the backend applies its own context policy)")
    ignored.extend(f"{key} (unknown field)" for key in req.unknown_fields())


def _chat_payload(
    req: ChatRequest | GenerateRequest, model: str, profile: Profile, ignored: list[str]
) -> ChatCompletionRequest:
    payload: ChatCompletionRequest = {"model": model, "stream": _stream(req, profile)}
    _common(req, profile, payload, ignored)
    if req.logprobs or req.top_logprobs:
        payload["logprobs"] = True
        if req.top_logprobs:
            payload["top_logprobs"] = req.top_logprobs
    _unmapped(req, ignored)
    return payload


def ollama_to_openai_chat(req: ChatRequest, model: str, profile: Profile) -> BackendRequest:
    ignored: list[str] = []
    payload = _chat_payload(req, model, profile, ignored)
    payload["messages"] = ollama_to_openai_messages(req.messages or [], ignored)
    if req.tools:
        payload["tools"] = req.tools
    _format(req.format, profile, payload)
    _think(req.think, profile, payload, ignored)
    return BackendRequest("chat/completions", payload, ignored)


def _completions_payload(
    req: GenerateRequest, model: str, profile: Profile, ignored: list[str]
) -> CompletionRequest:
    """/v1/completions names two chat parameters differently: ``max_tokens`` (never
    ``max_completion_tokens``) and ``logprobs`` as the number of alternatives (no ``top_logprobs``);
    like Ollama towards llama-server, ask for at least one so the sampled tokens' logprobs come back.
    """
    payload: CompletionRequest = {"model": model, "stream": _stream(req, profile)}
    _common(req, profile, payload, ignored)
    if req.logprobs or req.top_logprobs:
        payload["logprobs"] = max(req.top_logprobs or 0, 1)
    _unmapped(req, ignored)
    if "max_completion_tokens" in payload:
        payload["max_tokens"] = payload.pop("max_completion_tokens")
    return payload


def ollama_to_openai_generate(
    req: GenerateRequest,
    model: str,
    profile: Profile,
    leading: list[Message] | None = None,
    prior: list[context.Turn] | None = None,
) -> BackendRequest:
    """Generate is a one-turn chat unless ``raw`` or ``suffix`` asks for the plain completions endpoint.
    ``prior``: the turns of the request's ``context`` when the caller decoded them already."""
    ignored: list[str] = []
    if req.raw or req.suffix:
        return _raw_generate(req, model, profile, ignored, prior)
    payload = _chat_payload(req, model, profile, ignored)
    if prior is None:
        prior = context.decode(req.context or [])
    if req.template:
        ignored.append("template (the backend applies its own chat template)")
    messages: list[ChatMessage] = []
    if req.system:
        messages.append({"role": "system", "content": req.system})
    if prior:  # the conversation a previous generate returned as its context
        messages += [{"role": t["role"], "content": t["content"]} for t in prior]
    elif leading:  # a virtual model's MESSAGEs come before the prompt (without a context), as Ollama does
        messages += ollama_to_openai_messages(leading, ignored)
    messages.append({"role": "user", "content": _content(req.prompt or "", req.images)})
    payload["messages"] = messages
    _format(req.format, profile, payload)
    _think(req.think, profile, payload, ignored)
    return BackendRequest("chat/completions", payload, ignored)


def _raw_generate(
    req: GenerateRequest, model: str, profile: Profile, ignored: list[str], prior: list[context.Turn] | None
) -> BackendRequest:
    """A raw prompt or a fill-in-the-middle request, for the plain completions endpoint."""
    payload = _completions_payload(req, model, profile, ignored)
    if prior is None:
        prior = context.decode(req.context or [])
    if req.template:
        ignored.append("template (the backend applies its own chat template)")
    if req.suffix:
        if not profile.suffix:
            raise ProxyError(400, f"{names.qualified(req.model)} does not support insert")
        payload["suffix"] = req.suffix
    if prior:
        payload["prompt"] = "".join(t["content"] for t in prior)
    if req.images:
        ignored.append("images (raw and suffix completions take text only)")
    if req.format is not None:
        _format(req.format, profile, payload)
    if req.think is not None:
        ignored.append("think (raw and suffix completions have no reasoning switch)")
    payload["prompt"] = payload.get("prompt", "") + (req.prompt or "")
    return BackendRequest("completions", payload, ignored)
