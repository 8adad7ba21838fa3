"""Model listing and management: /api/tags, /api/show, /api/ps, pull, push, create, copy, delete, blobs."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from ollama_openai_proxy.protocol.ollama import CopyRequest, NamedRequest
from ollama_openai_proxy.routes import route
from ollama_openai_proxy.routes.common import NDJSON_TYPE, json_response, parse, read_json, serving_args
from ollama_openai_proxy.serving import models as serving
from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.translate.response import line

INVALID_NAME = "invalid model name"  # Ollama's errtypes.InvalidModelNameErrMsg
_DIGEST = re.compile(r"^sha256[:-][0-9a-f]{64}$")


async def _named(request: Request, missing: str = "model is required") -> NamedRequest:
    """The request naming one model; without a name, Ollama's ``missing`` message for the route."""
    req = await parse(request, NamedRequest)
    if not req.target:
        raise ProxyError(400, missing)
    return req


def _progress(steps: serving.Progress, stream: bool | None) -> Response:
    """A finished progress stream (pull, create): NDJSON status lines ending with ``success``;
    only the ``success`` object for ``stream: false``."""
    if stream is False:
        return json_response({"status": "success"})
    return Response(b"".join(line(s) for s in [*steps, {"status": "success"}]), media_type=NDJSON_TYPE)


async def tags(request: Request) -> Response:
    return json_response(await serving.tags(*serving_args(request)))


async def show(request: Request) -> Response:
    req = await _named(request)
    user_agent = request.headers.get("user-agent", "")
    return json_response(await serving.show(*serving_args(request), req.target, user_agent))


async def ps(request: Request) -> Response:
    return json_response(await serving.ps(*serving_args(request)))


async def pull(request: Request) -> Response:
    """As Ollama: an unknown model is a 200 stream ending with an ``{"error"}`` line, or a 500 when
    not streamed (the failure happens after the pull began, not at the request)."""
    req = await _named(request, INVALID_NAME)
    try:
        steps = await serving.pull(*serving_args(request), req.target)
    except ProxyError as exc:
        if exc.status != 404:
            raise
        if req.stream is False:
            raise ProxyError(500, exc.message) from None
        body = line({"status": "pulling manifest"}) + line({"error": exc.message})
        return Response(body, media_type=NDJSON_TYPE)
    return _progress(steps, req.stream)


async def push(request: Request) -> Response:
    await _named(request)
    raise ProxyError(
        501, "push is not supported: ollama-openai-proxy serves models from OpenAI-compatible backends"
    )


async def create(request: Request) -> Response:
    body = await read_json(request)
    steps = await serving.create(*serving_args(request), body)
    return _progress(steps, False if body.get("stream") is False else None)


async def copy(request: Request) -> Response:
    await serving.copy(*serving_args(request), await parse(request, CopyRequest))
    return Response(status_code=200)


async def delete(request: Request) -> Response:
    req = await _named(request, 'name "" is invalid')
    await serving.delete(*serving_args(request), req.target)
    return Response(status_code=200)


async def blobs(request: Request) -> Response:
    digest = request.path_params["digest"]
    if not _DIGEST.match(digest):
        raise ProxyError(400, f'invalid digest "{digest}"')
    if request.method == "HEAD":
        return json_response({"error": f'blob "{digest}" not found'}, status=404)
    raise ProxyError(501, "blob uploads are not supported: the proxy does not store model files")


ROUTES = [
    route("/api/tags", tags, "GET"),
    route("/api/show", show, "POST"),
    route("/api/ps", ps, "GET"),
    route("/api/pull", pull, "POST"),
    route("/api/push", push, "POST"),
    route("/api/create", create, "POST"),
    route("/api/copy", copy, "POST"),
    route("/api/delete", delete, "DELETE"),
    route("/api/blobs/{digest}", blobs, "POST", "HEAD"),
]
