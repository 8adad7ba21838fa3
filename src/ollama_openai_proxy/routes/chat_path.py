"""The one chat path of every dialect: a validated Ollama chat request in, Ollama chunks or one answer out.

Routing, per-key model limits, aliases, fallbacks, virtual models (SYSTEM, PARAMETER), capabilities,
options and the access-log counters are those of ``/api/chat``; a dialect only translates its request
into the native one and renders what comes back.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request

from ollama_openai_proxy.backends.catalog import ModelInfo, Route
from ollama_openai_proxy.backends.client import BackendStream
from ollama_openai_proxy.observability import RequestContext
from ollama_openai_proxy.protocol.ollama import ChatRequest, ThinkValue
from ollama_openai_proxy.routes.common import (
    backend_auth,
    context,
    find_route,
    record_stream,
    whole_answer,
    with_fallback,
)
from ollama_openai_proxy.state import get_state
from ollama_openai_proxy.translate import keepalive, names
from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.translate.request import chat_request
from ollama_openai_proxy.translate.response import Clock, StreamTranslator, completion_to_ollama
from ollama_openai_proxy.translate.sse import SSEDecoder
from ollama_openai_proxy.virtual.apply import apply_to_chat


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


async def route_chat(request: Request, req: ChatRequest) -> tuple[Route, float | None]:
    """The backends for the request's model (allowed for the caller's key), marked as recently used."""
    if not req.model:
        raise ProxyError(400, "model is required")
    keep = keepalive.seconds(req.keep_alive)
    route = await find_route(request, req.model)
    get_state(request).recent.touch(route.primary.name, keep)
    return route, keep


def ready_chat(req: ChatRequest, route: Route, *, relax_think: bool = False) -> ChatRequest:
    """Capabilities checked, then the virtual model's SYSTEM, MESSAGE and PARAMETER lines applied.
    ``relax_think``: a thinking request to a model known not to think is dropped, not refused
    (as Ollama does for the Anthropic dialect, whose clients ask for thinking by default)."""
    info = route.primary
    cannot_think = info.capabilities_known and "thinking" not in info.capabilities
    if relax_think and cannot_think and req.think not in (None, False):
        req = req.model_copy(update={"think": None})
    images = any(m.images for m in req.messages or ())
    check_capabilities(req.model, route.primary, "chat", bool(req.tools), req.think, images)
    return apply_to_chat(req, route.chain) if route.chain else req


@dataclass
class ChatOutcome:
    """What the chat path produced: one whole answer, or a stream of chunks (already connected)."""

    whole: dict[str, Any] | None = None
    chunks: AsyncIterator[list[dict[str, Any]]] | None = None  # one list per backend read
    ignored: list[str] = field(default_factory=list)


async def serve_chat(
    request: Request, req: ChatRequest, clock: Clock, *, relax_think: bool = False
) -> ChatOutcome:
    """Run one chat request as ``/api/chat`` does. Failures before any byte raise ProxyError (after
    the fallbacks); failures once streaming raise ProxyError from the chunk iterator."""
    route, _ = await route_chat(request, req)
    if not req.messages:
        raise ProxyError(400, "at least one message is required")
    req = ready_chat(req, route, relax_think=relax_think)
    ctx = context(request)
    auth = backend_auth(request)
    model = req.model

    if not req.streaming:

        async def answer(info: ModelInfo) -> ChatOutcome:
            breq = chat_request(req, info.backend_id, info.profile)
            clock.sent = time.perf_counter_ns()
            out = await whole_answer(info, breq, "chat", model, clock, ctx, auth)
            return ChatOutcome(whole=out, ignored=breq.ignored)

        return await with_fallback(ctx, route, answer)

    async def connect(info: ModelInfo) -> ChatOutcome:
        breq = chat_request(req, info.backend_id, info.profile)
        clock.sent = time.perf_counter_ns()
        stream = await info.backend.client.stream(breq.endpoint, breq.payload, model=model, headers=auth)
        clock.headers = time.perf_counter_ns()
        chunks = ollama_chunks(stream, StreamTranslator("chat", model, clock, stamped=False), ctx)
        return ChatOutcome(chunks=chunks, ignored=breq.ignored)

    return await with_fallback(ctx, route, connect)


async def ollama_chunks(
    stream: BackendStream, translator: StreamTranslator, ctx: RequestContext
) -> AsyncIterator[list[dict[str, Any]]]:
    """One backend stream as Ollama chat chunks, one list per backend read (so a dialect writes them
    in one go), the last chunk ``done: true``; ProxyError on failure."""
    decoder = SSEDecoder()
    clock = time.perf_counter_ns
    chunk = translator.chunk
    try:
        if stream.response.content_type == "application/json":  # the backend ignored stream: true
            try:
                data = orjson.loads(b"".join([raw async for raw in stream.chunks()]))
            except orjson.JSONDecodeError:
                raise ProxyError(502, "backend returned invalid JSON") from None
            if not isinstance(data, dict):
                raise ProxyError(502, "backend returned an unexpected response")
            yield [completion_to_ollama("chat", translator.model, data, translator.clock, clock())]
            return
        async for raw in stream.chunks():
            now = clock()
            batch = [out for data in decoder.feed(raw) if (out := chunk(data, now)) is not None]
            if batch:
                yield batch
            if translator.finished:
                break
        else:
            now = clock()
            batch = [out for data in decoder.close() if (out := chunk(data, now)) is not None]
            if batch:
                yield batch
        if not translator.complete:
            raise ProxyError(502, "backend closed the stream before it finished")
        yield translator.finish_chunks(clock())
    finally:
        stream.close()
        record_stream(translator, ctx)
