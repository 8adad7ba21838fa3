"""The OpenAI-compatible routes Ollama serves (/v1/*), relayed to the backend that serves the model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ollama_openai_proxy.observability import context_of
from ollama_openai_proxy.routes import route
from ollama_openai_proxy.routes.common import backend_auth, find_route, json_response, read_json
from ollama_openai_proxy.state import get_state
from ollama_openai_proxy.translate.errors import OpenAIError, ProxyError, openai_error_body, redact

_RELAYED_HEADERS = ("content-type", "x-request-id", "openai-processing-ms", "retry-after")


def _model_object(name: str, created: int, owner: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": owner or "library"}


async def list_models(request: Request) -> Response:
    ctx = context_of(request.scope)
    models = [m for m in await get_state(request).catalog.models() if ctx.allows(m.name)]
    data = [_model_object(m.name, m.created, m.owned_by) for m in models]
    return json_response({"object": "list", "data": data})


async def get_model(request: Request) -> Response:
    model = request.path_params["model"]
    try:
        info = (await find_route(request, model)).primary
    except ProxyError as exc:
        raise OpenAIError(exc.status, f"model '{model}' not found") from None
    return json_response(_model_object(model, info.created, info.owned_by))


async def _relay(request: Request, path: str) -> Response:
    try:
        payload = await read_json(request)
        name = payload.get("model")
        if not isinstance(name, str) or not name:
            raise ProxyError(400, "you must provide a model parameter")
        info = (await find_route(request, name)).primary
        payload["model"] = info.backend_id
        context_of(request.scope).backend = info.backend.client.name
        stream = await info.backend.client.request_raw(
            "POST", path, orjson.dumps(payload), headers=backend_auth(request)
        )
    except ProxyError as exc:
        raise OpenAIError(exc.status, exc.message) from None
    response = stream.response
    headers = {k: v for k, v in response.headers.items() if k.lower() in _RELAYED_HEADERS}
    if response.content_type != "text/event-stream":
        try:
            body = b"".join([chunk async for chunk in stream.chunks()])
        except ProxyError as exc:
            raise OpenAIError(exc.status, exc.message) from None
        finally:
            stream.close()
        if response.status >= 400:  # a backend may echo the proxy's key in its error: never relay it
            body = redact(body.decode("utf-8", "replace")).encode()
        return Response(body, status_code=response.status, headers=headers)

    async def relay() -> AsyncIterator[bytes]:
        try:
            async for chunk in stream.chunks():
                yield chunk
        except ProxyError as exc:  # the stream broke: say so in SSE, then stop
            yield b"data: " + orjson.dumps(openai_error_body(exc.status, exc.message)) + b"\n\n"
        finally:
            stream.close()

    return StreamingResponse(relay(), status_code=response.status, headers=headers)


async def chat_completions(request: Request) -> Response:
    return await _relay(request, "chat/completions")


async def completions(request: Request) -> Response:
    return await _relay(request, "completions")


async def openai_embeddings(request: Request) -> Response:
    return await _relay(request, "embeddings")


ROUTES = [
    route("/v1/chat/completions", chat_completions, "POST"),
    route("/v1/completions", completions, "POST"),
    route("/v1/embeddings", openai_embeddings, "POST"),
    route("/v1/models", list_models, "GET"),
    route("/v1/models/{model:path}", get_model, "GET"),
]
