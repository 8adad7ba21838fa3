"""Ollama chat/generate requests → OpenAI chat-completions or completions payloads."""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from ollama_openai_proxy.protocol.ollama import ChatRequest, GenerateRequest, Message, ThinkValue
from ollama_openai_proxy.translate import names
from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.translate.options import map_options
from ollama_openai_proxy.translate.profiles import Profile

BackendPath = Literal["chat/completions", "completions", "embeddings"]


@dataclass
class BackendRequest:
    """What to send: the backend path, its JSON payload, and what of the request had no counterpart."""

    endpoint: BackendPath
    payload: dict[str, Any]
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


def _content(text: str, images: list[str] | None) -> str | list[dict[str, Any]]:
    if not images:
        return text
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    parts.extend({"type": "image_url", "image_url": {"url": image_data_uri(i)}} for i in images)
    return parts


def _arguments(value: dict[str, Any] | str) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def ollama_to_openai_messages(messages: list[Message], ignored: list[str]) -> list[dict[str, Any]]:
    """Ollama messages → OpenAI messages, giving every tool call an id and every result its call's id.

    Ollama clients often send no ids at all (ollama-python drops them), so ids are synthesised as
    ``call_<message index>_<call index>`` and each tool result is matched to the earliest unanswered
    call of the same ``tool_name``, else to the earliest unanswered call.
    """
    out: list[dict[str, Any]] = []
    pending: list[tuple[str, str]] = []  # (id, name) of calls not yet answered
    dropped_thinking = False
    for turn, msg in enumerate(messages):
        item: dict[str, Any] = {"role": msg.role}
        content = msg.content or ""
        if msg.role == "assistant" and msg.tool_calls:
            calls = []
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
            item["content"] = content
            item["tool_calls"] = calls
        elif msg.role == "tool":
            item["tool_call_id"] = _match_call(msg, pending, turn)
            item["content"] = content
            if msg.tool_name:
                item["name"] = msg.tool_name
        else:
            # OpenAI takes image parts in user/system content only; assistant images are reported below.
            item["content"] = _content(content, None if msg.role == "assistant" else msg.images)
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


def _think(think: ThinkValue | None, profile: Profile, payload: dict[str, Any], ignored: list[str]) -> None:
    if think is None:
        return
    level = "medium" if think is True else think if isinstance(think, str) else None
    if profile.think_style == "openrouter":
        payload["reasoning"] = (
            {"effort": "high" if level == "max" else level} if level else {"enabled": False}
        )
    elif profile.think_style == "chat_template_kwargs":
        kwargs: dict[str, Any] = {"enable_thinking": think is not False}
        if isinstance(think, str):
            kwargs["reasoning_effort"] = think
        payload["chat_template_kwargs"] = kwargs
        if isinstance(think, str):
            payload["reasoning_effort"] = "high" if think == "max" else think
    elif level:
        payload["reasoning_effort"] = "high" if level == "max" else level
    elif not profile.think_off:
        ignored.append("think=false (this backend cannot turn reasoning off)")


def _format(fmt: str | dict[str, Any] | None, profile: Profile, payload: dict[str, Any]) -> None:
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


def _common(
    req: ChatRequest | GenerateRequest, model: str, profile: Profile, ignored: list[str]
) -> dict[str, Any]:
    stream = req.streaming or profile.stream_always
    payload: dict[str, Any] = {"model": model, "stream": stream}
    if stream and profile.stream_usage:
        payload["stream_options"] = {"include_usage": True}
    map_options(req.options, profile, payload, ignored)
    if req.logprobs or req.top_logprobs:
        payload["logprobs"] = True
        if req.top_logprobs:
            payload["top_logprobs"] = req.top_logprobs
    for name in ("truncate", "shift"):
        if getattr(req, name) is not None:
            ignored.append(f"{name} (no OpenAI counterpart; the backend applies its own context policy)")
    ignored.extend(f"{key} (unknown field)" for key in req.unknown_fields())
    return payload


def ollama_to_openai_chat(req: ChatRequest, model: str, profile: Profile) -> BackendRequest:
    ignored: list[str] = []
    payload = _common(req, model, profile, ignored)
    payload["messages"] = ollama_to_openai_messages(req.messages or [], ignored)
    if req.tools:
        payload["tools"] = req.tools
    _format(req.format, profile, payload)
    _think(req.think, profile, payload, ignored)
    return BackendRequest("chat/completions", payload, ignored)


def _completions_params(payload: dict[str, Any], profile: Profile) -> None:
    """/v1/completions names two chat parameters differently: ``max_tokens`` (never
    ``max_completion_tokens``) and ``logprobs`` as the number of alternatives (no ``top_logprobs``);
    like Ollama towards llama-server, ask for at least one so the sampled tokens' logprobs come back.
    """
    if profile.max_tokens_param in payload and profile.max_tokens_param != "max_tokens":
        payload["max_tokens"] = payload.pop(profile.max_tokens_param)
    if payload.get("logprobs") is True:
        payload["logprobs"] = max(payload.pop("top_logprobs", 0), 1)


def ollama_to_openai_generate(
    req: GenerateRequest, model: str, profile: Profile, leading: list[Message] | None = None
) -> BackendRequest:
    """Generate is a one-turn chat unless ``raw`` or ``suffix`` asks for the plain completions endpoint."""
    ignored: list[str] = []
    payload = _common(req, model, profile, ignored)
    if req.context:
        ignored.append("context (token ids cannot be replayed through an OpenAI API)")
    if req.template:
        ignored.append("template (the backend applies its own chat template)")
    if req.raw or req.suffix:
        if req.suffix:
            if not profile.suffix:
                raise ProxyError(400, f"{names.qualified(req.model)} does not support insert")
            payload["suffix"] = req.suffix
        if req.images:
            ignored.append("images (raw and suffix completions take text only)")
        if req.format is not None:
            _format(req.format, profile, payload)
        if req.think is not None:
            ignored.append("think (raw and suffix completions have no reasoning switch)")
        _completions_params(payload, profile)
        payload["prompt"] = req.prompt or ""
        return BackendRequest("completions", payload, ignored)
    messages: list[dict[str, Any]] = []
    if req.system:
        messages.append({"role": "system", "content": req.system})
    if leading:  # a virtual model's MESSAGEs come before the prompt, as Ollama renders them
        messages += ollama_to_openai_messages(leading, ignored)
    messages.append({"role": "user", "content": _content(req.prompt or "", req.images)})
    payload["messages"] = messages
    _format(req.format, profile, payload)
    _think(req.think, profile, payload, ignored)
    return BackendRequest("chat/completions", payload, ignored)
