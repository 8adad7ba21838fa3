"""The OpenAI-compatible API (/v1/*): requests relayed to the backend that serves the model, as Ollama
would answer them: a virtual model's SYSTEM, MESSAGEs and PARAMETERs applied, the requested model
name echoed; byte for byte where nothing needs rewriting."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import aiohttp
import orjson
from starlette.datastructures import FormData

from ollama_openai_proxy.backends.client import BackendStream, encode_payload
from ollama_openai_proxy.observability import RequestContext
from ollama_openai_proxy.protocol.openai import Model, ModelList, SamplingParams
from ollama_openai_proxy.redaction import redact
from ollama_openai_proxy.serving.chat import check_capabilities
from ollama_openai_proxy.serving.dispatch import backend_headers, resolve
from ollama_openai_proxy.state import ProxyState
from ollama_openai_proxy.translate.errors import ProxyError, openai_error_body
from ollama_openai_proxy.translate.openai_compat import StreamRenamer, renamed
from ollama_openai_proxy.translate.options import map_options
from ollama_openai_proxy.translate.profiles import Profile
from ollama_openai_proxy.translate.sse import SSEDecoder
from ollama_openai_proxy.virtual.apply import flatten
from ollama_openai_proxy.virtual.spec import VirtualModel

_RELAYED_HEADERS = ("content-type", "x-request-id", "openai-processing-ms", "retry-after")


@dataclass(frozen=True, slots=True)
class Relayed:
    """The backend's answer as relayed: whole (``body``) or an SSE stream (``chunks``)."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    chunks: AsyncIterator[bytes] | None = None
    ignored: list[str] = field(default_factory=list)  # what of the request had no backend counterpart


def model_object(name: str, created: int, owner: str) -> Model:
    return {"id": name, "object": "model", "created": created, "owned_by": owner or "library"}


async def list_models(state: ProxyState, ctx: RequestContext) -> ModelList:
    models = [m for m in await state.catalog.models() if ctx.allows(m.name)]
    return {"object": "list", "data": [model_object(m.name, m.created, m.owned_by) for m in models]}


async def get_model(state: ProxyState, ctx: RequestContext, name: str) -> Model:
    info = (await resolve(state, ctx, name)).primary
    return model_object(name, info.created, info.owned_by)


async def relay(state: ProxyState, ctx: RequestContext, path: str, payload: dict[str, object]) -> Relayed:
    """Send ``payload`` to the backend's ``path`` with the backend's model id, a virtual model applied;
    answer as it answers, naming the model as it was requested."""
    name = payload.get("model")
    if not isinstance(name, str) or not name:
        raise ProxyError(400, "you must provide a model parameter")
    resolved = await resolve(state, ctx, name)
    info = resolved.primary
    if path in _GENERATING:
        tools, images, think = _asks_for(payload)
        check_capabilities(name, info, _GENERATING[path], tools, think, images)
    ignored = apply_virtual(payload, resolved.chain, info.profile, path) if resolved.chain else []
    payload["model"] = info.backend_id
    ctx.backend = info.backend.client.name
    stream = await info.backend.client.request_raw(
        "POST", path, encode_payload(payload), headers=backend_headers(ctx)
    )
    response = stream.response
    headers = {k: v for k, v in response.headers.items() if k.lower() in _RELAYED_HEADERS}
    if response.content_type == "text/event-stream":
        return Relayed(response.status, headers, chunks=_renamed_stream(stream, name), ignored=ignored)
    try:
        body = await stream.read_all()
    finally:
        stream.close()
    # A backend may echo the proxy's key in its error: never relay it.
    error = response.status >= 400
    body = redact(body.decode("utf-8", "replace")).encode() if error else renamed(body, name)
    return Relayed(response.status, headers, body=body, ignored=ignored)


# What Ollama names each generating route when the model cannot complete text at all.
_GENERATING = {"chat/completions": "chat", "completions": "generate"}


def _asks_for(payload: dict[str, object]) -> tuple[bool, bool, bool | None]:
    """Whether a relayed body declares tools, whether any message carries an image part, and
    whether it asks for thinking (``reasoning_effort`` or ``reasoning.effort`` other than ``none``,
    as Ollama reads them)."""
    messages = payload.get("messages")
    images = isinstance(messages, list) and any(
        isinstance(part, dict) and part.get("type") == "image_url"
        for message in messages
        if isinstance(message, dict) and isinstance(message.get("content"), list)
        for part in message["content"]
    )
    reasoning = payload.get("reasoning")
    effort = payload.get("reasoning_effort")
    if effort is None and isinstance(reasoning, dict):
        effort = reasoning.get("effort")
    think = True if isinstance(effort, str) and effort != "none" else None
    return bool(payload.get("tools")), images, think


def apply_virtual(
    payload: dict[str, object], chain: Sequence[VirtualModel], profile: Profile, endpoint: str
) -> list[str]:
    """Apply the chain to an OpenAI request body in place; what had no backend counterpart is returned.

    PARAMETERs become the backend's fields where the request set none (the request wins, as in
    Ollama). For chat: the model SYSTEM goes first unless the request starts with its own system or
    developer message, then the model's MESSAGEs, then the request's messages. Completions and
    embeddings take the parameters only (a raw prompt has no place for a system prompt).
    """
    flat = flatten(chain)
    ignored: list[str] = []
    if flat is None or endpoint == "embeddings":
        return ignored
    defaults: SamplingParams = {}
    map_options(flat.parameters, profile, defaults, ignored)
    for key, value in defaults.items():
        payload.setdefault(key, value)
    messages = payload.get("messages")
    if endpoint == "chat/completions" and isinstance(messages, list):
        own = list(messages)
        first = own[0] if own and isinstance(own[0], dict) else {}
        lead = [own.pop(0)] if first.get("role") in ("system", "developer") else []
        if not lead and flat.system is not None:
            lead = [{"role": "system", "content": flat.system}]
        payload["messages"] = lead + [{"role": m.role, "content": m.content} for m in flat.messages] + own
    return ignored


async def _renamed_stream(stream: BackendStream, name: str) -> AsyncIterator[bytes]:
    """The backend's SSE stream with the requested model name; relayed byte for byte from the first
    event on when the backend already echoes that name."""
    renamer = StreamRenamer(name)
    decoder = SSEDecoder()
    held: list[bytes] = []  # raw chunks read before the first event decided the mode
    try:
        async for chunk in stream.chunks():
            if renamer.same:
                yield chunk
                continue
            events = decoder.feed(chunk)
            if renamer.same is None:
                held.append(chunk)
                if not events:
                    continue
                first = renamer.event(events[0])
                if renamer.same:
                    yield b"".join(held)
                    continue
                yield first + b"".join([renamer.event(e) for e in events[1:]])
                continue
            yield b"".join([renamer.event(e) for e in events])
        for data in decoder.close() if not renamer.same else ():
            yield renamer.event(data)
    except ProxyError as exc:  # the stream broke: say so in SSE, then stop
        yield b"data: " + orjson.dumps(openai_error_body(exc.status, redact(exc.message))) + b"\n\n"
    finally:
        stream.close()


async def transcribe(state: ProxyState, ctx: RequestContext, form: FormData) -> Relayed:
    """Multipart audio relayed to the model's backend (OpenAI, vLLM and whisper servers serve it),
    with the model named as the backend knows it; a backend without the route is a clear 501."""
    name = form.get("model")
    upload = form.get("file")
    if not isinstance(name, str) or not name:
        raise ProxyError(400, "you must provide a model parameter")
    if upload is None or isinstance(upload, str):
        raise ProxyError(400, "you must provide an audio file (the file field)")
    info = (await resolve(state, ctx, name)).primary
    ctx.backend = info.backend.client.name
    writer = aiohttp.MultipartWriter("form-data")
    for key, value in form.multi_items():
        if isinstance(value, str):
            part = writer.append(info.backend_id if key == "model" else value)
            part.set_content_disposition("form-data", name=key)
        else:
            data = await value.read()
            part = writer.append(data, {"Content-Type": value.content_type or "application/octet-stream"})
            part.set_content_disposition("form-data", name=key, filename=value.filename or "audio")
    body = await writer.as_bytes()
    headers = {
        "Content-Type": f"multipart/form-data; boundary={writer.boundary}",
        **(backend_headers(ctx) or {}),
    }
    stream = await info.backend.client.request_raw("POST", "audio/transcriptions", body, headers=headers)
    try:
        answer = await stream.read_all()
    finally:
        stream.close()
    status = stream.response.status
    if status in (404, 405):
        raise ProxyError(
            501, f"backend {info.backend.client.name} does not serve /v1/audio/transcriptions (HTTP {status})"
        )
    if status >= 400:
        answer = redact(answer.decode("utf-8", "replace")).encode()
    relayed = {k: v for k, v in stream.response.headers.items() if k.lower() in _RELAYED_HEADERS}
    return Relayed(status, relayed, body=answer)
