"""Model listing and management: /api/tags, /api/show, /api/ps, pull, push, create, copy, delete, blobs."""

from __future__ import annotations

import re

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from ollama_openai_proxy.middleware import model_allowed
from ollama_openai_proxy.protocol.ollama import CopyRequest, NamedRequest
from ollama_openai_proxy.routes.common import context, find_route, json_response, parse
from ollama_openai_proxy.state import get_state
from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.translate.metadata import ps_entry, show_response, tags_entry
from ollama_openai_proxy.translate.response import line

router = APIRouter()

_DIGEST = re.compile(r"^sha256[:-][0-9a-f]{64}$")


def _tagged(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


@router.api_route("/api/tags", methods=["GET", "HEAD"])
async def tags(request: Request) -> Response:
    ctx = context(request)
    models = await get_state(request).catalog.models()
    return json_response({"models": [tags_entry(m) for m in models if model_allowed(ctx, m.name)]})


@router.post("/api/show")
async def show(request: Request) -> Response:
    req = await parse(request, NamedRequest)
    if not req.target:
        raise ProxyError(400, "model is required")
    not_found = ProxyError(404, f"model '{_tagged(req.target)}' not found")
    info = (await find_route(request, req.target, not_found=not_found)).primary
    return json_response(show_response(info, request.headers.get("user-agent", "")))


@router.get("/api/ps")
async def ps(request: Request) -> Response:
    recent = get_state(request).recent.active()
    return json_response({"models": [ps_entry(info, until) for until, info in recent]})


@router.post("/api/pull")
async def pull(request: Request) -> Response:
    """Models live on the backends: a pull succeeds for a model they serve, without downloading."""
    req = await parse(request, NamedRequest)
    if not req.target:
        raise ProxyError(400, "model is required")
    message = f"pull model manifest: model '{req.target}' is not served by any configured backend"
    info = (await find_route(request, req.target, not_found=ProxyError(404, message))).primary
    if req.stream is False:
        return json_response({"status": "success"})
    steps = [
        {"status": "pulling manifest"},
        {
            "status": f"using backend model {info.backend_id!r} from {info.backend.client.name}",
            "digest": f"sha256:{info.digest}",
        },
        {"status": "verifying sha256 digest"},
        {"status": "writing manifest"},
        {"status": "success"},
    ]
    return Response(b"".join(line(s) for s in steps), media_type="application/x-ndjson")


@router.post("/api/push")
async def push(request: Request) -> Response:
    req = await parse(request, NamedRequest)
    if not req.target:
        raise ProxyError(400, "model is required")
    raise ProxyError(
        501, "push is not supported: ollama-openai-proxy serves models from OpenAI-compatible backends"
    )


@router.post("/api/create")
async def create(request: Request) -> Response:
    req = await parse(request, NamedRequest)
    if not req.target:
        raise ProxyError(400, "model is required")
    raise ProxyError(
        501, "create is not supported by this proxy version: models come from the configured backends"
    )


@router.post("/api/copy")
async def copy(request: Request) -> Response:
    req = await parse(request, CopyRequest)
    if not req.source or not req.destination:
        raise ProxyError(400, "source and destination are required")
    await find_route(request, req.source, not_found=ProxyError(404, f'model "{req.source}" not found'))
    raise ProxyError(
        501, "copy is not supported by this proxy version: models come from the configured backends"
    )


@router.delete("/api/delete")
async def delete(request: Request) -> Response:
    req = await parse(request, NamedRequest)
    if not req.target:
        raise ProxyError(400, "model is required")
    info = (await find_route(request, req.target)).primary
    raise ProxyError(
        400,
        f"model '{req.target}' is served by backend {info.backend.client.name} and cannot be deleted here",
    )


@router.api_route("/api/blobs/{digest}", methods=["HEAD", "POST"])
async def blobs(digest: str, request: Request) -> Response:
    if not _DIGEST.match(digest):
        raise ProxyError(400, f'invalid digest "{digest}"')
    if request.method == "HEAD":
        return json_response({"error": f'blob "{digest}" not found'}, status=404)
    raise ProxyError(501, "blob uploads are not supported: the proxy does not store model files")
