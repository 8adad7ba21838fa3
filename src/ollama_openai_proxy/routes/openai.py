"""The OpenAI-compatible routes Ollama serves (/v1/*): parse, hand over to serving, render; every
error in OpenAI's envelope."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ollama_openai_proxy.protocol.openai import RELAYED
from ollama_openai_proxy.routes import route
from ollama_openai_proxy.routes.common import checked, ignored_headers, json_response, read_json, serving_args
from ollama_openai_proxy.serving import openai as serving
from ollama_openai_proxy.translate.errors import OpenAIError, ProxyError


async def list_models(request: Request) -> Response:
    return json_response(await serving.list_models(*serving_args(request)))


async def get_model(request: Request) -> Response:
    model = request.path_params["model"]
    try:
        return json_response(await serving.get_model(*serving_args(request), model))
    except ProxyError as exc:
        raise OpenAIError(exc.status, f"model '{model}' not found") from None


async def _relay(request: Request, path: str) -> Response:
    try:
        payload = await read_json(request)
        await checked(request, RELAYED[path], payload)  # the client's own dict is what is relayed
        relayed = await serving.relay(*serving_args(request), path, payload)
    except ProxyError as exc:
        raise OpenAIError(exc.status, exc.message) from None
    return _relayed(relayed)


def _relayed(relayed: serving.Relayed) -> Response:
    headers = {**relayed.headers, **(ignored_headers(relayed.ignored) or {})}
    if relayed.chunks is None:
        return Response(relayed.body, status_code=relayed.status, headers=headers)
    return StreamingResponse(relayed.chunks, status_code=relayed.status, headers=headers)


async def chat_completions(request: Request) -> Response:
    return await _relay(request, "chat/completions")


async def completions(request: Request) -> Response:
    return await _relay(request, "completions")


async def openai_embeddings(request: Request) -> Response:
    return await _relay(request, "embeddings")


async def transcriptions(request: Request) -> Response:
    try:
        try:
            form = await request.form()
        except (AssertionError, ValueError) as exc:  # not multipart, or malformed
            raise ProxyError(400, f"expected a multipart/form-data body with model and file: {exc}") from None
        relayed = await serving.transcribe(*serving_args(request), form)
    except ProxyError as exc:
        raise OpenAIError(exc.status, exc.message) from None
    return _relayed(relayed)


ROUTES = [
    route("/v1/chat/completions", chat_completions, "POST"),
    route("/v1/completions", completions, "POST"),
    route("/v1/embeddings", openai_embeddings, "POST"),
    route("/v1/audio/transcriptions", transcriptions, "POST"),
    route("/v1/models", list_models, "GET"),
    route("/v1/models/{model:path}", get_model, "GET"),
]
