"""The OpenAI-compatible API (/v1/*): requests relayed to the backend that serves the model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from ollama_openai_proxy.backends.client import BackendStream, encode_payload
from ollama_openai_proxy.observability import RequestContext
from ollama_openai_proxy.redaction import redact
from ollama_openai_proxy.serving.dispatch import backend_headers, resolve
from ollama_openai_proxy.state import ProxyState
from ollama_openai_proxy.translate.errors import ProxyError, openai_error_body

_RELAYED_HEADERS = ("content-type", "x-request-id", "openai-processing-ms", "retry-after")


@dataclass(frozen=True, slots=True)
class Relayed:
    """The backend's answer as relayed: whole (``body``) or an SSE stream (``chunks``)."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    chunks: AsyncIterator[bytes] | None = None


def model_object(name: str, created: int, owner: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": owner or "library"}


async def list_models(state: ProxyState, ctx: RequestContext) -> dict[str, Any]:
    models = [m for m in await state.catalog.models() if ctx.allows(m.name)]
    return {"object": "list", "data": [model_object(m.name, m.created, m.owned_by) for m in models]}


async def get_model(state: ProxyState, ctx: RequestContext, name: str) -> dict[str, Any]:
    info = (await resolve(state, ctx, name)).primary
    return model_object(name, info.created, info.owned_by)


async def relay(state: ProxyState, ctx: RequestContext, path: str, payload: dict[str, Any]) -> Relayed:
    """Send ``payload`` to the backend's ``path`` with the backend's model id; answer as it answers."""
    name = payload.get("model")
    if not isinstance(name, str) or not name:
        raise ProxyError(400, "you must provide a model parameter")
    info = (await resolve(state, ctx, name)).primary
    payload["model"] = info.backend_id
    ctx.backend = info.backend.client.name
    stream = await info.backend.client.request_raw(
        "POST", path, encode_payload(payload), headers=backend_headers(ctx)
    )
    response = stream.response
    headers = {k: v for k, v in response.headers.items() if k.lower() in _RELAYED_HEADERS}
    if response.content_type == "text/event-stream":
        return Relayed(response.status, headers, chunks=_sse(stream))
    try:
        body = await stream.read_all()
    finally:
        stream.close()
    if response.status >= 400:  # a backend may echo the proxy's key in its error: never relay it
        body = redact(body.decode("utf-8", "replace")).encode()
    return Relayed(response.status, headers, body=body)


async def _sse(stream: BackendStream) -> AsyncIterator[bytes]:
    try:
        async for chunk in stream.chunks():
            yield chunk
    except ProxyError as exc:  # the stream broke: say so in SSE, then stop
        yield b"data: " + orjson.dumps(openai_error_body(exc.status, redact(exc.message))) + b"\n\n"
    finally:
        stream.close()
