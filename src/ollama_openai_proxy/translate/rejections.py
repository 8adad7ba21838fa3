"""Optional request fields a backend refuses: read the field from its 400, reshape the payload without it.

Backends word the refusal in many ways: pydantic's ``Extra inputs are not permitted, field: 'x'``
(and its ``detail[].loc`` list), OpenAI/Azure's ``Unrecognized request argument supplied: x`` and
``Unsupported parameter: 'x' is not supported with this model``, serde's ``unknown field `x```, an
OpenAI envelope's ``param``. The field counts only when the message says it is unknown or unsupported
(a bad *value* is the client's error, not a quirk) and only when the proxy may do without it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any, cast

import orjson

from ollama_openai_proxy.protocol.openai import OpenAIRequest, ResponseFormat

# Never dropped: without them there is no request, or the client's explicit ask would be lost.
REQUIRED = frozenset({"model", "messages", "prompt", "stream", "tools", "suffix", "input"})
# Renamed rather than dropped: the other spelling of the same limit.
RENAMED = {"max_completion_tokens": "max_tokens", "max_tokens": "max_completion_tokens"}
# ``format: "json"`` as a permissive schema where ``json_object`` is refused (LM Studio) or needs
# the word "json" in a message (OpenAI): Ollama's clients need not say it.
JSON_OBJECT = "response_format.json_object"
OBJECT_SCHEMA: ResponseFormat = {
    "type": "json_schema",
    "json_schema": {"name": "json", "schema": {"type": "object"}},
}

_REFUSAL = re.compile(
    r"not permitted|unrecogni[sz]ed|unknown[ _](?:field|param|argument|key)|not supported|unsupported"
    r"|extra (?:input|field)|not allowed|additional propert|must be 'json_schema'|must contain the word 'json'"
    r"|does not support|invalid (?:field|param)|no such (?:field|param)",
    re.IGNORECASE,
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_QUOTED = re.compile(r"['\"`]([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)['\"`]")


def _texts(body: bytes) -> tuple[str, list[str]]:
    """The error's message text and the field names it gives explicitly (``param``, ``loc``)."""
    text = body.decode("utf-8", "replace")
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return text, []
    named: list[str] = []
    messages: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            param = value.get("param")
            if isinstance(param, str):
                named.append(param)
            loc = value.get("loc")
            if isinstance(loc, list) and loc:
                named.extend(str(p) for p in loc if p != "body")
            for key in ("message", "msg", "detail", "error", "code", "type"):
                item = value.get(key)
                if isinstance(item, str):
                    messages.append(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(data)
    return " ".join(messages) or text, named


def refused_field(body: bytes, payload: Mapping[str, object]) -> str | None:
    """The optional field of ``payload`` that a backend's 400 ``body`` says it does not accept."""
    message, named = _texts(body)
    if not _REFUSAL.search(message):
        return None
    for candidate in [*named, *_QUOTED.findall(message), *_NAME.findall(message)]:
        key: str = candidate.split(".", 1)[0]
        if key in REQUIRED or key not in payload:
            continue
        if key == "response_format":
            fmt = payload["response_format"]
            return JSON_OBJECT if isinstance(fmt, dict) and fmt.get("type") == "json_object" else None
        return key
    return None


def reshape(payload: OpenAIRequest, refused: Collection[str]) -> tuple[OpenAIRequest, list[str]]:
    """``payload`` without what the backend refuses: (new payload, what was dropped or replaced)."""
    if not refused or not any(key in payload or key == JSON_OBJECT for key in refused):
        return payload, []
    out: dict[str, object] = dict(payload)  # keys removed by name: the same request, less them
    changes: list[str] = []
    for key in refused:
        if key == JSON_OBJECT:
            fmt = out.get("response_format")
            if isinstance(fmt, dict) and fmt.get("type") == "json_object":
                out["response_format"] = OBJECT_SCHEMA
                changes.append("response_format json_object (sent as a json_schema of any object)")
            continue
        if key not in out:
            continue
        value = out.pop(key)
        other = RENAMED.get(key)
        if other is not None and other not in refused and other not in out:
            out[other] = value
            changes.append(f"{key} (sent as {other})")
        else:
            changes.append(f"{key} (the backend refuses it)")
    return cast(OpenAIRequest, out), changes
