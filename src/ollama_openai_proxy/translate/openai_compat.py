"""OpenAI-compatible bodies (/v1/chat/completions, /v1/completions, /v1/embeddings) made to say what
Ollama's would: a virtual model's SYSTEM, MESSAGEs and PARAMETERs applied, the requested name echoed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from ollama_openai_proxy.translate.options import map_options
from ollama_openai_proxy.translate.profiles import Profile
from ollama_openai_proxy.virtual.apply import flatten
from ollama_openai_proxy.virtual.spec import VirtualModel


def apply_virtual(
    payload: dict[str, Any], chain: Sequence[VirtualModel], profile: Profile, endpoint: str
) -> list[str]:
    """Apply the chain to an OpenAI request body in place; what had no backend counterpart is returned.

    PARAMETERs become the backend's fields where the request set none (the request wins, as in
    Ollama). For chat: the model SYSTEM goes first unless the request starts with its own system or
    developer message, then the model's MESSAGEs, then the request's messages. Completions and
    embeddings take the parameters only (a raw prompt has no place for a system prompt).
    """
    flat = flatten(chain)
    ignored: list[str] = []
    if flat is None or endpoint == "embeddings":
        return ignored
    defaults: dict[str, Any] = {}
    map_options(flat.parameters, profile, defaults, ignored)
    for key, value in defaults.items():
        payload.setdefault(key, value)
    messages = payload.get("messages")
    if endpoint == "chat/completions" and isinstance(messages, list):
        own = list(messages)
        first = own[0] if own and isinstance(own[0], dict) else {}
        lead = [own.pop(0)] if first.get("role") in ("system", "developer") else []
        if not lead and flat.system is not None:
            lead = [{"role": "system", "content": flat.system}]
        payload["messages"] = lead + [{"role": m.role, "content": m.content} for m in flat.messages] + own
    return ignored


def renamed(body: bytes, name: str) -> bytes:
    """A JSON object's ``model`` set to ``name`` (the body as it is when it is not such an object)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    if not isinstance(data, dict) or "model" not in data or data["model"] == name:
        return body
    data["model"] = name
    return orjson.dumps(data)


class StreamRenamer:
    """SSE ``data`` payloads with ``model`` set to the requested name. The first event tells whether
    the backend already echoes that name: then the stream can be relayed byte for byte."""

    __slots__ = ("name", "same")

    def __init__(self, name: str) -> None:
        self.name = name
        self.same: bool | None = None  # undecided until the first JSON event

    def event(self, data: str) -> bytes:
        raw = data.encode()
        if data == "[DONE]":
            return b"data: [DONE]\n\n"
        out = renamed(raw, self.name)
        if self.same is None:
            self.same = out is raw
        return b"data: " + out + b"\n\n"
