"""The OpenAI-compatible routes Ollama serves (/v1/*), relayed to the backend that serves the model."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ollama_openai_proxy.routes.common import json_response, read_json
from ollama_openai_proxy.state import get_state
from ollama_openai_proxy.translate.errors import ProxyError

router = APIRouter()

_RELAYED_HEADERS = ("content-type", "x-request-id", "openai-processing-ms", "retry-after")


class OpenAIError(ProxyError):
    """A ProxyError answered in OpenAI's error envelope instead of Ollama's."""


def openai_error_body(status: int, message: str) -> dict[str, Any]:
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _model_object(name: str, created: int, owner: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": owner or "library"}


@router.get("/v1/models")
async def list_models(request: Request) -> Response:
    models = await get_state(request).catalog.models()
    data = [_model_object(m.name, m.created, m.owned_by) for m in models]
    return json_response({"object": "list", "data": data})


@router.get("/v1/models/{model:path}")
async def get_model(model: str, request: Request) -> Response:
    try:
        info = await get_state(request).catalog.resolve(model)
    except ProxyError as exc:
        raise OpenAIError(exc.status, f"model '{model}' not found") from None
    return json_response(_model_object(model, info.created, info.owned_by))


async def _relay(request: Request, path: str) -> Response:
    try:
        payload = await read_json(request)
        name = payload.get("model")
        if not isinstance(name, str) or not name:
            raise ProxyError(400, "you must provide a model parameter")
        info = await get_state(request).catalog.resolve(name)
        payload["model"] = info.backend_id
        response = await info.backend.client.request_raw("POST", path, orjson.dumps(payload))
    except ProxyError as exc:
        raise OpenAIError(exc.status, exc.message) from None
    headers = {k: v for k, v in response.headers.items() if k.lower() in _RELAYED_HEADERS}
    if response.content_type != "text/event-stream":
        try:
            body = await response.read()
        finally:
            response.release()
        return Response(body, status_code=response.status, headers=headers)

    async def relay() -> Any:
        try:
            async for chunk in response.content.iter_any():
                yield chunk
        except Exception as exc:  # the stream broke: tell the client in SSE, then stop
            error = openai_error_body(502, f"backend stream failed: {exc or type(exc).__name__}")
            yield b"data: " + orjson.dumps(error) + b"\n\n"
        finally:
            response.close()

    return StreamingResponse(relay(), status_code=response.status, headers=headers)


@router.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    return await _relay(request, "chat/completions")


@router.post("/v1/completions")
async def completions(request: Request) -> Response:
    return await _relay(request, "completions")


@router.post("/v1/embeddings")
async def openai_embeddings(request: Request) -> Response:
    return await _relay(request, "embeddings")
