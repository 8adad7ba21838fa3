"""/api/chat, /api/generate, /api/embed and /api/embeddings."""

from __future__ import annotations

import time
from functools import partial

from starlette.requests import Request
from starlette.responses import Response

from ollama_openai_proxy.backends.catalog import ModelInfo
from ollama_openai_proxy.observability import context_of
from ollama_openai_proxy.protocol.ollama import (
    ChatRequest,
    EmbeddingsRequest,
    EmbedRequest,
    GenerateRequest,
    Message,
    ThinkValue,
)
from ollama_openai_proxy.routes import route as http_route
from ollama_openai_proxy.routes.common import (
    backend_auth,
    find_route,
    ignored_headers,
    json_response,
    parse,
    run_inference,
    with_fallback,
)
from ollama_openai_proxy.state import get_state
from ollama_openai_proxy.translate import keepalive, names
from ollama_openai_proxy.translate.embed import embed_request, embed_response, embeddings_request, vectors
from ollama_openai_proxy.translate.errors import ProxyError, embed_model_not_found, model_not_found
from ollama_openai_proxy.translate.request import BackendRequest, chat_request, generate_request
from ollama_openai_proxy.translate.response import Clock, load_reply
from ollama_openai_proxy.virtual.apply import apply_to_chat, apply_to_generate, generate_leading_messages


async def chat(request: Request) -> Response:
    clock = Clock(start=time.perf_counter_ns())
    state = get_state(request)
    req = await parse(request, ChatRequest)
    if not req.model:
        raise ProxyError(400, "model is required")
    keep = keepalive.seconds(req.keep_alive)
    route = await find_route(request, req.model)
    state.recent.touch(route.primary, keep)
    if not req.messages:
        return json_response(load_reply("chat", req.model, "unload" if keep == 0 else "load"))
    images = any(m.images for m in req.messages)
    check_capabilities(req.model, route.primary, "chat", bool(req.tools), req.think, images)
    if route.chain:
        req = apply_to_chat(req, route.chain)
    build = partial(_chat, req)
    return await run_inference(request, "chat", req.model, route, build, clock, req.streaming)


async def generate(request: Request) -> Response:
    clock = Clock(start=time.perf_counter_ns())
    state = get_state(request)
    req = await parse(request, GenerateRequest)
    keep = keepalive.seconds(req.keep_alive)
    route = await find_route(request, req.model)
    state.recent.touch(route.primary, keep)
    if not req.prompt and not req.suffix:
        return json_response(load_reply("generate", req.model, "unload" if keep == 0 else "load"))
    check_capabilities(req.model, route.primary, "generate", False, req.think, bool(req.images))
    leading: list[Message] = []
    if route.chain:
        leading = generate_leading_messages(req, route.chain)
        req = apply_to_generate(req, route.chain)
    build = partial(_generate, req, leading)
    return await run_inference(request, "generate", req.model, route, build, clock, req.streaming)


def check_capabilities(
    name: str, info: ModelInfo, kind: str, tools: bool, think: ThinkValue | None, images: bool
) -> None:
    """Refuse what the model cannot do, in Ollama's words, when its capabilities are really known."""
    if not info.capabilities_known:
        return
    caps = info.capabilities
    if "completion" not in caps:
        raise ProxyError(400, f'"{name}" does not support {kind}')
    if tools and "tools" not in caps:
        raise ProxyError(400, f"{names.qualified(name)} does not support tools")
    if think not in (None, False) and "thinking" not in caps:
        raise ProxyError(400, f'"{name}" does not support thinking')
    if images and "vision" not in caps:
        raise ProxyError(400, f'"{name}" does not support images: the backend model has no vision input')


def _chat(req: ChatRequest, info: ModelInfo) -> BackendRequest:
    return chat_request(req, info.backend_id, info.profile)


def _generate(req: GenerateRequest, leading: list[Message], info: ModelInfo) -> BackendRequest:
    return generate_request(req, info.backend_id, info.profile, leading)


async def embed(request: Request) -> Response:
    start = time.perf_counter_ns()
    state = get_state(request)
    req = await parse(request, EmbedRequest)
    keep = keepalive.seconds(req.keep_alive)
    if not req.model:
        raise model_not_found("")
    route = await find_route(request, req.model, not_found=embed_model_not_found(req.model))
    state.recent.touch(route.primary, keep)
    if not req.input:
        return json_response({"model": req.model, "embeddings": []})

    async def call(info: ModelInfo) -> Response:
        breq = embed_request(req, info.backend_id, info.profile)
        data = await info.backend.client.request_json(
            "POST", breq.endpoint, breq.payload, model=req.model, headers=backend_auth(request)
        )
        dims = None if "dimensions" in breq.payload else req.dimensions
        out = embed_response(req.model, data, dims, {"total_duration": time.perf_counter_ns() - start})
        return json_response(out, headers=ignored_headers(breq.ignored))

    return await with_fallback(context_of(request.scope), route, call)


async def embeddings(request: Request) -> Response:
    state = get_state(request)
    req = await parse(request, EmbeddingsRequest)
    if not req.model:
        raise ProxyError(400, "model is required")
    keep = keepalive.seconds(req.keep_alive)
    route = await find_route(request, req.model, not_found=embed_model_not_found(req.model))
    state.recent.touch(route.primary, keep)
    if not req.prompt:
        return json_response({"embedding": []})

    async def call(info: ModelInfo) -> Response:
        breq = embeddings_request(req, info.backend_id)
        data = await info.backend.client.request_json(
            "POST", breq.endpoint, breq.payload, model=req.model, headers=backend_auth(request)
        )
        return json_response({"embedding": vectors(data)[0]}, headers=ignored_headers(breq.ignored))

    return await with_fallback(context_of(request.scope), route, call)


ROUTES = [
    http_route("/api/chat", chat, "POST"),
    http_route("/api/generate", generate, "POST"),
    http_route("/api/embed", embed, "POST"),
    http_route("/api/embeddings", embeddings, "POST"),
]
