"""What the routes share: reading and validating bodies, writing JSON and NDJSON answers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any, TypeVar, cast

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ollama_openai_proxy.middleware.errors import JSON_TYPE
from ollama_openai_proxy.observability import RequestContext, context_of
from ollama_openai_proxy.protocol.ollama import ChatChunk, GenerateChunk
from ollama_openai_proxy.redaction import redact
from ollama_openai_proxy.serving.chat import OFFLOAD_BYTES, Reply
from ollama_openai_proxy.state import ProxyState, get_state
from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.translate.response import error_line

log = logging.getLogger("ollama_openai_proxy")

NDJSON_TYPE = "application/x-ndjson"
IGNORED_HEADER = "X-Ollama-Proxy-Ignored"
IGNORED_HEADER_LIMIT = 2048

M = TypeVar("M", bound=BaseModel)


def json_response(content: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type=JSON_TYPE, headers=headers)


def validation_message(exc: ValidationError) -> str:
    err = exc.errors()[0]
    msg = str(err["msg"]).removeprefix("Value error, ")
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] in ("value_error", "assertion_error") or not loc:
        return msg
    if err["type"] == "missing":
        return f"{loc} is required"
    return f"invalid value for {loc}: {msg}"


# Long lists are validated LIST_STEP items at a time: one long call would hold the interpreter
# lock, and so the event loop, however it was started.
LIST_STEP = 2000


def decode_json(body: bytes) -> dict[str, object]:
    if not body.strip():
        raise ProxyError(400, "missing request body")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProxyError(400, f"invalid JSON in request body: {exc}") from None
    if not isinstance(data, dict):
        raise ProxyError(400, "request body must be a JSON object")
    return data


async def read_json(request: Request) -> dict[str, object]:
    """The request body as a JSON object, whatever its Content-Type says (Ollama reads it anyway)."""
    body = await request.body()
    ctx = context_of(request.scope)
    ctx.body_size = len(body)
    if len(body) > OFFLOAD_BYTES:
        return await asyncio.to_thread(decode_json, body)
    return decode_json(body)


def validate(model: type[M], data: dict[str, object]) -> M:
    """``data`` as ``model``, long top-level lists validated a step at a time."""
    long_lists = {k: v for k, v in data.items() if isinstance(v, list) and len(v) > LIST_STEP}
    try:
        if not long_lists or any(k not in model.model_fields for k in long_lists):
            return model.model_validate(data)
        # The model's own checks see each list's first item; the lists are then checked in steps.
        head = model.model_validate({**data, **{k: v[:1] for k, v in long_lists.items()}})
    except ValidationError as exc:
        raise ProxyError(400, validation_message(exc)) from None
    for key, items in long_lists.items():
        adapter: TypeAdapter[Any] = TypeAdapter(cast(Any, model.model_fields[key].annotation))
        checked: list[Any] = []
        for start in range(0, len(items), LIST_STEP):
            try:
                checked += adapter.validate_python(items[start : start + LIST_STEP])
            except ValidationError as exc:
                err = exc.errors()[0]
                where = [key, *err["loc"]]
                if len(where) > 1 and isinstance(where[1], int):
                    where[1] += start
                loc = ".".join(str(p) for p in where if p not in ("list[str]", "str"))
                raise ProxyError(400, f"invalid value for {loc}: {err['msg']}") from None
        setattr(head, key, checked)
    return head


async def parse(request: Request, model: type[M]) -> M:
    return await checked(request, model, await read_json(request))


async def checked(request: Request, model: type[M], data: dict[str, object]) -> M:
    """``data`` validated as ``model`` (a large body in a worker thread)."""
    if context_of(request.scope).body_size > OFFLOAD_BYTES:
        return await asyncio.to_thread(validate, model, data)
    return validate(model, data)


def serving_args(request: Request) -> tuple[ProxyState, RequestContext]:
    """What the serving layer takes besides the request: the process's state and the request's context."""
    return get_state(request), context_of(request.scope)


def ignored_headers(ignored: list[str]) -> dict[str, str] | None:
    """Report what had no backend counterpart in a response header (and the debug log)."""
    if not ignored:
        return None
    text = "; ".join(ignored)
    log.debug("not forwarded: %s", text)
    # Field names come from the client: control characters escaped (a header cannot hold them),
    # and the header kept short (clients refuse long response heads).
    value = text.encode("unicode_escape").decode("ascii")
    if len(value) > IGNORED_HEADER_LIMIT:
        value = value[: IGNORED_HEADER_LIMIT - 3] + "..."
    return {IGNORED_HEADER: value}


def ollama_reply(reply: Reply[ChatChunk] | Reply[GenerateChunk]) -> Response:
    """A chat/generate Reply in Ollama's shape: one JSON object, or NDJSON flushed per backend read."""
    headers = ignored_headers(reply.ignored)
    if reply.chunks is None:
        return json_response(reply.whole, headers=headers)
    return StreamingResponse(ndjson(reply.chunks), media_type=NDJSON_TYPE, headers=headers)


async def ndjson(
    chunks: AsyncIterator[list[ChatChunk]] | AsyncIterator[list[GenerateChunk]],
) -> AsyncIterator[bytes]:
    """Chunk batches as NDJSON; an error in the stream becomes a final ``{"error": ...}`` line."""
    try:
        async for batch in chunks:
            yield b"".join([orjson.dumps(c, option=orjson.OPT_APPEND_NEWLINE) for c in batch])
    except ProxyError as exc:
        yield error_line(redact(exc.message))
