"""/api/chat, /api/generate, /api/embed and /api/embeddings."""

from __future__ import annotations

import time
from functools import partial

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from ollama_openai_proxy.backends.catalog import ModelInfo
from ollama_openai_proxy.protocol.ollama import (
    ChatRequest,
    EmbeddingsRequest,
    EmbedRequest,
    GenerateRequest,
    Message,
)
from ollama_openai_proxy.routes.chat_path import check_capabilities, ready_chat, route_chat
from ollama_openai_proxy.routes.common import (
    backend_auth,
    context,
    find_route,
    ignored_headers,
    json_response,
    parse,
    run_inference,
    with_fallback,
)
from ollama_openai_proxy.state import get_state
from ollama_openai_proxy.translate import keepalive
from ollama_openai_proxy.translate.embed import embed_request, embed_response, embeddings_request, vectors
from ollama_openai_proxy.translate.errors import ProxyError, embed_model_not_found, model_not_found
from ollama_openai_proxy.translate.request import BackendRequest, chat_request, generate_request
from ollama_openai_proxy.translate.response import Clock, load_reply
from ollama_openai_proxy.virtual.apply import apply_to_generate, generate_leading_messages

router = APIRouter()


@router.post("/api/chat")
async def chat(request: Request) -> Response:
    clock = Clock(start=time.perf_counter_ns())
    state = get_state(request)
    req = await parse(request, ChatRequest)
    route, keep = await route_chat(request, req)
    if not req.messages:
        await state.recent.flush()  # an explicit load or unload: stored before it is answered
        return json_response(load_reply("chat", req.model, "unload" if keep == 0 else "load"))
    req = ready_chat(req, route)
    build = partial(_chat, req)
    return await run_inference(request, "chat", req.model, route, build, clock, req.streaming)


@router.post("/api/generate")
async def generate(request: Request) -> Response:
    clock = Clock(start=time.perf_counter_ns())
    state = get_state(request)
    req = await parse(request, GenerateRequest)
    keep = keepalive.seconds(req.keep_alive)
    route = await find_route(request, req.model)
    state.recent.touch(route.primary.name, keep)
    if not req.prompt and not req.suffix:
        await state.recent.flush()  # an explicit load or unload: stored before it is answered
        return json_response(load_reply("generate", req.model, "unload" if keep == 0 else "load"))
    check_capabilities(req.model, route.primary, "generate", False, req.think, bool(req.images))
    leading: list[Message] = []
    if route.chain:
        leading = generate_leading_messages(req, route.chain)
        req = apply_to_generate(req, route.chain)
    build = partial(_generate, req, leading)
    return await run_inference(request, "generate", req.model, route, build, clock, req.streaming)


def _chat(req: ChatRequest, info: ModelInfo) -> BackendRequest:
    return chat_request(req, info.backend_id, info.profile)


def _generate(req: GenerateRequest, leading: list[Message], info: ModelInfo) -> BackendRequest:
    return generate_request(req, info.backend_id, info.profile, leading)


@router.post("/api/embed")
async def embed(request: Request) -> Response:
    start = time.perf_counter_ns()
    state = get_state(request)
    req = await parse(request, EmbedRequest)
    keep = keepalive.seconds(req.keep_alive)
    if not req.model:
        raise model_not_found("")
    route = await find_route(request, req.model, not_found=embed_model_not_found(req.model))
    state.recent.touch(route.primary.name, keep)
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

    return await with_fallback(context(request), route, call)


@router.post("/api/embeddings")
async def embeddings(request: Request) -> Response:
    state = get_state(request)
    req = await parse(request, EmbeddingsRequest)
    if not req.model:
        raise ProxyError(400, "model is required")
    keep = keepalive.seconds(req.keep_alive)
    route = await find_route(request, req.model, not_found=embed_model_not_found(req.model))
    state.recent.touch(route.primary.name, keep)
    if not req.prompt:
        return json_response({"embedding": []})

    async def call(info: ModelInfo) -> Response:
        breq = embeddings_request(req, info.backend_id)
        data = await info.backend.client.request_json(
            "POST", breq.endpoint, breq.payload, model=req.model, headers=backend_auth(request)
        )
        return json_response({"embedding": vectors(data)[0]}, headers=ignored_headers(breq.ignored))

    return await with_fallback(context(request), route, call)
