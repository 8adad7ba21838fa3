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

_DIGEST = re.compile(r"^sha256[:-][0-9a-f]{64}$")


async def _named(request: Request) -> NamedRequest:
    req = await parse(request, NamedRequest)
    if not req.target:
        raise ProxyError(400, "model is required")
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
    req = await _named(request)
    return _progress(await serving.pull(*serving_args(request), req.target), req.stream)


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
    req = await _named(request)
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
