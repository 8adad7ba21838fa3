"""Embeddings: /api/embed and the legacy /api/embeddings, through the model's candidates in order."""

from __future__ import annotations

import asyncio
import functools
import time
from typing import cast

from ollama_openai_proxy.backends.catalog import ModelInfo
from ollama_openai_proxy.observability import RequestContext
from ollama_openai_proxy.protocol.ollama import (
    EmbeddingsRequest,
    EmbeddingsResponse,
    EmbedRequest,
    EmbedResponse,
    Metrics,
)
from ollama_openai_proxy.protocol.openai import EmbeddingResponse
from ollama_openai_proxy.serving.chat import OFFLOAD_BYTES
from ollama_openai_proxy.serving.dispatch import backend_headers, resolve, with_fallback
from ollama_openai_proxy.state import ProxyState
from ollama_openai_proxy.translate import keepalive
from ollama_openai_proxy.translate.embed import (
    ollama_to_openai_embed,
    ollama_to_openai_embeddings,
    openai_to_ollama_embed,
    vectors,
)
from ollama_openai_proxy.translate.errors import ProxyError, embed_model_not_found, model_not_found
from ollama_openai_proxy.translate.shape import backend_shape, malformed

# (the Ollama answer, what of the request had no backend counterpart)
EmbedAnswer = tuple[EmbedResponse, list[str]]
EmbeddingsAnswer = tuple[EmbeddingsResponse, list[str]]


async def embed(state: ProxyState, ctx: RequestContext, req: EmbedRequest) -> EmbedAnswer:
    keep = keepalive.seconds(req.keep_alive)
    if not req.model:
        raise model_not_found("")
    resolved = await resolve(state, ctx, req.model, not_found=embed_model_not_found(req.model))
    state.recent.touch(resolved.primary.name, keep)
    if not req.input:
        return {"model": req.model, "embeddings": []}, []
    headers = backend_headers(ctx)

    async def call(info: ModelInfo) -> EmbedAnswer:
        breq = ollama_to_openai_embed(req, info.backend_id, info.profile)
        data = await info.backend.client.request_json(
            "POST", breq.endpoint, breq.payload, model=req.model, headers=headers
        )
        dims = None if "dimensions" in breq.payload else req.dimensions
        total: Metrics = {"total_duration": time.perf_counter_ns() - ctx.start}
        translate = functools.partial(openai_to_ollama_embed, req.model, _object(data), dims, total)
        with backend_shape("embedding answer"):
            # A large batch is translated (normalised) in a worker thread: others keep being served.
            out = await asyncio.to_thread(translate) if ctx.body_size > OFFLOAD_BYTES else translate()
        return out, breq.ignored

    return await with_fallback(ctx, resolved, call)


def _object(data: object) -> EmbeddingResponse:
    """An object, as an embedding answer is; its fields are checked as they are read."""
    if not isinstance(data, dict):
        raise malformed("embedding answer", f"expected a JSON object, got {type(data).__name__}")
    return cast(EmbeddingResponse, data)


async def embeddings(state: ProxyState, ctx: RequestContext, req: EmbeddingsRequest) -> EmbeddingsAnswer:
    if not req.model:
        raise ProxyError(400, "model is required")
    keep = keepalive.seconds(req.keep_alive)
    resolved = await resolve(state, ctx, req.model, not_found=embed_model_not_found(req.model))
    state.recent.touch(resolved.primary.name, keep)
    if not req.prompt:
        return {"embedding": []}, []
    headers = backend_headers(ctx)

    async def call(info: ModelInfo) -> EmbeddingsAnswer:
        breq = ollama_to_openai_embeddings(req, info.backend_id)
        data = await info.backend.client.request_json(
            "POST", breq.endpoint, breq.payload, model=req.model, headers=headers
        )
        with backend_shape("embedding answer"):
            return {"embedding": vectors(_object(data))[0]}, breq.ignored

    return await with_fallback(ctx, resolved, call)
