"""Model listing and management: /api/tags, /api/show, /api/ps, pull, push, create, copy, delete, blobs."""

from __future__ import annotations

import asyncio
import re
import time

from starlette.requests import Request
from starlette.responses import Response

from ollama_openai_proxy.observability import context_of
from ollama_openai_proxy.protocol.ollama import CopyRequest, NamedRequest
from ollama_openai_proxy.routes import route
from ollama_openai_proxy.routes.common import NDJSON_TYPE, json_response, parse, read_json, serving_args
from ollama_openai_proxy.serving.dispatch import resolve
from ollama_openai_proxy.serving.metadata import ps_entry, show_response, tags_entry
from ollama_openai_proxy.state import get_state
from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.translate.response import line
from ollama_openai_proxy.virtual.apply import resolve_chain
from ollama_openai_proxy.virtual.registry import VirtualModels
from ollama_openai_proxy.virtual.spec import build, from_create_request

_DIGEST = re.compile(r"^sha256[:-][0-9a-f]{64}$")


def _tagged(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


async def tags(request: Request) -> Response:
    ctx = context_of(request.scope)
    models = await get_state(request).catalog.models()
    return json_response({"models": [tags_entry(m) for m in models if ctx.allows(m.name)]})


async def show(request: Request) -> Response:
    req = await parse(request, NamedRequest)
    if not req.target:
        raise ProxyError(400, "model is required")
    not_found = ProxyError(404, f"model '{_tagged(req.target)}' not found")
    info = (await resolve(*serving_args(request), req.target, not_found=not_found)).primary
    return json_response(show_response(info, request.headers.get("user-agent", "")))


async def ps(request: Request) -> Response:
    recent = get_state(request).recent.active()
    return json_response({"models": [ps_entry(info, until) for until, info in recent]})


async def pull(request: Request) -> Response:
    """Models live on the backends: a pull succeeds for a model they serve, without downloading."""
    req = await parse(request, NamedRequest)
    if not req.target:
        raise ProxyError(400, "model is required")
    message = f"pull model manifest: model '{req.target}' is not served by any configured backend"
    info = (await resolve(*serving_args(request), req.target, not_found=ProxyError(404, message))).primary
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
    if not context_of(request.scope).allows(name):
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


async def create(request: Request) -> Response:
    """A virtual model: ``FROM`` an existing model, with a system prompt, default options and leading
    messages (JSON fields or a Modelfile). Creating from weights is refused with a clear error."""
    body = await read_json(request)
    virtual = _virtual(request)
    model = from_create_request(body)
    _writable(request, virtual, model.name)
    _, bottom = resolve_chain(model, virtual.get)
    base = await resolve(
        *serving_args(request), bottom, not_found=ProxyError(404, f"model '{bottom}' not found")
    )
    await asyncio.to_thread(virtual.put, model)
    if body.get("stream") is False:
        return json_response({"status": "success"})
    return _progress(
        [
            {"status": f"using existing layer sha256:{base.primary.digest}"},
            {"status": f"creating new layer sha256:{model.digest}"},
            {"status": "writing manifest"},
        ]
    )


async def copy(request: Request) -> Response:
    """Copies a virtual model, or makes a new name for a backend model (a virtual model FROM it)."""
    req = await parse(request, CopyRequest)
    if not req.source or not req.destination:
        raise ProxyError(400, "source and destination are required")
    virtual = _virtual(request)
    await resolve(
        *serving_args(request), req.source, not_found=ProxyError(404, f'model "{req.source}" not found')
    )
    _writable(request, virtual, req.destination)
    if virtual.get(req.source) is not None:
        await asyncio.to_thread(virtual.copy, req.source, req.destination)
    else:
        model = build(name=req.destination, base=req.source, created_at=time.time())
        await asyncio.to_thread(virtual.put, model)
    return Response(status_code=200)


async def delete(request: Request) -> Response:
    req = await parse(request, NamedRequest)
    if not req.target:
        raise ProxyError(400, "model is required")
    virtual = _virtual(request)
    if virtual.get(req.target) is not None:
        _writable(request, virtual, req.target)
        await asyncio.to_thread(virtual.delete, req.target)
        return Response(status_code=200)
    info = (await resolve(*serving_args(request), req.target)).primary
    raise ProxyError(
        400,
        f"model '{req.target}' is served by backend {info.backend.client.name} and cannot be deleted here",
    )


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
