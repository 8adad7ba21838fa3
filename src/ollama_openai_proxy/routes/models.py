"""Model listing and management: /api/tags, /api/show, /api/ps, pull, push, create, copy, delete, blobs."""

from __future__ import annotations

import re
import time

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from ollama_openai_proxy.middleware import model_allowed
from ollama_openai_proxy.protocol.ollama import CopyRequest, NamedRequest
from ollama_openai_proxy.routes.common import (
    NDJSON_TYPE,
    context,
    find_route,
    get_and_head,
    json_response,
    parse,
    read_json,
)
from ollama_openai_proxy.state import get_state
from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.translate.metadata import ps_entry, show_response, tags_entry
from ollama_openai_proxy.translate.response import line
from ollama_openai_proxy.virtual.registry import VirtualModels
from ollama_openai_proxy.virtual.spec import build, from_create_request

router = APIRouter()

_DIGEST = re.compile(r"^sha256[:-][0-9a-f]{64}$")


def _tagged(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


@get_and_head(router, "/api/tags")
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
    state = get_state(request)
    entries = []
    for until, name in await state.recent.active():
        try:
            info = (await state.catalog.route(name)).primary
        except ProxyError:
            continue  # deleted or no longer served since it was loaded
        entries.append(ps_entry(info, until))
    return json_response({"models": entries})


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
    return _progress(
        [
            {"status": "pulling manifest"},
            {
                "status": f"using backend model {info.backend_id!r} from {info.backend.client.name}",
                "digest": f"sha256:{info.digest}",
            },
            {"status": "verifying sha256 digest"},
            {"status": "writing manifest"},
        ]
    )


@router.post("/api/push")
async def push(request: Request) -> Response:
    req = await parse(request, NamedRequest)
    if not req.target:
        raise ProxyError(400, "model is required")
    raise ProxyError(
        501, "push is not supported: ollama-openai-proxy serves models from OpenAI-compatible backends"
    )


def _progress(steps: list[dict[str, str]]) -> Response:
    """A finished progress stream (pull, create): NDJSON status lines ending with ``success``."""
    return Response(b"".join(line(s) for s in [*steps, {"status": "success"}]), media_type=NDJSON_TYPE)


def _writable(request: Request, virtual: VirtualModels, name: str) -> None:
    """The caller may change the virtual model ``name``: its key allows it, and the file does not."""
    if not model_allowed(context(request), name):
        raise ProxyError(403, f"this API key may not use model '{name}'")
    if virtual.is_read_only(name):
        raise ProxyError(
            400, f"model '{name}' is declared in the configuration file and cannot be changed here"
        )


def _virtual(request: Request) -> VirtualModels:
    virtual = get_state(request).catalog.virtual
    if virtual is None:
        raise ProxyError(501, "virtual models are not enabled")
    return virtual


@router.post("/api/create")
async def create(request: Request) -> Response:
    """A virtual model: ``FROM`` an existing model, with a system prompt, default options and leading
    messages (JSON fields or a Modelfile). Creating from weights is refused with a clear error."""
    body = await read_json(request)
    virtual = _virtual(request)
    model = from_create_request(body)
    _writable(request, virtual, model.name)
    _, bottom = await virtual.chain(model, get_state(request).catalog.serves)
    base = await find_route(request, bottom, not_found=ProxyError(404, f"model '{bottom}' not found"))
    await virtual.put(model)
    if body.get("stream") is False:
        return json_response({"status": "success"})
    return _progress(
        [
            {"status": f"using existing layer sha256:{base.primary.digest}"},
            {"status": f"creating new layer sha256:{model.digest}"},
            {"status": "writing manifest"},
        ]
    )


@router.post("/api/copy")
async def copy(request: Request) -> Response:
    """Copies a virtual model, or makes a new name for a backend model (a virtual model FROM it)."""
    req = await parse(request, CopyRequest)
    if not req.source or not req.destination:
        raise ProxyError(400, "source and destination are required")
    virtual = _virtual(request)
    await find_route(request, req.source, not_found=ProxyError(404, f'model "{req.source}" not found'))
    _writable(request, virtual, req.destination)
    if await virtual.get(req.source) is not None:
        await virtual.copy(req.source, req.destination)
    else:
        model = build(name=req.destination, base=req.source, created_at=time.time())
        await virtual.put(model)
    return Response(status_code=200)


@router.delete("/api/delete")
async def delete(request: Request) -> Response:
    req = await parse(request, NamedRequest)
    if not req.target:
        raise ProxyError(400, "model is required")
    virtual = _virtual(request)
    if await virtual.get(req.target) is not None:
        _writable(request, virtual, req.target)
        await virtual.delete(req.target)
        return Response(status_code=200)
    info = (await find_route(request, req.target)).primary
    raise ProxyError(
        400,
        f"model '{req.target}' is served by backend {info.backend.client.name} and cannot be deleted here",
    )


@router.head("/api/blobs/{digest}", include_in_schema=False)
@router.post("/api/blobs/{digest}")
async def blobs(digest: str, request: Request) -> Response:
    if not _DIGEST.match(digest):
        raise ProxyError(400, f'invalid digest "{digest}"')
    if request.method == "HEAD":
        return json_response({"error": f'blob "{digest}" not found'}, status=404)
    raise ProxyError(501, "blob uploads are not supported: the proxy does not store model files")
