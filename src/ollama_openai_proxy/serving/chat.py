"""Chat and generate, the one internal path every chat dialect goes through.

``chat(state, ctx, req)`` takes a validated Ollama ChatRequest (the one internal request) and
returns a Reply: the whole answer as one ChatChunk (``done: true``), or the answer as batches of
ChatChunks (text/thinking deltas, tool calls, then the final ``done: true`` chunk with metrics).
/api/chat renders it as NDJSON; other dialects render their own shapes from the same chunks.
Errors before the answer started raise ProxyError; errors in a stream raise ProxyError from the
iterator, after the chunks decoded before the failure.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Generic, TypeVar, cast

import orjson

from ollama_openai_proxy.backends.catalog import ModelInfo, Resolution
from ollama_openai_proxy.backends.client import BackendClient, BackendStream, unencodable
from ollama_openai_proxy.observability import RequestContext
from ollama_openai_proxy.protocol.ollama import (
    ChatChunk,
    ChatRequest,
    Chunk,
    GenerateChunk,
    GenerateRequest,
    Message,
    Metrics,
    ThinkValue,
)
from ollama_openai_proxy.protocol.options import Options
from ollama_openai_proxy.serving.dispatch import backend_headers, resolve, with_fallback
from ollama_openai_proxy.state import ProxyState
from ollama_openai_proxy.translate import context, keepalive, names
from ollama_openai_proxy.translate.errors import INTERNAL_ERROR, BackendRefusalError, ProxyError
from ollama_openai_proxy.translate.rejections import refused_field, reshape
from ollama_openai_proxy.translate.request import (
    BackendRequest,
    ollama_to_openai_chat,
    ollama_to_openai_generate,
)
from ollama_openai_proxy.translate.response import (
    Clock,
    Kind,
    StreamTranslator,
    load_reply,
    openai_to_ollama_completion,
)
from ollama_openai_proxy.translate.shape import backend_shape, check_completion
from ollama_openai_proxy.translate.sse import SSEDecoder
from ollama_openai_proxy.virtual.apply import apply_to_chat, apply_to_generate, generate_leading_messages

log = logging.getLogger("ollama_openai_proxy")

# Request bodies larger than this are decoded, validated (routes/common.py) and translated in a
# worker thread, so one big request does not starve the other clients.
OFFLOAD_BYTES = 256 * 1024

C = TypeVar("C", bound=Chunk)


@dataclass(frozen=True, slots=True)
class Reply(Generic[C]):
    """One chat/generate answer. ``whole`` is set for a ``stream: false`` request and for an answer
    known at once (a load or unload reply); ``chunks`` otherwise, one list per read from the backend
    (write each list at once). ``ignored``: what of the request had no backend counterpart.
    ``options``: the options the request was answered with (a virtual model's PARAMETERs and the
    dialect's defaults applied), for dialects that repeat them in their answer."""

    whole: C | None = None
    chunks: AsyncIterator[list[C]] | None = None
    ignored: list[str] = field(default_factory=list)
    options: Mapping[str, object] | None = None


def now_rfc3339() -> str:
    """The wall clock for ``created_at``."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


async def chat(
    state: ProxyState,
    ctx: RequestContext,
    req: ChatRequest,
    *,
    dialect: bool = False,
    relax_think: bool = False,
    defaults: Options | None = None,
) -> Reply[ChatChunk]:
    """Answer an Ollama chat request: the entry point for /api/chat and every other chat dialect.

    ``dialect``: the request came translated from another dialect, which has no load or unload
    request (no messages is a 400). ``relax_think``: a thinking request to a model known not to
    think is answered without thinking, not refused (as Ollama does for the Anthropic dialect,
    whose clients ask for thinking by default). ``defaults``: the dialect's own values for options
    the request left out, used where a virtual model's PARAMETERs do not set them either.
    """
    if not req.model:
        raise ProxyError(400, "model is required")
    keep = keepalive.seconds(req.keep_alive)
    resolved = await resolve(state, ctx, req.model)
    state.recent.touch(resolved.primary.name, keep)
    if not req.messages:
        if dialect:
            raise ProxyError(400, "at least one message is required")
        await state.recent.flush()  # an explicit load or unload: stored before it is answered
        return Reply(whole=cast(ChatChunk, _load_reply("chat", req.model, keep)))
    images = any(m.images for m in req.messages)
    info = resolved.primary
    cannot_think = info.capabilities_known and "thinking" not in info.capabilities
    if relax_think and cannot_think and req.think not in (None, False):
        req = req.model_copy(update={"think": None})
    check_capabilities(req.model, resolved.primary, "chat", bool(req.tools), req.think, images)
    if resolved.chain:
        req = apply_to_chat(req, resolved.chain)
    if defaults:
        req = req.model_copy(update={"options": {**defaults, **(req.options or {})}})
    chat_req = req

    def build(info: ModelInfo) -> BackendRequest:
        return ollama_to_openai_chat(chat_req, info.backend_id, info.profile)

    markup = req.think is not False
    reply = await _infer(state, ctx, "chat", req.model, resolved, build, req.streaming, markup)
    return cast("Reply[ChatChunk]", replace(reply, options=req.options))


async def generate(state: ProxyState, ctx: RequestContext, req: GenerateRequest) -> Reply[GenerateChunk]:
    """Answer an Ollama generate request (a one-turn chat, or a raw/suffix completion)."""
    keep = keepalive.seconds(req.keep_alive)
    resolved = await resolve(state, ctx, req.model)
    state.recent.touch(resolved.primary.name, keep)
    if not req.prompt and not req.suffix:
        await state.recent.flush()  # an explicit load or unload: stored before it is answered
        return Reply(whole=cast(GenerateChunk, _load_reply("generate", req.model, keep)))
    check_capabilities(req.model, resolved.primary, "generate", False, req.think, bool(req.images))
    leading: list[Message] = []
    if resolved.chain:
        leading = generate_leading_messages(req, resolved.chain)
        req = apply_to_generate(req, resolved.chain)
    gen_req = req
    prior = context.decode(req.context or [])

    def build(info: ModelInfo) -> BackendRequest:
        return ollama_to_openai_generate(gen_req, info.backend_id, info.profile, leading, prior)

    markup = req.think is not False and not (req.raw or req.suffix)
    reply = cast(
        "Reply[GenerateChunk]",
        await _infer(state, ctx, "generate", req.model, resolved, build, req.streaming, markup),
    )
    if req.raw:  # Ollama returns no context for raw prompts
        return reply
    return _with_context(reply, [*prior, {"role": "user", "content": req.prompt or ""}])


def _with_context(reply: Reply[GenerateChunk], turns: list[context.Turn]) -> Reply[GenerateChunk]:
    """The final generate chunk with ``context``: the conversation so far, this answer included."""

    def final(chunk: GenerateChunk, answer: str) -> None:
        chunk["context"] = context.encode([*turns, {"role": "assistant", "content": answer}])

    if reply.whole is not None:
        final(reply.whole, reply.whole.get("response", ""))
        return reply
    assert reply.chunks is not None
    chunks = reply.chunks

    async def with_final() -> AsyncIterator[list[GenerateChunk]]:
        answer: list[str] = []
        async for batch in chunks:
            for chunk in batch:
                answer.append(chunk.get("response", ""))
                if chunk.get("done"):
                    final(chunk, "".join(answer))
            yield batch

    return Reply(chunks=with_final(), ignored=reply.ignored)


def _load_reply(kind: Kind, model: str, keep_alive: float | None) -> Chunk:
    return load_reply(kind, model, "unload" if keep_alive == 0 else "load", now_rfc3339())


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


async def _infer(
    state: ProxyState,
    ctx: RequestContext,
    kind: Kind,
    model: str,
    resolved: Resolution,
    build: Callable[[ModelInfo], BackendRequest],
    streaming: bool,
    markup: bool,
) -> Reply[Chunk]:
    """Send one translated request down the resolved's candidates and take the answer back up.
    ``markup``: split in-band ``<think>`` markup off the answer (not for ``think: false`` or raw)."""
    clock = Clock(start=ctx.start, wall=now_rfc3339)
    headers = backend_headers(ctx)

    async def call(info: ModelInfo) -> Reply[Chunk]:
        # A large request is translated in a worker thread: other clients keep being served.
        try:
            breq = await asyncio.to_thread(build, info) if ctx.body_size > OFFLOAD_BYTES else build(info)
        except orjson.JSONEncodeError as exc:  # tool arguments nested too deep, integers too large
            raise unencodable(exc) from None
        client = info.backend.client
        payload = await _send_shaped(client, breq, model, headers, clock, streaming)
        ignored = breq.ignored
        if not isinstance(payload, BackendStream):
            whole = _whole(kind, model, payload, clock, markup)
            _account(ctx, clock, whole)
            return Reply(whole=whole, ignored=ignored)
        clock.headers = time.perf_counter_ns()
        translator = StreamTranslator(kind, model, clock, markup=markup)
        if not streaming:  # the profile streams for cancellability: collect the stream
            whole = await _collect(payload, translator, markup)
            _account(ctx, clock, whole)
            return Reply(whole=whole, ignored=ignored)
        return Reply(chunks=_chunks(payload, translator, ctx), ignored=ignored)

    return await with_fallback(ctx, resolved, call)


async def _send_shaped(
    client: BackendClient,
    breq: BackendRequest,
    model: str,
    headers: dict[str, str] | None,
    clock: Clock,
    streaming: bool,
) -> object:
    """Send the request without the optional fields this backend is known to refuse. A 400 naming
    another one teaches it: the request is sent again without it (nothing reached the client yet),
    once per newly refused field. Returns the open stream, or the decoded JSON answer."""
    while True:
        payload, changes = reshape(breq.payload, client.refused)
        clock.sent = time.perf_counter_ns()
        try:
            if not streaming and not payload.get("stream"):
                return await client.request_json("POST", breq.endpoint, payload, model=model, headers=headers)
            return await client.stream(breq.endpoint, payload, model=model, headers=headers)
        except BackendRefusalError as exc:
            field = refused_field(exc.body, payload)
            if field is None or field in client.refused:
                raise ProxyError(exc.status, exc.message) from None
            client.refused.add(field)
            log.debug("backend %s refuses %r (%s): sending again without it", client.name, field, exc.message)
        finally:
            if changes:
                breq.ignored.extend(c for c in changes if c not in breq.ignored)


def _account(ctx: RequestContext, clock: Clock, final: Metrics) -> None:
    """Record the answer's token counts and time to first token on the request's context."""
    ctx.prompt_tokens = final.get("prompt_eval_count", 0)
    ctx.completion_tokens = final.get("eval_count", 0)
    ctx.ttft_ns = clock.first_token - clock.start if clock.first_token else 0


def _whole(kind: Kind, model: str, data: object, clock: Clock, markup: bool) -> Chunk:
    notes: list[str] = []
    with backend_shape("completion"):
        out = openai_to_ollama_completion(
            kind, model, check_completion(data), clock, time.perf_counter_ns(), markup=markup, notes=notes
        )
    _log_notes(notes)
    return out


def _log_notes(notes: list[str]) -> None:
    """What the translator dropped from an answer (unknown content part types), once per kind."""
    for note in dict.fromkeys(notes):
        log.debug("backend answer: %s", note)


async def _read_json(stream: BackendStream) -> object:
    """A backend that ignored ``stream: true`` and answered with one JSON object."""
    try:
        return orjson.loads(await stream.read_all())
    except orjson.JSONDecodeError:
        raise ProxyError(502, "backend returned invalid JSON") from None


async def _collect(stream: BackendStream, translator: StreamTranslator, markup: bool) -> Chunk:
    """Read a whole backend stream into the one object a ``stream: false`` client gets. Nothing has
    been sent yet, so a failure is still a proper HTTP error status."""
    decoder = SSEDecoder()
    clock = time.perf_counter_ns
    try:
        if stream.response.content_type == "application/json":
            return _whole(
                translator.kind, translator.model, await _read_json(stream), translator.clock, markup
            )
        async for data in stream.chunks():
            with backend_shape("stream event"):
                for event in decoder.feed(data):
                    translator.collect(event, clock())
            if translator.finished:
                break
        else:
            with backend_shape("stream event"):
                for event in decoder.close():
                    translator.collect(event, clock())
        if not translator.complete:
            raise ProxyError(502, "backend closed the stream before it finished")
        return translator.result(clock())
    finally:
        stream.close()
        _log_notes(translator.notes)


async def _chunks(
    stream: BackendStream, translator: StreamTranslator, ctx: RequestContext
) -> AsyncIterator[list[Chunk]]:
    """The answer as chunks, one list per backend read; a failure is recorded and raised as a
    ProxyError after the chunks decoded before it."""
    decoder = SSEDecoder()
    clock = time.perf_counter_ns
    batch: list[Chunk] = []
    whole: Chunk | None = None
    try:
        if stream.response.content_type == "application/json":  # the backend ignored stream: true
            data = await _read_json(stream)
            whole = _whole(translator.kind, translator.model, data, translator.clock, translator.markup)
            yield [whole]
            return
        async for data in stream.chunks():
            with backend_shape("stream event"):
                for event in decoder.feed(data):
                    batch += translator.feed(event, clock())
            if batch:
                yield batch
                batch = []
            if translator.finished:
                break
        else:
            with backend_shape("stream event"):
                for event in decoder.close():
                    batch += translator.feed(event, clock())
        if not translator.complete:
            raise ProxyError(502, "backend closed the stream before it finished")
        with backend_shape("stream"):
            closing = translator.finish(clock())
        yield batch + closing
    except Exception as exc:
        if isinstance(exc, ProxyError):
            log.warning(
                "stream ended with an error: %s%s", exc.message, f" ({exc.detail})" if exc.detail else ""
            )
            error = exc
        else:  # never end a stream silently, whatever went wrong
            log.exception("stream failed")
            error = ProxyError(500, INTERNAL_ERROR.format(request_id=ctx.request_id))
        ctx.error = error.message
        if batch:
            yield batch
        raise error from None
    finally:
        stream.close()
        _log_notes(translator.notes)
        _account(ctx, translator.clock, whole or translator.final_metrics)
