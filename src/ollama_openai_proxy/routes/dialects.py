"""``POST /v1/messages`` (Anthropic) and ``POST /v1/responses`` (OpenAI): translated into the one chat
path (``chat_path.serve_chat``) and its answer rendered back in the dialect, streamed or not."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, TypeVar

from fastapi import APIRouter
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ollama_openai_proxy.observability import RequestContext
from ollama_openai_proxy.protocol.anthropic import MessagesRequest
from ollama_openai_proxy.protocol.responses import ResponsesRequest
from ollama_openai_proxy.routes.chat_path import serve_chat
from ollama_openai_proxy.routes.common import context, ignored_headers, json_response, read_json
from ollama_openai_proxy.translate.anthropic.errors import anthropic_error
from ollama_openai_proxy.translate.anthropic.request import anthropic_to_ollama
from ollama_openai_proxy.translate.anthropic.response import ollama_to_anthropic
from ollama_openai_proxy.translate.anthropic.stream import MessagesStream
from ollama_openai_proxy.translate.errors import ProxyError, openai_error_body
from ollama_openai_proxy.translate.response import Clock
from ollama_openai_proxy.translate.responses.request import responses_to_ollama
from ollama_openai_proxy.translate.responses.response import echoed_settings, ollama_to_responses
from ollama_openai_proxy.translate.responses.stream import ResponsesStream
from ollama_openai_proxy.translate.sse import encode_event

log = logging.getLogger("ollama_openai_proxy")
router = APIRouter()
SSE_TYPE = "text/event-stream"
M = TypeVar("M", bound=BaseModel)

Events = Callable[[dict[str, Any]], Iterable[Any]]


_TYPE_STEPS = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})


def _validated(model: type[M], data: dict[str, Any]) -> M:
    """The request validated, or a 400 naming the field: the deepest error (the branch of a
    union that came closest), its location without pydantic's type-branch steps."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = max(exc.errors(), key=lambda e: len(e["loc"]))
        steps = [str(p) for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p in _TYPE_STEPS))]
        where = ".".join(steps)
        raise ProxyError(400, f"{where}: {err['msg']}" if where else str(err["msg"])) from None


async def _sse(
    batches: AsyncIterator[list[dict[str, Any]]],
    feed: Events,
    fail: Callable[[int, str], Iterable[Any]],
    ctx: RequestContext,
) -> AsyncIterator[bytes]:
    """Ollama chunks rendered as a dialect's SSE events, one write per backend read; a failure ends
    the stream with the dialect's error event."""
    try:
        async for batch in batches:
            out = b"".join([encode_event(e["event"], e["data"]) for chunk in batch for e in feed(chunk)])
            if out:
                yield out
    except ProxyError as exc:
        log.warning("stream ended with an error: %s", exc.message)
        ctx.error = exc.message
        yield b"".join([encode_event(e["event"], e["data"]) for e in fail(exc.status, exc.message)])
    except Exception as exc:  # never end a stream silently, whatever went wrong
        log.exception("stream failed")
        ctx.error = f"internal proxy error ({type(exc).__name__})"
        yield b"".join([encode_event(e["event"], e["data"]) for e in fail(500, ctx.error)])


@router.post("/v1/messages")
async def messages(request: Request) -> Response:
    clock = Clock(start=time.perf_counter_ns())
    ctx = context(request)
    try:
        req = _validated(MessagesRequest, await read_json(request))
        outcome = await serve_chat(request, anthropic_to_ollama(req), clock, relax_think=True)
    except ProxyError as exc:
        ctx.error = exc.message
        return json_response(anthropic_error(exc.status, exc.message, ctx.request_id), status=exc.status)
    message_id = f"msg_{uuid.uuid4().hex[:24]}"
    headers = ignored_headers(outcome.ignored)
    if outcome.chunks is None:
        assert outcome.whole is not None
        return json_response(ollama_to_anthropic(outcome.whole, message_id), headers=headers)
    machine = MessagesStream(message_id, req.model)
    body = _sse(outcome.chunks, machine.feed, machine.error, ctx)
    return StreamingResponse(body, media_type=SSE_TYPE, headers=headers)


@router.post("/v1/responses")
async def responses(request: Request) -> Response:
    clock = Clock(start=time.perf_counter_ns())
    ctx = context(request)
    try:
        req = _validated(ResponsesRequest, await read_json(request))
        translated = responses_to_ollama(req)
        outcome = await serve_chat(request, translated.chat, clock)
    except ProxyError as exc:
        ctx.error = exc.message
        return json_response(openai_error_body(exc.status, exc.message), status=exc.status)
    response_id = f"resp_{uuid.uuid4().hex[:24]}"
    created_at = int(time.time())
    settings = echoed_settings(req)
    headers = ignored_headers(translated.ignored + outcome.ignored)
    if outcome.chunks is None:
        assert outcome.whole is not None
        return json_response(
            ollama_to_responses(outcome.whole, response_id, created_at, settings), headers=headers
        )
    machine = ResponsesStream(response_id, created_at, req.model, settings)
    body = _sse(outcome.chunks, machine.feed, machine.error, ctx)
    return StreamingResponse(body, media_type=SSE_TYPE, headers=headers)
