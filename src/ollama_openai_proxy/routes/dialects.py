"""``POST /v1/messages`` (Anthropic) and ``POST /v1/responses`` (OpenAI): translated into the one chat
path (``serving.chat.chat``) and its answer rendered back in the dialect, streamed or not. Errors
before the answer are raised and rendered in the dialect's shape by middleware/errors.py."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ollama_openai_proxy.observability import RequestContext
from ollama_openai_proxy.protocol.anthropic import MessagesRequest, StreamEvent
from ollama_openai_proxy.protocol.ollama import ChatChunk
from ollama_openai_proxy.protocol.responses import ResponsesEvent, ResponsesRequest
from ollama_openai_proxy.redaction import redact
from ollama_openai_proxy.routes import route
from ollama_openai_proxy.routes.common import ignored_headers, json_response, read_json, serving_args
from ollama_openai_proxy.serving.chat import OFFLOAD_BYTES, chat
from ollama_openai_proxy.translate.anthropic.request import anthropic_to_ollama
from ollama_openai_proxy.translate.anthropic.response import ollama_to_anthropic
from ollama_openai_proxy.translate.anthropic.stream import MessagesStream
from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.translate.responses.request import responses_to_ollama
from ollama_openai_proxy.translate.responses.response import echoed_settings, ollama_to_responses
from ollama_openai_proxy.translate.responses.stream import ResponsesStream
from ollama_openai_proxy.translate.sse import encode_event

SSE_TYPE = "text/event-stream"
M = TypeVar("M", bound=BaseModel)

Batches = AsyncIterator[list[ChatChunk]]
Event = StreamEvent | ResponsesEvent  # an SSE event of either dialect
Events = Callable[[ChatChunk], Iterable[Event]]


_TYPE_STEPS = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})


def _validated(model: type[M], data: dict[str, object]) -> M:
    """The request validated, or a 400 naming the field: the deepest error (the branch of a
    union that came closest), its location without pydantic's type-branch steps."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = max(exc.errors(), key=lambda e: len(e["loc"]))
        steps = [str(p) for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p in _TYPE_STEPS))]
        where = ".".join(steps)
        message = str(err["msg"]).removeprefix("Value error, ")  # a validator's own words
        raise ProxyError(400, f"{where}: {message}" if where else message) from None


async def _parse(request: Request, model: type[M], ctx: RequestContext) -> M:
    data = await read_json(request)
    if ctx.body_size > OFFLOAD_BYTES:  # a large body is validated in a worker thread
        return await asyncio.to_thread(_validated, model, data)
    return _validated(model, data)


async def _sse(
    batches: Batches,
    feed: Events,
    fail: Callable[[int, str], Iterable[Event]],
    ctx: RequestContext,
) -> AsyncIterator[bytes]:
    """Ollama chunks rendered as a dialect's SSE events, one write per backend read; a failure ends
    the stream with the dialect's error event (the serving layer has logged and recorded it)."""
    try:
        async for batch in batches:
            out = b"".join([encode_event(e["event"], e["data"]) for chunk in batch for e in feed(chunk)])
            if out:
                yield out
    except ProxyError as exc:
        ctx.error = exc.message
        events = fail(exc.status, redact(exc.message))
        yield b"".join([encode_event(e["event"], e["data"]) for e in events])


async def messages(request: Request) -> Response:
    state, ctx = serving_args(request)
    req = await _parse(request, MessagesRequest, ctx)
    reply = await chat(state, ctx, anthropic_to_ollama(req), dialect=True, relax_think=True)
    message_id = f"msg_{os.urandom(12).hex()}"
    headers = ignored_headers(reply.ignored)
    if reply.chunks is None:
        assert reply.whole is not None
        return json_response(ollama_to_anthropic(reply.whole, message_id), headers=headers)
    machine = MessagesStream(message_id, req.model)
    body = _sse(reply.chunks, machine.feed, machine.error, ctx)
    return StreamingResponse(body, media_type=SSE_TYPE, headers=headers)


async def responses(request: Request) -> Response:
    state, ctx = serving_args(request)
    req = await _parse(request, ResponsesRequest, ctx)
    translated = responses_to_ollama(req)
    reply = await chat(state, ctx, translated.chat, dialect=True, defaults=translated.defaults)
    response_id = f"resp_{os.urandom(12).hex()}"
    created_at = int(time.time())
    settings = echoed_settings(req, reply.options)
    headers = ignored_headers(translated.ignored + reply.ignored)
    if reply.chunks is None:
        assert reply.whole is not None
        return json_response(
            ollama_to_responses(reply.whole, response_id, created_at, settings), headers=headers
        )
    machine = ResponsesStream(response_id, created_at, req.model, settings)
    body = _sse(reply.chunks, machine.feed, machine.error, ctx)
    return StreamingResponse(body, media_type=SSE_TYPE, headers=headers)


ROUTES = [
    route("/v1/messages", messages, "POST"),
    route("/v1/responses", responses, "POST"),
]
