"""Model listing and management (/api/tags, show, ps, pull, create, copy, delete): the catalog's
models as Ollama describes them, and virtual models written through the registry."""

from __future__ import annotations

import time

from ollama_openai_proxy.observability import RequestContext
from ollama_openai_proxy.protocol.ollama import (
    CopyRequest,
    ProgressLine,
    PsResponse,
    ShowResponse,
    TagsResponse,
)
from ollama_openai_proxy.serving.dispatch import resolve
from ollama_openai_proxy.serving.metadata import ps_entry, show_response, tags_entry
from ollama_openai_proxy.state import ProxyState
from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.virtual.registry import VirtualModels
from ollama_openai_proxy.virtual.spec import build, from_create_request

# The status lines of a progress stream (pull, create), before the final "success".
Progress = list[ProgressLine]


def _tagged(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


async def tags(state: ProxyState, ctx: RequestContext) -> TagsResponse:
    models = await state.catalog.models()
    return {"models": [tags_entry(m) for m in models if ctx.allows(m.name)]}


async def show(state: ProxyState, ctx: RequestContext, name: str, user_agent: str) -> ShowResponse:
    not_found = ProxyError(404, f"model '{_tagged(name)}' not found")
    info = (await resolve(state, ctx, name, not_found=not_found)).primary
    return show_response(info, user_agent)


async def ps(state: ProxyState, ctx: RequestContext) -> PsResponse:
    """The models loaded lately (in any replica), those the caller's key may use only."""
    entries = []
    for until, name in await state.recent.active():
        if not ctx.allows(name):
            continue
        try:
            info = (await state.catalog.resolve(name)).primary
        except ProxyError:
            continue  # deleted or no longer served since it was loaded
        entries.append(ps_entry(info, until))
    return {"models": entries}


async def pull(state: ProxyState, ctx: RequestContext, name: str) -> Progress:
    """Models live on the backends: a pull succeeds for a model they serve, without downloading.
    The line with the digest says the whole layer is there (``completed`` = ``total``), as Ollama's
    lines for a layer already present do; progress bars then reach 100 %."""
    # Ollama's words for a model its registry does not have
    not_found = ProxyError(404, "pull model manifest: file does not exist")
    info = (await resolve(state, ctx, name, not_found=not_found)).primary
    size = info.size or 1  # clients divide completed by total
    return [
        {"status": "pulling manifest"},
        {
            "status": f"pulling {info.digest[:12]}",
            "digest": f"sha256:{info.digest}",
            "total": size,
            "completed": size,
        },
        {"status": f"using backend model {info.backend_id!r} from {info.backend.client.name}"},
        {"status": "verifying sha256 digest"},
        {"status": "writing manifest"},
    ]


def _virtual(state: ProxyState) -> VirtualModels:
    virtual = state.catalog.virtual
    if virtual is None:
        raise ProxyError(501, "virtual models are not enabled")
    return virtual


def _writable(ctx: RequestContext, virtual: VirtualModels, name: str) -> None:
    """The caller may change the virtual model ``name``: its key allows it, and the file does not."""
    if not ctx.allows(name):
        raise ProxyError(403, f"this API key may not use model '{name}'")
    if virtual.is_read_only(name):
        raise ProxyError(
            400, f"model '{name}' is declared in the configuration file and cannot be changed here"
        )


async def create(state: ProxyState, ctx: RequestContext, body: dict[str, object]) -> Progress:
    """A virtual model: ``FROM`` an existing model, with a system prompt, default options and leading
    messages (JSON fields or a Modelfile). Creating from weights is refused with a clear error."""
    virtual = _virtual(state)
    model = from_create_request(body)
    _writable(ctx, virtual, model.name)
    _, bottom = await virtual.chain(model, state.catalog.serves)
    base = await resolve(state, ctx, bottom, not_found=ProxyError(404, f"model '{bottom}' not found"))
    await virtual.put(model)
    return [
        {"status": f"using existing layer sha256:{base.primary.digest}"},
        {"status": f"creating new layer sha256:{model.digest}"},
        {"status": "writing manifest"},
    ]


async def copy(state: ProxyState, ctx: RequestContext, req: CopyRequest) -> None:
    """Copies a virtual model, or makes a new name for a backend model (a virtual model FROM it)."""
    for role, value in (("source", req.source), ("destination", req.destination)):
        if not value:
            raise ProxyError(400, f'{role} "{value}" is invalid')
    virtual = _virtual(state)
    await resolve(state, ctx, req.source, not_found=ProxyError(404, f'model "{req.source}" not found'))
    _writable(ctx, virtual, req.destination)
    if await virtual.get(req.source) is not None:
        await virtual.copy(req.source, req.destination)
    else:
        model = build(name=req.destination, base=req.source, created_at=time.time())
        await virtual.put(model)


async def delete(state: ProxyState, ctx: RequestContext, name: str) -> None:
    virtual = _virtual(state)
    if await virtual.get(name) is not None:
        _writable(ctx, virtual, name)
        await virtual.delete(name)
        return
    info = (await resolve(state, ctx, name)).primary
    raise ProxyError(
        400, f"model '{name}' is served by backend {info.backend.client.name} and cannot be deleted here"
    )
