"""The OpenAI-compatible routes Ollama serves (/v1/*), relayed to the backend that serves the model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ollama_openai_proxy.backends.client import BackendStream
from ollama_openai_proxy.middleware import model_allowed
from ollama_openai_proxy.routes.common import (
    backend_auth,
    context,
    find_route,
    ignored_headers,
    json_response,
    read_json,
)
from ollama_openai_proxy.state import get_state
from ollama_openai_proxy.translate.errors import OpenAIError, ProxyError, openai_error_body, redact
from ollama_openai_proxy.translate.openai_compat import StreamRenamer, apply_virtual, renamed
from ollama_openai_proxy.translate.sse import SSEDecoder

router = APIRouter()

_RELAYED_HEADERS = ("content-type", "x-request-id", "openai-processing-ms", "retry-after")


def _model_object(name: str, created: int, owner: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": owner or "library"}


@router.get("/v1/models")
async def list_models(request: Request) -> Response:
    ctx = context(request)
    models = [m for m in await get_state(request).catalog.models() if model_allowed(ctx, m.name)]
    data = [_model_object(m.name, m.created, m.owned_by) for m in models]
    return json_response({"object": "list", "data": data})


@router.get("/v1/models/{model:path}")
async def get_model(model: str, request: Request) -> Response:
    try:
        info = (await find_route(request, model)).primary
    except ProxyError as exc:
        raise OpenAIError(exc.status, f"model '{model}' not found") from None
    return json_response(_model_object(model, info.created, info.owned_by))


async def _relay(request: Request, path: str) -> Response:
    """Relay one /v1 call to the model's backend, as Ollama would answer it: a virtual model's SYSTEM,
    MESSAGEs and PARAMETERs applied, the requested model name echoed in the answer."""
    try:
        payload = await read_json(request)
        name = payload.get("model")
        if not isinstance(name, str) or not name:
            raise ProxyError(400, "you must provide a model parameter")
        route = await find_route(request, name)
        info = route.primary
        ignored = apply_virtual(payload, route.chain, info.profile, path) if route.chain else []
        payload["model"] = info.backend_id
        context(request).backend = info.backend.client.name
        stream = await info.backend.client.request_raw(
            "POST", path, orjson.dumps(payload), headers=backend_auth(request)
        )
    except ProxyError as exc:
        raise OpenAIError(exc.status, exc.message) from None
    response = stream.response
    headers = {k: v for k, v in response.headers.items() if k.lower() in _RELAYED_HEADERS}
    headers.update(ignored_headers(ignored) or {})
    if response.content_type != "text/event-stream":
        try:
            body = b"".join([chunk async for chunk in stream.chunks()])
        except ProxyError as exc:
            raise OpenAIError(exc.status, exc.message) from None
        finally:
            stream.close()
        if response.status >= 400:  # a backend may echo the proxy's key in its error: never relay it
            body = redact(body.decode("utf-8", "replace")).encode()
        else:
            body = renamed(body, name)
        return Response(body, status_code=response.status, headers=headers)
    return StreamingResponse(_renamed_stream(stream, name), status_code=response.status, headers=headers)


async def _renamed_stream(stream: BackendStream, name: str) -> AsyncIterator[bytes]:
    """The backend's SSE stream with the requested model name; relayed byte for byte from the first
    event on when the backend already echoes that name."""
    renamer = StreamRenamer(name)
    decoder = SSEDecoder()
    held: list[bytes] = []  # raw chunks read before the first event decided the mode
    try:
        async for chunk in stream.chunks():
            if renamer.same:
                yield chunk
                continue
            events = decoder.feed(chunk)
            if renamer.same is None:
                held.append(chunk)
                if not events:
                    continue
                first = renamer.event(events[0])
                if renamer.same:
                    yield b"".join(held)
                    continue
                yield first + b"".join([renamer.event(e) for e in events[1:]])
                continue
            yield b"".join([renamer.event(e) for e in events])
        for data in decoder.close() if not renamer.same else ():
            yield renamer.event(data)
    except ProxyError as exc:  # the stream broke: say so in SSE, then stop
        yield b"data: " + orjson.dumps(openai_error_body(exc.status, exc.message)) + b"\n\n"
    finally:
        stream.close()


@router.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    return await _relay(request, "chat/completions")


@router.post("/v1/completions")
async def completions(request: Request) -> Response:
    return await _relay(request, "completions")


@router.post("/v1/embeddings")
async def openai_embeddings(request: Request) -> Response:
    return await _relay(request, "embeddings")


@router.post("/v1/audio/transcriptions")
async def transcriptions(request: Request) -> Response:
    """Multipart audio relayed to the model's backend (OpenAI, vLLM and whisper servers serve it),
    with the model named as the backend knows it; a backend without the route is a clear 501."""
    try:
        try:
            form = await request.form()
        except (AssertionError, ValueError) as exc:  # not multipart, or malformed
            raise ProxyError(400, f"expected a multipart/form-data body with model and file: {exc}") from None
        name = form.get("model")
        upload = form.get("file")
        if not isinstance(name, str) or not name:
            raise ProxyError(400, "you must provide a model parameter")
        if upload is None or isinstance(upload, str):
            raise ProxyError(400, "you must provide an audio file (the file field)")
        info = (await find_route(request, name)).primary
        context(request).backend = info.backend.client.name
        writer = aiohttp.MultipartWriter("form-data")
        for key, value in form.multi_items():
            if isinstance(value, str):
                part = writer.append(info.backend_id if key == "model" else value)
                part.set_content_disposition("form-data", name=key)
            else:
                data = await value.read()
                part = writer.append(data, {"Content-Type": value.content_type or "application/octet-stream"})
                part.set_content_disposition("form-data", name=key, filename=value.filename or "audio")
        body = await writer.as_bytes()
        headers = {
            "Content-Type": f"multipart/form-data; boundary={writer.boundary}",
            **(backend_auth(request) or {}),
        }
        stream = await info.backend.client.request_raw("POST", "audio/transcriptions", body, headers=headers)
        try:
            answer = b"".join([chunk async for chunk in stream.chunks()])
        finally:
            stream.close()
        status = stream.response.status
        if status in (404, 405):
            raise ProxyError(
                501,
                f"backend {info.backend.client.name} does not serve /v1/audio/transcriptions (HTTP {status})",
            )
    except ProxyError as exc:
        raise OpenAIError(exc.status, exc.message) from None
    if status >= 400:
        answer = redact(answer.decode("utf-8", "replace")).encode()
    relayed = {k: v for k, v in stream.response.headers.items() if k.lower() in _RELAYED_HEADERS}
    return Response(answer, status_code=status, headers=relayed)
