"""Helpers shared by the routes: reading and validating bodies, writing JSON and NDJSON."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import orjson
from fastapi import APIRouter
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ollama_openai_proxy.backends.catalog import ModelInfo, Route
from ollama_openai_proxy.backends.client import BackendStream, RetryableBackendError
from ollama_openai_proxy.middleware import model_allowed, request_context
from ollama_openai_proxy.observability import RequestContext
from ollama_openai_proxy.state import get_state
from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.translate.request import BackendRequest
from ollama_openai_proxy.translate.response import (
    Clock,
    Kind,
    StreamTranslator,
    completion_to_ollama,
    error_line,
    line,
)
from ollama_openai_proxy.translate.sse import SSEDecoder

log = logging.getLogger("ollama_openai_proxy")

JSON_TYPE = "application/json; charset=utf-8"
NDJSON_TYPE = "application/x-ndjson"
IGNORED_HEADER = "X-Ollama-Proxy-Ignored"

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def get_and_head(router: APIRouter, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Serve GET and HEAD at ``path``, with one operation in the OpenAPI schema (not two of one name)."""

    def register(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        router.add_api_route(path, endpoint, methods=["GET"])
        router.add_api_route(path, endpoint, methods=["HEAD"], include_in_schema=False)
        return endpoint

    return register


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type=JSON_TYPE, headers=headers)


def validation_message(exc: ValidationError) -> str:
    err = exc.errors()[0]
    msg = str(err["msg"]).removeprefix("Value error, ")
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] in ("value_error", "assertion_error") or not loc:
        return msg
    return f"invalid value for {loc}: {msg}"


async def read_json(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, whatever its Content-Type says (Ollama reads it anyway)."""
    body = await request.body()
    if not body.strip():
        raise ProxyError(400, "missing request body")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProxyError(400, f"invalid JSON in request body: {exc}") from None
    if not isinstance(data, dict):
        raise ProxyError(400, "request body must be a JSON object")
    return data


async def parse(request: Request, model: type[M]) -> M:
    data = await read_json(request)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ProxyError(400, validation_message(exc)) from None


def ignored_headers(ignored: list[str]) -> dict[str, str] | None:
    """Report what had no backend counterpart in a response header (and the debug log)."""
    if not ignored:
        return None
    text = "; ".join(ignored)
    log.debug("not forwarded: %s", text)
    return {IGNORED_HEADER: text.encode("ascii", "backslashreplace").decode("ascii")}


def context(request: Request) -> RequestContext:
    """The request's context, made by ProxyMiddleware (or a bare one when the app runs without it)."""
    state = request.scope.setdefault("state", {})
    ctx = request_context(state)
    if ctx is None:
        ctx = RequestContext("", request.method, request.url.path)
        state["ctx"] = ctx
    return ctx


async def find_route(request: Request, name: str, *, not_found: ProxyError | None = None) -> Route:
    """The backends for a model name, once the caller's API key is known to be allowed it."""
    ctx = context(request)
    if name and not model_allowed(ctx, name):
        raise ProxyError(403, f"this API key may not use model '{name}'")
    route = await get_state(request).catalog.route(name, not_found=not_found)
    ctx.model = route.name
    return route


def backend_auth(request: Request) -> dict[str, str] | None:
    """In forward_client_key mode, the client's own key goes to the backend."""
    key = context(request).client_key
    return {"Authorization": f"Bearer {key}"} if key else None


async def with_fallback(ctx: RequestContext, route: Route, call: Callable[[ModelInfo], Awaitable[T]]) -> T:
    """Try the route's candidates in order; a backend failure before any byte was sent moves on."""
    for info in route.candidates[:-1]:
        ctx.backend = info.backend.client.name
        try:
            return await call(info)
        except RetryableBackendError as exc:
            log.warning("backend %s failed for %s, falling back: %s", ctx.backend, route.name, exc.message)
    ctx.backend = route.candidates[-1].backend.client.name
    return await call(route.candidates[-1])


async def run_inference(
    request: Request,
    kind: Kind,
    model: str,
    route: Route,
    build: Callable[[ModelInfo], BackendRequest],
    clock: Clock,
    streaming: bool,
) -> Response:
    """Send one translated chat/generate request and answer in Ollama's shape, streamed or not."""
    ctx = context(request)
    auth = backend_auth(request)

    async def call(info: ModelInfo) -> Response:
        breq = build(info)
        client = info.backend.client
        headers = ignored_headers(breq.ignored)
        clock.sent = time.perf_counter_ns()
        if not streaming:
            out = await whole_answer(info, breq, kind, model, clock, ctx, auth)
            return json_response(out, headers=headers)
        stream = await client.stream(breq.endpoint, breq.payload, model=model, headers=auth)
        clock.headers = time.perf_counter_ns()
        if stream.response.content_type == "application/json":  # the backend ignored stream: true
            body = whole_answer_line(stream, kind, model, clock, ctx)
        else:
            body = ndjson_lines(stream, StreamTranslator(kind, model, clock), ctx)
        return StreamingResponse(body, media_type=NDJSON_TYPE, headers=headers)

    return await with_fallback(ctx, route, call)


async def whole_answer(
    info: ModelInfo,
    breq: BackendRequest,
    kind: Kind,
    model: str,
    clock: Clock,
    ctx: RequestContext,
    auth: dict[str, str] | None,
) -> dict[str, Any]:
    """One backend call answered as the single final Ollama object (``stream: false``)."""
    client = info.backend.client
    if breq.payload.get("stream"):  # the profile streams for cancellability
        stream = await client.stream(breq.endpoint, breq.payload, model=model, headers=auth)
        clock.headers = time.perf_counter_ns()
        out = await collect(stream, StreamTranslator(kind, model, clock))
    else:
        data = await client.request_json("POST", breq.endpoint, breq.payload, model=model, headers=auth)
        if not isinstance(data, dict):
            raise ProxyError(502, "backend returned an unexpected response")
        out = completion_to_ollama(kind, model, data, clock, time.perf_counter_ns())
    ctx.prompt_tokens = out.get("prompt_eval_count", 0)
    ctx.completion_tokens = out.get("eval_count", 0)
    return out


async def collect(stream: BackendStream, translator: StreamTranslator) -> dict[str, Any]:
    """Read a whole backend stream into the one object a ``stream: false`` client gets. Nothing has
    been sent yet, so a failure is still a proper HTTP error status."""
    decoder = SSEDecoder()
    clock = time.perf_counter_ns
    try:
        if stream.response.content_type == "application/json":  # the backend ignored stream: true
            data = orjson.loads(b"".join([chunk async for chunk in stream.chunks()]))
            if not isinstance(data, dict):
                raise ProxyError(502, "backend returned an unexpected response")
            return completion_to_ollama(translator.kind, translator.model, data, translator.clock, clock())
        async for chunk in stream.chunks():
            for data in decoder.feed(chunk):
                translator.collect(data, clock())
            if translator.finished:
                break
        else:
            for data in decoder.close():
                translator.collect(data, clock())
        if not translator.complete:
            raise ProxyError(502, "backend closed the stream before it finished")
        return translator.result(clock())
    except orjson.JSONDecodeError:
        raise ProxyError(502, "backend returned invalid JSON") from None
    finally:
        stream.close()


async def whole_answer_line(
    stream: BackendStream, kind: Kind, model: str, clock: Clock, ctx: RequestContext
) -> AsyncIterator[bytes]:
    """A backend that answers a streamed request with one JSON object: relay it as a one-line stream."""
    try:
        data = orjson.loads(b"".join([chunk async for chunk in stream.chunks()]))
        if not isinstance(data, dict):
            raise ProxyError(502, "backend returned an unexpected response")
        out = completion_to_ollama(kind, model, data, clock, time.perf_counter_ns())
        ctx.prompt_tokens = out.get("prompt_eval_count", 0)
        ctx.completion_tokens = out.get("eval_count", 0)
        yield line(out)
    except orjson.JSONDecodeError:
        yield error_line("backend returned invalid JSON")
    except ProxyError as exc:
        ctx.error = exc.message
        yield error_line(exc.message)
    finally:
        stream.close()


async def ndjson_lines(
    stream: BackendStream, translator: StreamTranslator, ctx: RequestContext
) -> AsyncIterator[bytes]:
    """Relay one backend SSE stream as Ollama NDJSON; any failure ends it with an ``error`` line."""
    decoder = SSEDecoder()
    clock = time.perf_counter_ns
    pending: list[bytes] = []  # translated, not yet written: kept when a later event in the chunk fails
    try:
        async for chunk in stream.chunks():
            for data in decoder.feed(chunk):
                pending += translator.feed(data, clock())
            if pending:
                yield b"".join(pending)
                pending = []
            if translator.finished:
                break
        else:
            for data in decoder.close():
                pending += translator.feed(data, clock())
            if pending:
                yield b"".join(pending)
                pending = []
        if not translator.complete:
            yield error_line("backend closed the stream before it finished")
            return
        yield b"".join(translator.finish(clock()))
    except ProxyError as exc:
        log.warning("stream ended with an error: %s", exc.message)
        ctx.error = exc.message
        yield b"".join(pending) + error_line(exc.message)
    except Exception as exc:  # never end a stream silently, whatever went wrong
        log.exception("stream failed")
        ctx.error = f"internal proxy error ({type(exc).__name__})"
        yield b"".join(pending) + error_line(ctx.error)
    finally:
        stream.close()
        record_stream(translator, ctx)


def record_stream(translator: StreamTranslator, ctx: RequestContext) -> None:
    """A finished stream's time to first token and token counts, for the access log and metrics."""
    first = translator.clock.first_token
    ctx.ttft_ns = first - translator.clock.start if first else 0
    ctx.prompt_tokens = translator.final_metrics.get("prompt_eval_count", 0)
    ctx.completion_tokens = translator.final_metrics.get("eval_count", 0)
