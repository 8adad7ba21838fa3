"""OpenAI-compatible answers (/v1/chat/completions, /v1/completions, /v1/embeddings) made to name the
model as it was requested, as Ollama's do: whole bodies and SSE events."""

from __future__ import annotations

import orjson


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
